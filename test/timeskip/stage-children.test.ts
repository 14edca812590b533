/**
 * Every stage child workflow on its own, on the time-skipping server with mocked activities: each
 * completes and its result feeds the next; parallelism bounds the shard and fold activities in
 * flight; a non-retryable error stops a stage after one attempt; a diverged training is a result.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { failureMessage } from '../../workflows/pipeline.ts';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type {
  DatasetAcquireResult,
  DatasetCompressResult,
  DatasetExtractResult,
  DatasetName,
  DatasetSegmentResult,
  DatasetTrainResult,
  PipelineInput,
} from '../../schemas/config.ts';
import { ErrorTypes } from '../../schemas/error-types.ts';
import type { AcquireDataset } from '../../workflows/acquire.ts';
import type { CompressDataset } from '../../workflows/compress.ts';
import type { EvaluateDataset } from '../../workflows/evaluate.ts';
import type { ExtractDataset } from '../../workflows/extract.ts';
import type { SegmentDataset } from '../../workflows/segment.ts';
import type { TrainDataset } from '../../workflows/train.ts';
import { useTimeSkipping, withActivityWorkers } from './env.ts';
import { childBase, pipelineInput } from './inputs.ts';
import { MockActivities, nonRetryable } from './mock-activities.ts';

const ts = useTimeSkipping('children');
let ids = 0;

interface Chain {
  acquired: DatasetAcquireResult;
  segmented: DatasetSegmentResult;
  features: DatasetExtractResult;
  compressed: DatasetCompressResult;
  trained: DatasetTrainResult;
}

/** Runs the stage children of one dataset in order, each on its own (no parent), as MerPipeline chains them. */
async function runChildren(env: TestWorkflowEnvironment, input: PipelineInput, dataset: DatasetName, last = 6) {
  const wf = env.client.workflow;
  const base = childBase(input);
  const plan = input.datasets.find((d) => d.dataset === dataset)!;
  const opts = (stage: string) => ({
    taskQueue: input.temporal.taskQueues.cpu,
    workflowId: `child-${++ids}/${stage}/${dataset}`,
  });
  const { store } = input;
  const parallelism = input.segment!.parallelism;
  const out: Partial<Chain> & { report?: Awaited<ReturnType<typeof EvaluateDataset>> } = {};
  out.acquired = await wf.execute<typeof AcquireDataset>('AcquireDataset', {
    ...opts('acquire'),
    args: [{ ...base, plan, store, acquire: input.acquire }],
  });
  if (last < 2) return out;
  out.segmented = await wf.execute<typeof SegmentDataset>('SegmentDataset', {
    ...opts('segment'),
    args: [{ ...base, dataset, acquired: out.acquired, store, segment: input.segment! }],
  });
  if (last < 3) return out;
  out.features = await wf.execute<typeof ExtractDataset>('ExtractDataset', {
    ...opts('extract'),
    args: [
      {
        ...base,
        dataset,
        acquired: out.acquired,
        segmented: out.segmented,
        store,
        extract: input.extract!,
        parallelism,
      },
    ],
  });
  if (last < 4) return out;
  const settings = input.compress!.settings;
  out.compressed = await wf.execute<typeof CompressDataset>('CompressDataset', {
    ...opts('compress'),
    args: [{ ...base, dataset, features: out.features, store, settings, parallelism }],
  });
  if (last < 5) return out;
  const train = input.train!;
  out.trained = await wf.execute<typeof TrainDataset>('TrainDataset', {
    ...opts('train'),
    args: [
      { ...base, dataset, acquired: out.acquired, features: out.features, compressed: out.compressed, store, train },
    ],
  });
  if (last < 6) return out;
  out.report = await wf.execute<typeof EvaluateDataset>('EvaluateDataset', {
    ...opts('evaluate'),
    args: [
      {
        ...base,
        dataset,
        configHash: input.configHash,
        labels: plan.labels,
        acquired: out.acquired,
        segmented: out.segmented,
        features: out.features,
        compressed: out.compressed,
        trained: out.trained,
        variants: train.variants,
        settings: { train: train.params, vsc: settings[0] },
        store,
        timings: [],
      },
    ],
  });
  return out;
}

/** The failure types in a workflow failure's cause chain, outermost first. */
function causeTypes(err: unknown): string[] {
  const types: string[] = [];
  let e: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (e instanceof Error) {
    types.push(e instanceof ApplicationFailure ? (e.type ?? 'ApplicationFailure') : e.constructor.name);
    e = e.cause;
  }
  return types;
}

