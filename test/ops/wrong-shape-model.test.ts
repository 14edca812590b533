/**
 * Fault suite (extract): an encoder folder whose ONNX graph loads but returns the wrong width. The run
 * stops at once with a non-retryable MerModelMismatch naming the model file and both shapes, keeps
 * every output committed before it, and once the folder is fixed a rerun of the same config reuses
 * them and encodes only what is missing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, cp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, decodeRetryState } from '@temporalio/common';
import onnxProto from 'onnx-proto';
import type { ExtractShardInput } from '../../activities/extract/activities.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { decodePayload, fetchEvents } from '../../cli/run-history.ts';
import type { DatasetAcquireResult, DatasetSegmentResult, PipelineInput } from '../../schemas/config.ts';
import type { Modality } from '../../schemas/extract.ts';
import { failureMessage } from '../../workflows/pipeline.ts';
import { TINY } from '../extract/inputs.ts';
import { attemptInProcess, pipelineInput as buildInput, TINY_ENCODERS } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const { onnx } = onnxProto;
/** The tiny Swin's hidden size (its config.json) and the width the broken graph returns instead. */
const WIDTH = 64;
const WRONG_WIDTH = 48;

const fx = pipelineTest({ name: 'wrong-shape', seed: 17, iemocap: 'archive' });

/**
 * The tiny Swin graph with a Slice after its last node: it loads and runs, its declared output stays
 * symbolic (as a real export's is), but last_hidden_state is [frames, 49, 48] instead of
 * [frames, 49, 64]. Deterministic bytes: the same edit of the same fixture.
 */
function narrowedSwin(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const last = graph.node!.find((n) => n.output!.includes('last_hidden_state'))!;
  last.output = last.output!.map((o) => (o === 'last_hidden_state' ? 'last_hidden_state_full' : o));
  const int64 = (name: string, v: number) => ({
    name,
    dims: [1],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(BigInt64Array.of(BigInt(v)).buffer),
  });
  graph.initializer!.push(int64('narrow_starts', 0), int64('narrow_ends', WRONG_WIDTH), int64('narrow_axes', 2));
  graph.node!.push(
    onnx.NodeProto.create({
      name: 'narrow_output',
      opType: 'Slice',
      input: ['last_hidden_state_full', 'narrow_starts', 'narrow_ends', 'narrow_axes'],
      output: ['last_hidden_state'],
    }),
  );
  return onnx.ModelProto.encode(model).finish();
}

function pipelineInput(visualModel: string): Promise<PipelineInput> {
  return buildInput(
    { iemocap: fx.archive('iemocap'), store: join(fx.dir, 'store'), until: 'extract', taskQueuePrefix: 'wrong-shape' },
    {
      file: join(fx.dir, 'mer.json'),
      config: {
        segment: { frames: 4 },
        extract: { ...TINY_ENCODERS, visual: { model: visualModel, batchFrames: 8 } },
      },
      segment: { shardSize: 16, parallelism: 2 },
    },
  );
}

const run = (input: PipelineInput) => attemptInProcess(fx.env, input, { intervalMs: 200 });

interface Failure {
  type?: string;
  nonRetryable?: boolean;
  message: string;
  cause?: Failure;
}

/** Content hash, inode and mtime of every object outside the given prefix: what must stay untouched. */
async function objectsOutside(store: LocalStore, skip: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const o of await store.list('')) {
    if (o.key.startsWith(skip)) continue;
    const s = await stat(join(store.root, o.key));
    out.set(
      o.key,
      `${createHash('sha256')
        .update(await store.get(o.key))
        .digest('hex')} ino ${s.ino} mtime ${s.mtimeMs}`,
    );
  }
  return out;
}

