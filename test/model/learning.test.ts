/**
 * Learning on synthetic cached features where the label is encoded in one modality only: the full
 * model and the single-modality ablation on that modality must learn it, the ablations on the
 * other modalities must stay at chance. Accuracy is measured on a held-out test split through the
 * exported standalone inference model.
 *
 * Thresholds: 3 balanced classes, 150 test samples. Chance accuracy is 1/3 with a standard error
 * of sqrt(1/3 * 2/3 / 150) = 0.04, so < 0.5 is more than 4 standard errors above chance while a
 * model that found the signal (class means ~1.4 noise units apart per dimension over 8+ dims) is
 * near 1: > 0.9 required.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultLossConfig, defaultOptimizerConfig } from '../../activities/model/config.ts';
import type { ModelConfig, Modality } from '../../activities/model/config.ts';
import type { FeatureSet } from '../../activities/model/data.ts';
import { classificationMetrics } from '../../activities/model/metrics.ts';
import { predict } from '../../activities/model/predict.ts';
import { train } from '../../activities/model/trainer.ts';
import { syntheticFeatures } from './synthetic.ts';
import { tinyConfig } from './tiny.ts';

const base = tinyConfig({
  inputs: { text: 12, audio: 10, visual: 8, frames: 6 },
  tcn: { channels: 16, kernel: 3, dilations: [1, 2, 4] },
  earlyFusion: { hidden: 16, out: 12 },
  headDim: 16,
  classifierHidden: [32, 16],
  dropout: { heads: 0.1, other: 0.1 },
});

async function testAccuracy(model: ModelConfig, informative: Modality, set: FeatureSet, seed: number): Promise<number> {
  const splits = {
    train: syntheticFeatures(model, { n: 240, informative: [informative], seed: seed + 1 }),
    validation: syntheticFeatures(model, { n: 90, informative: [informative], seed: seed + 2 }),
  };
  const result = await train(
    splits,
    {
      model,
      loss: defaultLossConfig(),
      optimizer: { ...defaultOptimizerConfig(), lr: 3e-3 },
      batchSize: 32,
      maxEpochs: 12,
      patience: 4,
      seed,
      checkpointEverySteps: 0,
    },
    { runtime: { threads: 1 } },
  );
  const { predicted } = await predict(result.exportInference(), set, { threads: 1 });
  return classificationMetrics(set.labels, predicted, model.numClasses).accuracy;
}

async function ablations(informative: Modality): Promise<Record<string, number>> {
  const variants: Modality[][] = [['v', 't', 'a'], ['v'], ['t'], ['a']];
  const out: Record<string, number> = {};
  const testSet = syntheticFeatures(base, { n: 150, informative: [informative], seed: 500 });
  for (const modalities of variants) {
    out[modalities.join('')] = await testAccuracy({ ...base, modalities }, informative, testSet, 40);
  }
  return out;
}

describe('learning on single-modality-separable synthetic features', () => {
  for (const informative of ['v', 't'] as const) {
    test(`label carried by ${informative}: full model and ${informative}-only learn it, the others stay at chance`, async () => {
      const acc = await ablations(informative);
      assert.ok(acc.vta > 0.9, `full model: ${JSON.stringify(acc)}`);
      for (const m of ['v', 't', 'a'] as const) {
        if (m === informative) assert.ok(acc[m] > 0.9, `${m}-only should learn: ${JSON.stringify(acc)}`);
        else assert.ok(acc[m] < 0.5, `${m}-only should be at chance: ${JSON.stringify(acc)}`);
      }
    });
  }
});
