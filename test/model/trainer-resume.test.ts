/**
 * Checkpoints and exact resume: a run interrupted at any checkpoint (mid-epoch or at an epoch
 * end) and resumed from its bytes must end with bit-identical weights, optimiser state and
 * history (wall-clock seconds excepted).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { decodeCheckpoint, encodeCheckpoint } from '../../activities/model/checkpoint.ts';
import type { EpochRecord } from '../../activities/model/checkpoint.ts';
import { defaultLossConfig, defaultOptimizerConfig } from '../../activities/model/config.ts';
import type { TrainerConfig } from '../../activities/model/config.ts';
import { batchesPerEpoch, train } from '../../activities/model/trainer.ts';
import type { CheckpointInfo, ModelWeights, StepInfo, TrainResult } from '../../activities/model/trainer.ts';
import { syntheticFeatures } from './synthetic.ts';
import { tinyConfig } from './tiny.ts';

const model = tinyConfig();
const config: TrainerConfig = {
  model,
  loss: defaultLossConfig(),
  optimizer: { ...defaultOptimizerConfig(), lr: 1e-3, clipGradNorm: 5 },
  batchSize: 8,
  maxEpochs: 3,
  patience: 10,
  seed: 2024,
  checkpointEverySteps: 3,
};
const data = {
  train: syntheticFeatures(model, { n: 50, informative: ['t', 'v'], seed: 1 }),
  validation: syntheticFeatures(model, { n: 20, informative: ['t', 'v'], seed: 2 }),
};
const runtime = { threads: 1 };

function assertSameWeights(a: ModelWeights, b: ModelWeights): void {
  for (const group of ['params', 'buffers'] as const) {
    assert.equal(a[group].size, b[group].size);
    for (const [name, values] of a[group]) assert.deepEqual(b[group].get(name), values, `${group} ${name} differs`);
  }
}

const withoutTime = (h: readonly EpochRecord[]) => h.map(({ seconds: _s, ...rest }) => rest);

describe('trainer checkpoints and exact resume', () => {
  let full: TrainResult;
  const checkpoints: { bytes: Uint8Array; info: CheckpointInfo }[] = [];
  const steps: StepInfo[] = [];
  const epochs: EpochRecord[] = [];

  before(async () => {
    full = await train(data, config, {
      runtime,
      onCheckpoint: (bytes, info) => void checkpoints.push({ bytes, info }),
      onStep: (info) => void steps.push(info),
      onEpoch: (record) => void epochs.push(record),
    });
  });

  test('progress callbacks report every step and epoch', () => {
    assert.deepEqual(
      steps.map((s) => s.step),
      Array.from({ length: 21 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      steps.slice(0, 8).map((s) => [s.epoch, s.batch, s.batches]),
      [0, 1, 2, 3, 4, 5, 6].map((b) => [0, b, 7]).concat([[1, 0, 7]]),
    );
    assert.ok(steps.every((s) => Number.isFinite(s.loss)));
    assert.deepEqual(epochs, full.history);
    assert.ok(full.history.every((h) => h.validation !== null && h.samples === 50));
  });

  test('checkpoints come mid-epoch every 3 steps and at every epoch end', () => {
    const perEpoch = batchesPerEpoch(50, 8);
    assert.equal(perEpoch, 7); // 6 full batches + one of 2
    assert.equal(full.steps, 3 * perEpoch);
    const ends = checkpoints.filter((c) => c.info.step % perEpoch === 0);
    assert.deepEqual(
      ends.map((c) => c.info.epoch),
      [1, 2, 3],
    );
    assert.ok(
      checkpoints.some((c) => c.info.step % perEpoch !== 0),
      'no mid-epoch checkpoint',
    );
    assert.deepEqual(
      checkpoints.map((c) => c.info.final),
      checkpoints.map((_, i) => i === checkpoints.length - 1),
    );
  });

  test('resuming from a mid-epoch checkpoint reproduces the uninterrupted run exactly', async () => {
    const mid = checkpoints.find((c) => c.info.epoch === 1 && c.info.step % 7 !== 0)!;
    const resumed = await train(data, config, { runtime, resumeFrom: mid.bytes });
    assertSameWeights(full.lastWeights, resumed.lastWeights);
    assertSameWeights(full.weights, resumed.weights);
    assert.deepEqual(withoutTime(resumed.history), withoutTime(full.history));
    assert.deepEqual(resumed.best, full.best);
  });

  test('a run aborted after an epoch-end checkpoint resumes to the same result', async () => {
    const controller = new AbortController();
    let last: Uint8Array | null = null;
    await assert.rejects(
      train(data, config, {
        runtime,
        signal: controller.signal,
        onCheckpoint: (bytes, info) => {
          last = bytes;
          if (info.epoch === 2 && info.step === 14) controller.abort(new Error('killed'));
        },
      }),
      /killed/,
    );
    assert.ok(last);
    const resumed = await train(data, config, { runtime, resumeFrom: last });
    assertSameWeights(full.lastWeights, resumed.lastWeights);
    assert.deepEqual(withoutTime(resumed.history), withoutTime(full.history));
  });

  test('the final checkpoint holds the complete state, and resuming it trains no more', async () => {
    const final = decodeCheckpoint(checkpoints[checkpoints.length - 1].bytes);
    assert.equal(final.header.progress.finished, true);
    assert.equal(final.header.progress.step, 21);
    assert.equal(final.header.history.length, 3);
    for (const [name, v] of full.lastWeights.params) assert.deepEqual(final.tensors.params.get(name), v);
    assert.equal(final.tensors.adamM.size, full.layout.params.length);
    assert.ok(
      [...final.tensors.adamV.values()].some((v) => v.some((x) => x > 0)),
      'Adam second moments are empty',
    );
    assert.equal(final.tensors.buffers.get('classifier.0.bn.running_var')!.length, 8);
    const again = await train(data, config, { runtime, resumeFrom: checkpoints[checkpoints.length - 1].bytes });
    assert.equal(again.steps, full.steps);
    assertSameWeights(full.weights, again.weights);
  });

  test('checkpoint bytes are validated: magic, CRC, version and configuration', async () => {
    const bytes = checkpoints[0].bytes;
    const corrupt = bytes.slice();
    corrupt[corrupt.length - 100] ^= 0x40;
    assert.throws(() => decodeCheckpoint(corrupt), /CRC/);
    assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1)), /CRC|magic/);
    const future = bytes.slice();
    new DataView(future.buffer).setUint32(8, 2, true);
    assert.throws(() => decodeCheckpoint(future), /version 2/);
    assert.throws(() => decodeCheckpoint(new Uint8Array(32)), /magic/);
    await assert.rejects(
      train(data, { ...config, seed: 1 }, { runtime, resumeFrom: bytes }),
      /different configuration/,
    );
    const otherData = { ...data, train: { ...data.train, labels: data.train.labels.map((y) => (y + 1) % 3) } };
    await assert.rejects(
      train(otherData, config, { runtime, resumeFrom: bytes }),
      /different training or validation features/,
    );
  });

  test('encode/decode round-trips every tensor group bit for bit', () => {
    const decoded = decodeCheckpoint(checkpoints[4].bytes);
    const { format: _f, version: _v, tensors: _t, rng: _r, ...meta } = decoded.header;
    const shapes = new Map(decoded.header.tensors.map((e) => [`${e.group}/${e.name}`, e.shape]));
    const again = encodeCheckpoint(meta, decoded.tensors, { shapeOf: (g, n) => shapes.get(`${g}/${n}`)! });
    assert.deepEqual(again, checkpoints[4].bytes);
  });
});
