/** Small configurations and synthetic batches shared by the model tests. */
import type { LossConfig, ModelConfig } from '../../activities/model/config.ts';
import { ModelConfigSchema } from '../../activities/model/config.ts';
import type { Batch } from '../../activities/model/feeds.ts';
import { seededUniform } from '../engine/fd-harness.ts';

export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return ModelConfigSchema.parse({
    preset: 'custom',
    modalities: ['v', 't', 'a'],
    inputs: { text: 6, audio: 5, visual: 4, frames: 5 },
    numClasses: 3,
    summary: 'guided',
    tcn: { channels: 6, kernel: 3, dilations: [1, 2] },
    earlyFusion: { hidden: 7, out: 5 },
    headDim: 6,
    classifierHidden: [8, 5],
    dropout: { heads: 0.2, other: 0.3 },
    leakySlope: 0.01,
    batchNorm: { eps: 1e-5, momentum: 0.1 },
    layerNormEps: 1e-5,
    ...overrides,
  });
}

export const refLoss = (overrides: Partial<LossConfig> = {}): LossConfig => ({
  contrastiveWeight: 0.5,
  temperature: 0.5,
  pairs: ['vt', 'va'],
  pairReduction: 'mean',
  normalization: 'positives',
  ...overrides,
});

/** A float64 batch with every class present at least twice (so positives exist) and lengths
 * covering full, partial and single-frame sequences. */
export function tinyBatch(cfg: ModelConfig, n = 7, seed = 99): Batch {
  const rnd = seededUniform(seed);
  const fill = (len: number): Float64Array => Float64Array.from({ length: len }, () => rnd());
  const f = cfg.inputs.frames;
  const vLen = BigInt64Array.from({ length: n }, (_, i) => BigInt([f, 3, 1, f - 1, 2, f, 4][i % 7]));
  const v = fill(n * f * cfg.inputs.visual);
  // zero the padding as a real cache would; the model must not depend on it anyway
  for (let i = 0; i < n; i++)
    for (let t = Number(vLen[i]); t < f; t++)
      v.fill(0, (i * f + t) * cfg.inputs.visual, (i * f + t + 1) * cfg.inputs.visual);
  return {
    n,
    t: fill(n * cfg.inputs.text),
    a: fill(n * cfg.inputs.audio),
    v,
    vLen,
    labels: BigInt64Array.from({ length: n }, (_, i) => BigInt([0, 1, 2, 0, 1, 2, 0][i % 7] % cfg.numClasses)),
  };
}