describe('fault suite (extract): a model of the wrong shape', () => {
  test(
    'fails fast with a non-retryable MerModelMismatch, keeps earlier outputs, and a rerun after the fix reuses them',
    { timeout: 240_000 },
    async () => {
      const visual = join(fx.dir, 'models', 'swin');
      await cp(TINY.visual, visual, { recursive: true });
      const onnxPath = join(visual, 'onnx', 'model.onnx');
      const original = await readFile(onnxPath);
      await writeFile(onnxPath, narrowedSwin(original));
      assert.equal(
        createHash('sha256').update(narrowedSwin(original)).digest('hex'),
        createHash('sha256')
          .update(await readFile(onnxPath))
          .digest('hex'),
        'the broken model is reproducible',
      );
      const input = await pipelineInput(visual);
      const store = new LocalStore(join(fx.dir, 'store'));

      const bad = await run(input);
      assert.equal(bad.outcome.ok, false, 'the run fails');
      const error = !bad.outcome.ok ? bad.outcome.error : null;
      assert.ok(error instanceof WorkflowFailedError, String(error));
      // The cause chain ends in the activity's failure: typed, non-retryable, naming the file and both shapes.
      const chain: Failure[] = [];
      for (let f = error.cause as Failure | undefined; f && chain.length < 10; f = f.cause) chain.push(f);
      const mismatch = chain.find((f) => f.type === 'MerModelMismatch');
      assert.ok(
        mismatch,
        `MerModelMismatch in the cause chain: ${JSON.stringify(chain.map((f) => [f.type, f.message]))}`,
      );
      assert.equal(mismatch.nonRetryable, true);
      const activity = chain.find((f): f is Failure & ActivityFailure => f instanceof ActivityFailure);
      assert.equal(activity?.activityType, 'extractShard');
      assert.equal(activity?.retryState, 'NON_RETRYABLE_FAILURE');
      assert.ok(mismatch.message.includes(onnxPath), `names the model file: ${mismatch.message}`);
      // onnxruntime infers the sliced width when it loads the graph, so the load-time check (validateIo)
      // reports it; were it only known at run time, the output check (outputData) names both shapes.
      assert.match(
        mismatch.message,
        new RegExp(
          `output last_hidden_state (has dimension 2 = ${WRONG_WIDTH}, expected ${WIDTH}|came back as float32\\[\\d+, 49, ${WRONG_WIDTH}\\], expected float32\\[\\d+, 49, ${WIDTH}\\])`,
        ),
        'actual and expected shape',
      );
      assert.ok(
        failureMessage(error).includes(onnxPath),
        `the message users see names the file: ${failureMessage(error)}`,
      );
      assert.equal(bad.progress?.status, 'failed');
      const row = bad.progress?.stages.find((s) => s.dataset === 'iemocap' && s.stage === 'extract');
      assert.equal(row?.status, 'failed');
      assert.ok(row?.error?.includes(onnxPath), `mer status names the file: ${row?.error}`);

      // Fail fast: every shard activity that failed did so on its first attempt, as non-retryable.
      const extractId = `${bad.handle.workflowId}/extract/iemocap`;
      const runId = (await fx.env.client.workflow.getHandle(extractId).describe()).runId;
      const scheduled = new Map<string, { modality: Modality; name: string }>();
      const failed: Array<{
        modality: Modality;
        attempt: number;
        type: string;
        nonRetryable: boolean;
        retryState?: string;
      }> = [];
      const attempts = new Map<string, number>();
      const completed: Modality[] = [];
      for (const e of await fetchEvents(fx.env.client, extractId, runId)) {
        const s = e.activityTaskScheduledEventAttributes;
        if (s) {
          const name = s.activityType?.name ?? '?';
          scheduled.set(String(e.eventId), {
            name,
            modality: decodePayload<ExtractShardInput>(s.input?.payloads?.[0])!.modality,
          });
        }
        const st = e.activityTaskStartedEventAttributes;
        if (st) attempts.set(String(st.scheduledEventId), Number(st.attempt ?? 1));
        const c = e.activityTaskCompletedEventAttributes;
        if (c && scheduled.get(String(c.scheduledEventId))?.name === 'extractShard')
          completed.push(scheduled.get(String(c.scheduledEventId))!.modality);
        const fl = e.activityTaskFailedEventAttributes;
        if (fl) {
          const a = scheduled.get(String(fl.scheduledEventId))!;
          failed.push({
            modality: a.modality,
            attempt: attempts.get(String(fl.scheduledEventId)) ?? 0,
            type: fl.failure?.applicationFailureInfo?.type ?? '?',
            nonRetryable: fl.failure?.applicationFailureInfo?.nonRetryable ?? false,
            retryState: decodeRetryState(fl.retryState),
          });
        }
      }
      const shards = (
        await fx.env.client.workflow
          .getHandle<() => Promise<DatasetSegmentResult>>(`${bad.handle.workflowId}/segment/iemocap`)
          .result()
      ).shardKeys.length;
      console.log(
        `wrong-shape model: failed after ${bad.ms} ms; failed activities ${JSON.stringify(failed)}; ${completed.length} shard activities completed first`,
      );
      assert.ok(
        failed.length >= 1 && failed.length <= 2,
        `one visual shard failed (two at most with two in flight): ${JSON.stringify(failed)}`,
      );
      for (const f of failed) {
        assert.deepEqual(
          { modality: f.modality, attempt: f.attempt, type: f.type, nonRetryable: f.nonRetryable },
          { modality: 'visual', attempt: 1, type: 'MerModelMismatch', nonRetryable: true },
        );
        assert.equal(f.retryState, 'NON_RETRYABLE_FAILURE', 'not retried: a non-retryable failure');
      }
      assert.deepEqual(
        completed.filter((m) => m === 'visual'),
        [],
        'no visual shard was encoded with the broken model',
      );
      assert.equal(completed.length, 2 * shards, 'text and audio shards completed before visual');

      // What was committed before the failure is still committed and intact.
      const acquired = await fx.env.client.workflow
        .getHandle<() => Promise<DatasetAcquireResult>>(`${bad.handle.workflowId}/acquire/iemocap`)
        .result();
      const segmented = await fx.env.client.workflow
        .getHandle<() => Promise<DatasetSegmentResult>>(`${bad.handle.workflowId}/segment/iemocap`)
        .result();
      assert.ok(await store.exists(acquired.manifestKey), 'the acquire manifest is stored');
      assert.ok(await store.committed(acquired.rawPrefix), 'the acquire output is committed');
      assert.ok(await store.committed(segmented.prefix), 'the segment output is committed');
      const featureCommits = (await store.list('features/'))
        .filter((o) => /^features\/[^/]+\/[^/]+\/_COMMIT$/.test(o.key))
        .map((o) => o.key.split('/')[1]);
      assert.deepEqual(featureCommits.sort(), ['audio', 'text'], 'text and audio features committed; visual not');
      assert.deepEqual(
        (await store.list('features/visual/')).map((o) => o.key),
        [],
        'nothing stored for the broken model',
      );
      const kept = await objectsOutside(store, 'features/visual/');
      assert.ok(
        [...kept.keys()].some((k) => k.startsWith('segments/')) &&
          [...kept.keys()].some((k) => k.startsWith('features/text/')),
      );

      // Fix the folder (the original graph back) and run the same config again.
      await copyFile(join(TINY.visual, 'onnx', 'model.onnx'), onnxPath);
      const fixed = await run(input);
      assert.ok(fixed.outcome.ok, fixed.outcome.ok ? '' : failureMessage(fixed.outcome.error));
      const result = fixed.outcome.result;
      assert.equal(fixed.handle.workflowId, bad.handle.workflowId, 'the same run id: a new run of the same config');
      assert.deepEqual(
        result.datasets.iemocap.ran,
        { download: false, extract: false, manifest: false },
        'acquire reused',
      );
      assert.equal(result.segments!.iemocap.ran, false, 'no re-segmentation');
      assert.equal(result.segments!.iemocap.prefix, segmented.prefix);
      const f = result.features!.iemocap.modalities;
      assert.deepEqual([f.text.ran, f.audio.ran, f.visual.ran], [false, false, true], 'only visual is encoded');
      assert.equal(f.visual.rows, segmented.utterances);
      assert.equal(f.visual.dim, WIDTH);
      const fixedSegments = await fx.env.client.workflow
        .getHandle(`${fixed.handle.workflowId}/segment/iemocap`)
        .fetchHistory();
      assert.ok(
        !(fixedSegments.events ?? []).some(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'segmentShard',
        ),
        'no segment shard activity ran',
      );
      const after = await objectsOutside(store, 'features/visual/');
      for (const [key, before] of kept) assert.equal(after.get(key), before, `${key}: untouched by the rerun`);
      assert.ok(
        fixed.progress?.stages.filter((s) => s.stage !== 'extract').every((s) => s.status === 'skipped'),
        JSON.stringify(fixed.progress?.stages),
      );
      console.log(
        `wrong-shape model: rerun after the fix ${fixed.ms} ms, ${kept.size} earlier objects reused untouched`,
      );
    },
  );
});
