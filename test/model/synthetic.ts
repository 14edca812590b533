/** Synthetic cached features for trainer tests: class information in chosen modalities only. */
import type { ModelConfig, Modality } from '../../activities/model/config.ts';
import type { FeatureSet } from '../../activities/model/data.ts';
import { Rng } from '../../activities/model/rng.ts';

export interface SyntheticSpec {
  readonly n: number;
  /** Modalities whose features depend on the label; the others are pure noise. */
  readonly informative: readonly Modality[];
  /** Distance scale of the class means relative to unit noise. */
  readonly separation?: number;
  readonly seed: number;
}

/** Class means are fixed by `meansSeed` so train, validation and test splits share them. */
export function syntheticFeatures(cfg: ModelConfig, spec: SyntheticSpec, meansSeed = 7): FeatureSet {
  const { text, audio, visual, frames } = cfg.inputs;
  const C = cfg.numClasses;
  const sep = spec.separation ?? 1;
  const meansRng = new Rng(meansSeed, 99);
  const means = (dim: number): Float32Array[] =>
    Array.from({ length: C }, () => Float32Array.from({ length: dim }, () => sep * meansRng.normal()));
  const mt = means(text);
  const ma = means(audio);
  const mv = means(visual);
  const rng = new Rng(spec.seed, 1);
  const labels = Int32Array.from({ length: spec.n }, (_, i) => i % C);
  const t = new Float32Array(spec.n * text);
  const a = new Float32Array(spec.n * audio);
  const v = new Float32Array(spec.n * frames * visual);
  const vLengths = new Int32Array(spec.n);
  for (let i = 0; i < spec.n; i++) {
    const y = labels[i];
    for (let d = 0; d < text; d++) t[i * text + d] = rng.normal() + (spec.informative.includes('t') ? mt[y][d] : 0);
    for (let d = 0; d < audio; d++) a[i * audio + d] = rng.normal() + (spec.informative.includes('a') ? ma[y][d] : 0);
    const len = 1 + Math.floor(rng.uniform() * frames);
    vLengths[i] = len;
    for (let f = 0; f < len; f++) {
      for (let d = 0; d < visual; d++)
        v[(i * frames + f) * visual + d] = rng.normal() + (spec.informative.includes('v') ? mv[y][d] : 0);
    }
  }
  return { n: spec.n, t, a, v, vLengths, labels };
}
