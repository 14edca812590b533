/**
 * The Temporal adapters: heartbeats reach the activity context, known failures leave as
 * non-retryable ApplicationFailures of their named type.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ExtractParamsSchema } from '../../schemas/extract.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import { createExtractActivities, type ExtractPlanInput } from '../../activities/extract/activities.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import { TINY } from './inputs.ts';
import { buildSegments, type BuiltSegments } from './segment-fixture.ts';

let root: string;
let seg: BuiltSegments;

/** The mock environment logs every failed activity; the failures here are the point of the test. */
function quietEnv() {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  // env.run infers its result as unknown; keep the activity's own types
  const run = <A, R>(fn: (input: A) => Promise<R>, input: A): Promise<R> => env.run(fn, input);
  return { env, run };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-extract-act-'));
  seg = await buildSegments(
    createStore({ kind: 'local', root }),
    'seg-act',
    [
      { id: 'a0', dialogue: '1', index: 0, text: 'hello there', audio: { samples: 4000, seed: 1 }, frames: null },
      { id: 'a1', dialogue: '1', index: 1, text: 'general kenobi', audio: { samples: 4000, seed: 2 }, frames: null },
      {
        id: 'a2',
        dialogue: '1',
        index: 2,
        text: 'you are a bold one',
        audio: { samples: 5000, seed: 3 },
        frames: null,
      },
    ],
    8,
  );
});
after(async () => {
  await releaseEncoderSessions();
  await closeStores();
  await rm(root, { recursive: true, force: true });
});

test('plan, shard and finalise through the activity adapters, heartbeating per batch', async () => {
  const acts = createExtractActivities({ threads: 1 });
  const { env, run } = quietEnv();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const store: StoreSpec = { kind: 'local', root };
  const params = ExtractParamsSchema.parse({ audio: { model: TINY.audio, batchSize: 8 } });
  const base: ExtractPlanInput = {
    store,
    modality: 'audio',
    segmentPrefix: seg.segmentPrefix,
    shardKeys: seg.shardKeys,
    manifestKey: seg.manifestKey,
    params,
  };
  const plan = await run(acts.planExtract, base);
  const r = await run(acts.extractShard, {
    ...base,
    shardKey: seg.shardKeys[0],
    featuresPrefix: plan.featuresPrefix,
    modelSha256: plan.modelSha256,
  });
  // two equal-length utterances in one batch, the third alone
  assert.deepEqual([r.rows, r.ok, r.batches], [3, 3, 2]);
  assert.deepEqual(
    beats.map((b) => (b as { batch: number }).batch),
    [1, 2],
  );
  const report = await run(acts.finalizeExtract, {
    store,
    modality: 'audio',
    featuresPrefix: plan.featuresPrefix,
    modelSha256: plan.modelSha256,
    dim: plan.dim,
    shardKeys: seg.shardKeys,
  });
  assert.equal(report.ok, 3);
});

test('a missing model folder fails non-retryably as MerModelMissing', async () => {
  const acts = createExtractActivities();
  const { run } = quietEnv();
  const params = ExtractParamsSchema.parse({ text: { model: join(root, 'no-such-model') } });
  const input: ExtractPlanInput = {
    store: { kind: 'local', root },
    modality: 'text',
    segmentPrefix: seg.segmentPrefix,
    shardKeys: seg.shardKeys,
    manifestKey: seg.manifestKey,
    params,
  };
  await assert.rejects(
    run(acts.planExtract, input),
    (err: unknown) =>
      err instanceof ApplicationFailure &&
      err.nonRetryable &&
      err.type === 'MerModelMissing' &&
      /no-such-model lacks config\.json/.test(err.message),
  );
});
