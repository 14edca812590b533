/**
 * Loss options: schema values and defaults, inverse-frequency class weights, and checkpoints
 * written before `pairReduction` existed (they parse as `sum`, the behaviour they were trained
 * with, and resume only under that configuration).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCheckpoint, encodeCheckpoint } from '../../activities/model/checkpoint.ts';
import type { CheckpointMeta } from '../../activities/model/checkpoint.ts';
import {
  defaultLossConfig,
  defaultOptimizerConfig,
  inverseFrequencyWeights,
  LossConfigSchema,
  TrainerConfigSchema,
} from '../../activities/model/config.ts';
import type { TrainerConfig } from '../../activities/model/config.ts';
import { train } from '../../activities/model/trainer.ts';
import { syntheticFeatures } from './synthetic.ts';
import { tinyConfig } from './tiny.ts';

describe('LossConfigSchema', () => {
  test('defaultLossConfig averages the active pairs and is valid', () => {
    const cfg = defaultLossConfig();
    assert.equal(cfg.pairReduction, 'mean');
    assert.deepEqual(LossConfigSchema.parse(cfg), cfg);
  });

  test('a config without pairReduction (written before the option) means sum', () => {
    const { pairReduction: _, ...old } = defaultLossConfig();
    assert.equal(LossConfigSchema.parse(old).pairReduction, 'sum');
  });

  test('rejects unknown values, duplicate pairs and non-positive class weights', () => {
    const base = defaultLossConfig();
    for (const bad of [
      { ...base, pairReduction: 'avg' },
      { ...base, pairs: ['vt', 'vt'] },
      { ...base, pairs: ['tv'] },
      { ...base, normalization: 'batch' },
      { ...base, classWeights: [1, 0, 2] },
      { ...base, classWeights: [1, Infinity] },
      { ...base, temperature: 0 },
    ])
      assert.equal(LossConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });
});

describe('inverseFrequencyWeights', () => {
  test("n / (C * n_c) as scikit-learn's 'balanced'; an absent class gets 1", () => {
    // n = 6, C = 4: counts 3, 1, 2, 0
    assert.deepEqual(inverseFrequencyWeights([0, 0, 0, 1, 2, 2], 4), [0.5, 1.5, 0.75, 1]);
    assert.deepEqual(inverseFrequencyWeights(Int32Array.from([1, 0, 1, 0]), 2), [1, 1]);
    assert.deepEqual(inverseFrequencyWeights([], 3), [1, 1, 1]);
  });

  test('the weights are valid LossConfig class weights', () => {
    const classWeights = inverseFrequencyWeights([0, 1, 1, 1, 1, 1, 1, 1, 2], 4);
    assert.ok(LossConfigSchema.safeParse({ ...defaultLossConfig(), classWeights }).success);
  });

  test('rejects labels outside [0, C) and a bad class count', () => {
    assert.throws(() => inverseFrequencyWeights([0, 3], 3), /label 3 at 1 is outside \[0, 3\)/);
    assert.throws(() => inverseFrequencyWeights([0, 1.5], 3), /label 1.5/);
    assert.throws(() => inverseFrequencyWeights([0], 0), /numClasses/);
  });
});

describe('checkpoints from before pairReduction', () => {
  test('parse as sum and resume only under a sum configuration', async () => {
    const model = tinyConfig();
    const data = { train: syntheticFeatures(model, { n: 12, informative: ['t'], seed: 3 }) };
    const config: TrainerConfig = {
      model,
      loss: { ...defaultLossConfig(), pairReduction: 'sum' },
      optimizer: defaultOptimizerConfig(),
      batchSize: 6,
      maxEpochs: 1,
      patience: 1,
      seed: 9,
      checkpointEverySteps: 0,
    };
    let last: Uint8Array | undefined;
    await train(data, config, { runtime: { threads: 1 }, onCheckpoint: (bytes) => void (last = bytes) });
    assert.ok(last);

    // the same checkpoint as an older build wrote it: no pairReduction in the header
    const { header, tensors } = decodeCheckpoint(last);
    const { format: _f, version: _v, tensors: entries, rng: _r, ...meta } = header;
    const { pairReduction: _p, ...oldLoss } = meta.config.loss;
    const oldMeta = { ...meta, config: { ...meta.config, loss: oldLoss } } as unknown as CheckpointMeta;
    const shapeOf = (group: string, name: string): number[] =>
      entries.find((e) => e.group === group && e.name === name)!.shape;
    const old = encodeCheckpoint(oldMeta, tensors, { shapeOf });
    assert.ok(!new TextDecoder().decode(old.subarray(0, 4096)).includes('pairReduction'));

    assert.equal(decodeCheckpoint(old).header.config.loss.pairReduction, 'sum');
    assert.deepEqual(TrainerConfigSchema.parse(oldMeta.config), TrainerConfigSchema.parse(config));
    const resumed = await train(data, config, { runtime: { threads: 1 }, resumeFrom: old });
    assert.equal(resumed.history.length, 1);
    await assert.rejects(
      train(data, { ...config, loss: defaultLossConfig() }, { runtime: { threads: 1 }, resumeFrom: old }),
      /different configuration/,
    );
  });
});
