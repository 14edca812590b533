import type { ModalityWarning, VariantModality } from '../../schemas/train.ts';
import type { FeatureSet } from '../model/data.ts';

/**
 * A check before training that every modality the variant uses varies across the training samples. A
 * modality whose features are (nearly) constant, e.g. silent or missing audio that an encoder turned
 * into the same vector for every utterance, carries no information: the variant trains, but its
 * ablation results say nothing about that modality. The fold result records the variances and warns.
 *
 * The statistic: the mean over feature dimensions of each dimension's population variance across the
 * training samples (visual: across all valid frames of all training samples, padding left out),
 * computed in float64 with two passes (no cancellation). Near zero means at most
 * max(VARIANCE_ABSOLUTE, VARIANCE_RELATIVE x the mean squared value): relative, so features of any
 * scale are judged alike (float32 rounding of a constant leaves ~1e-14 of its square), with an
 * absolute floor for all-zero features, whose mean square is 0 too.
 */
export const VARIANCE_RELATIVE = 1e-8;
export const VARIANCE_ABSOLUTE = 1e-12;

const WORD: Record<VariantModality, string> = { t: 'text', a: 'audio', v: 'visual' };

export interface ModalityVariance {
  /** Mean per-dimension variance and mean squared value. */
  variance: number;
  meanSquare: number;
  /** Rows the statistic is over: samples (t, a) or valid frames (v). */
  rows: number;
}

/**
 * Mean per-dimension variance of `values` read as rows of `width`, over the rows `use` keeps.
 * `rows: 0` gives variance and mean square 0.
 */
export function meanVariance(
  values: Float32Array,
  width: number,
  use: (row: number) => boolean = () => true,
): ModalityVariance {
  const total = width > 0 ? Math.floor(values.length / width) : 0;
  const mean = new Float64Array(width);
  let rows = 0;
  for (let r = 0; r < total; r++) {
    if (!use(r)) continue;
    rows++;
    for (let d = 0, o = r * width; d < width; d++) mean[d] += values[o + d];
  }
  if (rows === 0 || width === 0) return { variance: 0, meanSquare: 0, rows };
  for (let d = 0; d < width; d++) mean[d] /= rows;
  let sq = 0;
  for (let r = 0; r < total; r++) {
    if (!use(r)) continue;
    for (let d = 0, o = r * width; d < width; d++) {
      const x = values[o + d] - mean[d];
      sq += x * x;
    }
  }
  const variance = sq / rows / width;
  let meanOfMeansSq = 0;
  for (let d = 0; d < width; d++) meanOfMeansSq += mean[d] * mean[d];
  return { variance, meanSquare: variance + meanOfMeansSq / width, rows };
}

export function nearZero(v: ModalityVariance): boolean {
  return v.variance <= Math.max(VARIANCE_ABSOLUTE, VARIANCE_RELATIVE * v.meanSquare);
}

export interface VarianceCheck {
  modalityVariance: Partial<Record<VariantModality, number>>;
  warnings: ModalityWarning[];
}

/** The variances of the used modalities of a training set and a warning for each near-zero one. */
export function checkModalityVariance(
  set: FeatureSet,
  modalities: readonly VariantModality[],
  dims: { text: number; audio: number; visual: number; frames: number },
): VarianceCheck {
  const out: VarianceCheck = { modalityVariance: {}, warnings: [] };
  for (const m of modalities) {
    let stat: ModalityVariance;
    if (m === 'v') {
      const lengths = set.vLengths ?? new Int32Array(set.n);
      // Rows are frames: frame f of sample i is row i * frames + f, valid below the sample's length.
      stat = meanVariance(
        set.v ?? new Float32Array(0),
        dims.visual,
        (r) => r % dims.frames < lengths[Math.floor(r / dims.frames)],
      );
    } else stat = meanVariance((m === 't' ? set.t : set.a) ?? new Float32Array(0), m === 't' ? dims.text : dims.audio);
    out.modalityVariance[m] = stat.variance;
    if (!nearZero(stat)) continue;
    const frames = m === 'v' ? `, ${stat.rows} valid frames` : '';
    out.warnings.push({
      modality: m,
      variance: stat.variance,
      message: `${WORD[m]} carries no information in this corpus (variance ${formatVariance(stat.variance)} over ${set.n} training utterances${frames})`,
    });
  }
  return out;
}

function formatVariance(v: number): string {
  return v === 0 ? '0' : v.toPrecision(2);
}