describe('stage children on their own, mocked activities', () => {
  test('AcquireDataset, SegmentDataset, ExtractDataset, CompressDataset, TrainDataset and EvaluateDataset complete in order', async () => {
    const mocks = new MockActivities({ meld: { utterances: 1000 } });
    const input = pipelineInput({
      queues: ts.queues,
      datasets: ['meld'],
      segment: { shardSize: 64 },
      train: { ablations: 'paper' },
    });
    const out = await withActivityWorkers(ts, { activities: mocks.forWorker() }, () =>
      runChildren(ts.env, input, 'meld'),
    );
    assert.deepEqual(
      out.acquired!.ran,
      { download: true, extract: true, manifest: true },
      'MELD is a URL source: downloaded',
    );
    assert.equal(out.acquired!.rows, 1000);
    assert.equal(out.segmented!.shardKeys.length, 16, '1000 utterances in shards of 64');
    assert.equal(out.segmented!.ok + out.segmented!.quarantined, 1000);
    for (const m of ['text', 'audio', 'visual'] as const) {
      assert.equal(out.features!.modalities[m].shardKeys.length, 16);
      assert.equal(out.features!.modalities[m].ok, out.segmented!.ok);
    }
    assert.deepEqual(
      out.compressed!.outputs.map((o) => [o.enabled, o.shardKeys.length]),
      [
        [true, 16],
        [false, 16],
      ],
      'the paper ablations train without VSC too: both outputs',
    );
    assert.equal(input.train!.variants.length, 10);
    assert.equal(out.trained!.runs.length, 10, 'MELD official: one fold per variant');
    assert.equal(out.trained!.diverged, undefined);
    assert.equal(out.report!.headline.folds, 1);
    assert.equal(mocks.stats('segmentShard').calls, 16);
    assert.equal(mocks.stats('extractShard').calls, 48);
    assert.equal(mocks.stats('compressVisualShard').calls, 32);
    assert.equal(mocks.stats('trainFold').calls, 10);
    assert.equal(mocks.stats('downloadSource').calls, 1);
    assert.equal(mocks.log.filter((c) => c.outcome !== 'completed').length, 0);
  });

  test('parallelism: never more segment, extract and compress shards than segment.parallelism in flight, nor folds than train.parallelism', async () => {
    const mocks = new MockActivities({ iemocap: { utterances: 640 } });
    // Each shard and fold takes 10 ms of real time, so that everything the workflow lets start overlaps.
    const slow = () => new Promise<void>((r) => setTimeout(r, 10));
    for (const a of ['segmentShard', 'extractShard', 'compressVisualShard', 'trainFold'] as const) mocks.on(a, slow);
    const input = pipelineInput({
      queues: ts.queues,
      datasets: ['iemocap'],
      segment: { shardSize: 64, parallelism: 3 },
      train: { variants: [{ modalities: ['t', 'a', 'v'] }, { modalities: ['a', 'v'] }], parallelism: 4 },
    });
    await withActivityWorkers(ts, { activities: mocks.forWorker() }, () => runChildren(ts.env, input, 'iemocap', 5));
    assert.equal(mocks.stats('segmentShard').calls, 10);
    assert.equal(
      mocks.stats('segmentShard').maxInFlight,
      3,
      'segment: 3 at a time, and the 64 worker slots were not the limit',
    );
    assert.equal(mocks.stats('extractShard').calls, 30);
    assert.equal(mocks.stats('extractShard').maxInFlight, 3);
    assert.equal(mocks.stats('compressVisualShard').calls, 10);
    assert.equal(mocks.stats('compressVisualShard').maxInFlight, 3);
    assert.equal(mocks.stats('trainFold').calls, 10, '2 variants x 5 LOSO folds');
    assert.equal(mocks.stats('trainFold').maxInFlight, 4);
  });

  test('a non-retryable error stops the stage at once: MerArchiveCorrupt in acquire, MerFeatureShardCorrupt in train', async () => {
    const mocks = new MockActivities({ iemocap: { utterances: 600 } });
    const input = pipelineInput({ queues: ts.queues, datasets: ['iemocap'], segment: { shardSize: 64 } });
    const corruptAt =
      'IEMOCAP_full_release/Session3/dialog/avi/DivX/Ses03F_impro01.avi: unexpected end of data at byte 1048576';
    mocks.on('extractSource', () =>
      nonRetryable(ErrorTypes.ArchiveCorrupt, `archive IEMOCAP_full_release.tar.gz is truncated (${corruptAt})`),
    );
    await withActivityWorkers(ts, { activities: mocks.forWorker() }, async () => {
      const err = await runChildren(ts.env, input, 'iemocap', 1).then(
        () => assert.fail('acquire must fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof ActivityFailure);
      assert.deepEqual(causeTypes(err), ['ActivityFailure', ErrorTypes.ArchiveCorrupt]);
      assert.match(String(err.cause.cause?.message), /IEMOCAP_full_release\.tar\.gz is truncated/);
      assert.equal(mocks.stats('extractSource').calls, 1, 'one attempt, no retry');
      assert.equal(mocks.stats('buildManifest').calls, 0, 'nothing after it');
    });

    // Train: a corrupt visual feature shard fails the stage after one attempt of that fold.
    const trainInput = pipelineInput({
      queues: ts.queues,
      datasets: ['iemocap'],
      segment: { shardSize: 64 },
      train: { parallelism: 1 },
    });
    const corrupt = new MockActivities({ iemocap: { utterances: 600 } });
    corrupt.on('trainFold', (c) => {
      const i = c.input as { foldIndex: number; features: { visual: { prefix: string } } };
      if (i.foldIndex === 2)
        nonRetryable(
          ErrorTypes.FeatureShardCorrupt,
          `corrupt shard ${i.features.visual.prefix}/00004.parquet: row 17: length 22 > frames 15`,
          {
            shardKey: `${i.features.visual.prefix}/00004.parquet`,
          },
        );
    });
    await withActivityWorkers(ts, { activities: corrupt.forWorker() }, async () => {
      const err = await runChildren(ts.env, trainInput, 'iemocap', 5).then(
        () => assert.fail('train must fail'),
        (e: unknown) => e,
      );
      assert.deepEqual(causeTypes(err), ['ActivityFailure', ErrorTypes.FeatureShardCorrupt]);
      assert.match(failureMessage(err), /00004\.parquet: row 17/);
      const folds = corrupt.calls('trainFold').map((c) => (c.input as { foldIndex: number }).foldIndex);
      assert.deepEqual(
        folds,
        [0, 1, 2],
        'parallelism 1: folds 0 and 1, then fold 2 once; nothing retried, nothing after it',
      );
      assert.ok(corrupt.calls('trainFold').every((c) => c.attempt === 1));
    });
  });

  test('a diverged training is recorded in `diverged` while the other trainings complete', async () => {
    const mocks = new MockActivities({ iemocap: { utterances: 800 } });
    mocks.on('trainFold', (c) => {
      const i = c.input as { variant: { name: string }; foldIndex: number; splitsKey: string };
      if (i.variant.name === 'A' && i.foldIndex === 3)
        nonRetryable(
          ErrorTypes.TrainingDiverged,
          'training A on fold loso-Session4 diverged: loss NaN at epoch 2, step 57; lower train.lr (now 5e-5) or set train.clipGradNorm (e.g. 1)',
          { trainKey: 'k-diverged', variant: 'A', fold: 'loso-Session4', epoch: 2, step: 57, loss: 'NaN' },
        );
    });
    const input = pipelineInput({
      queues: ts.queues,
      datasets: ['iemocap'],
      segment: { shardSize: 128 },
      train: { ablations: 'modalities' },
    });
    const out = await withActivityWorkers(ts, { activities: mocks.forWorker() }, () =>
      runChildren(ts.env, input, 'iemocap', 6),
    );
    const trained = out.trained!;
    assert.equal(trained.runs.length, 34, '35 trainings, one diverged');
    assert.ok(!trained.runs.some((r) => r.variant === 'A' && r.fold === 'loso-Session4'));
    assert.equal(trained.diverged?.length, 1);
    assert.deepEqual(
      { ...trained.diverged[0], message: undefined },
      {
        trainKey: 'k-diverged',
        variant: 'A',
        fold: 'loso-Session4',
        epoch: 2,
        step: 57,
        loss: 'NaN',
        message: undefined,
      },
    );
    assert.match(trained.diverged[0].message, /diverged: loss NaN at epoch 2.*clipGradNorm/);
    assert.equal(mocks.calls('trainFold').filter((c) => c.outcome === 'failed').length, 1, 'not retried');
    assert.equal(out.report!.headline.variant, 'T+A+V');
    assert.equal(out.report!.headline.folds, 5);
  });
});
