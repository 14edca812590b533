/**
 * MerPipeline on the time-skipping server with mocked activities: both datasets through all six
 * stages with a diverged training reported among completed ones; the progress query answered before
 * the children do anything, mid-stage, after completion and after a failure; and one dataset's stage
 * failing for good while the other dataset's stages go on to the end.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { pipelineWorkflowId } from '../../cli/run.ts';
import { renderStatus, runStatus } from '../../cli/status.ts';
import { STAGES, type PipelineInput } from '../../schemas/config.ts';
import { ErrorTypes } from '../../schemas/error-types.ts';
import type { MerPipeline } from '../../workflows/pipeline.ts';
import { progressQuery } from '../../workflows/progress.ts';
import { progressWhen, row, useTimeSkipping, withActivityWorkers, within } from './env.ts';
import { pipelineInput } from './inputs.ts';
import { gate, MockActivities, nonRetryable, retryable } from './mock-activities.ts';

const ts = useTimeSkipping('pipeline');

const start = async (input: PipelineInput) =>
  ts.track(
    await ts.env.client.workflow.start<typeof MerPipeline>('MerPipeline', {
      taskQueue: ts.queues.cpu,
      workflowId: pipelineWorkflowId(input.configHash),
      args: [input],
    }),
  );
const shardIndex = (input: unknown): number => (input as { shard: { index: number } }).shard.index;

describe('MerPipeline with mocked activities', () => {
  test('both datasets through all six stages, a diverged training reported, progress answered throughout', async () => {
    const { env } = ts;
    const storeRoot = await mkdtemp(join(tmpdir(), 'mer-timeskip-'));
    const mocks = new MockActivities({ iemocap: { utterances: 600 }, meld: { utterances: 300 } });
    const planned = gate();
    mocks.on('planAcquire', planned.wait);
    const cutting = gate();
    mocks.on('segmentShard', (c) =>
      c.dataset === 'iemocap' && shardIndex(c.input) === 1 ? cutting.wait(c) : undefined,
    );
    const divergence =
      'training T+A+V on fold loso-Session2 diverged: loss NaN at epoch 3, step 75; lower train.lr (now 5e-5) or set train.clipGradNorm (e.g. 1)';
    mocks.on('trainFold', (c) => {
      const i = c.input as { foldIndex: number };
      if (c.dataset === 'iemocap' && i.foldIndex === 1)
        nonRetryable(ErrorTypes.TrainingDiverged, divergence, {
          trainKey: 'k-diverged',
          variant: 'T+A+V',
          fold: 'loso-Session2',
          epoch: 3,
          step: 75,
          loss: 'NaN',
        });
    });
    const input = pipelineInput({ queues: ts.queues, segment: { shardSize: 256, parallelism: 2 }, storeRoot });
    try {
      await withActivityWorkers(ts, { activities: mocks.forWorker() }, async () => {
        const handle = await start(input);

        // Before any child has done anything: every row there, the acquire children started, nothing counted.
        await within(planned.entered, 'the acquire children to plan');
        const before = await handle.query(progressQuery);
        assert.equal(before.status, 'running');
        assert.equal(before.stages.length, 12);
        for (const r of before.stages) {
          assert.equal(r.status, r.stage === 'acquire' ? 'running' : 'pending', `${r.dataset}/${r.stage}`);
          assert.deepEqual([r.done, r.quarantined, r.error], [0, 0, undefined]);
          assert.equal(r.endedAt, undefined);
        }
        planned.open();

        // Mid-stage: IEMOCAP's shard 1 of 3 is held; its others are cut, two at a time, and MELD,
        // independent of it, goes through all its stages meanwhile.
        await within(cutting.entered, 'IEMOCAP shard 1 to be cut');
        const mid = await progressWhen(
          handle,
          'IEMOCAP segment at 2 of 3 shards, MELD evaluated',
          (p) => row(p, 'iemocap', 'segment').done === 2 && row(p, 'meld', 'evaluate').status === 'done',
        );
        const seg = row(mid, 'iemocap', 'segment');
        assert.deepEqual([seg.status, seg.step, seg.total], ['running', 'shards', 3]);
        assert.equal(seg.note, '344/600 utterances in 3 shards');
        assert.equal(row(mid, 'iemocap', 'acquire').status, 'done');
        assert.equal(row(mid, 'iemocap', 'extract').status, 'pending');
        assert.ok(STAGES.every((s) => row(mid, 'meld', s).status === 'done'));
        cutting.open();

        const result = await handle.result();
        assert.deepEqual(result.stages, [...STAGES]);
        for (const d of ['iemocap', 'meld'] as const) {
          assert.equal(result.datasets[d].rows, d === 'iemocap' ? 600 : 300);
          assert.equal(result.segments![d].shardKeys.length, d === 'iemocap' ? 3 : 2);
          assert.equal(result.features![d].modalities.visual.shardKeys.length, d === 'iemocap' ? 3 : 2);
          assert.equal(result.compressed![d].outputs.length, 1);
          assert.ok(result.reports![d].htmlKey.endsWith('/report.html'));
        }
        // The diverged fold is reported, not scored; the other four IEMOCAP folds and MELD's one completed.
        const trained = result.trained!;
        assert.equal(trained.iemocap.runs.length, 4);
        assert.deepEqual(
          trained.iemocap.diverged?.map((d) => [d.variant, d.fold, d.loss, d.message]),
          [['T+A+V', 'loso-Session2', 'NaN', divergence]],
        );
        assert.equal(trained.meld.runs.length, 1);
        assert.equal(trained.meld.diverged, undefined);
        assert.equal(result.reports!.iemocap.headline.folds, 4);

        // After completion: every row done, the diverged training named in the train row.
        const after = await handle.query(progressQuery);
        assert.equal(after.status, 'completed');
        assert.ok(after.stages.every((r) => r.status === 'done' && r.endedAt));
        assert.match(row(after, 'iemocap', 'train').note ?? '', /1 training\(s\) diverged: T\+A\+V/);
        assert.deepEqual([row(after, 'meld', 'train').done, row(after, 'meld', 'train').total], [1, 1]);

        // mer status, from the history, names the diverged training.
        const text = renderStatus(await runStatus(env.client, input.configHash)).join('\n');
        assert.match(text, /train\s+iemocap\s+done\s+trainings 4, folds 5,.*diverged 1/);
        assert.ok(text.includes(`diverged: ${divergence}`), text);
      });
    } finally {
      await rm(storeRoot, { recursive: true, force: true });
    }
  });

  test("a stage that keeps failing on one dataset while the other dataset's stages go on to the end", async () => {
    const { env } = ts;
    const mocks = new MockActivities(
      { iemocap: { utterances: 400 }, meld: { utterances: 400 } },
      { clock: () => env.currentTimeMs() },
    );
    const message = 'CUDA error: out of memory encoding MELD audio shard 00001';
    mocks.on('extractShard', (c) => {
      if (c.dataset === 'meld' && (c.input as { shardKey: string }).shardKey.endsWith('00001.parquet'))
        retryable(message);
    });
    const input = pipelineInput({ queues: ts.queues, segment: { shardSize: 256 } });
    await withActivityWorkers(ts, { activities: mocks.forWorker() }, async () => {
      const handle = await start(input);
      const err = await handle.result().then(
        () => assert.fail('the run must fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'MerStageFailed');
      assert.match(err.cause.message, new RegExp(`failed: ${message}`));

      // IEMOCAP went through evaluate while MELD's shard was retried, 10 attempts over 8 minutes.
      const failures = mocks.calls('extractShard', 'meld').filter((c) => c.outcome === 'failed');
      assert.equal(failures.length, 10);
      const evaluated = mocks.calls('evaluateDataset', 'iemocap');
      assert.equal(evaluated.length, 1);
      assert.ok(evaluated[0].startedMs! < failures.at(-1)!.startedMs!, 'IEMOCAP finished before MELD gave up');
      assert.equal(mocks.stats('planCompress', 'meld').calls, 0, 'MELD stopped at extract');

      // After the failure: the progress query answers from the closed run.
      const p = await handle.query(progressQuery);
      assert.equal(p.status, 'failed');
      for (const stage of STAGES) assert.equal(row(p, 'iemocap', stage).status, 'done', `iemocap ${stage}`);
      assert.deepEqual(
        STAGES.map((s) => row(p, 'meld', s).status),
        ['done', 'done', 'failed', 'pending', 'pending', 'pending'],
      );
      assert.equal(row(p, 'meld', 'extract').error, message);
      const meldFailed = Date.parse(row(p, 'meld', 'extract').endedAt!);
      assert.ok(Date.parse(row(p, 'iemocap', 'evaluate').endedAt!) < meldFailed);
      assert.ok(meldFailed - Date.parse(row(p, 'meld', 'extract').startedAt!) >= 486_000, '8 minutes of backoff');
    });
  });
});
