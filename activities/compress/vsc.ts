import { mergeWeight, type VscParams } from '../../schemas/compress.ts';
import { dotRows } from './dot-rows.ts';

/**
 * Visual sequence compression (model-spec section 2) on cached Swin tokens: per frame, guided top-k
 * token selection and merging of the dropped tokens into the kept ones; over time, merging of
 * near-duplicate consecutive frames and a cap at maxFrames.
 *
 * Choices the spec leaves open, fixed here:
 * - Selection ranks tokens by cosine similarity to the guidance m. The spec's softmax over tokens is
 *   monotone, so it ranks identically; it is not computed. Equal scores keep the lower spatial index.
 * - Merge similarities and theta are computed from the original tokens, so the result does not depend
 *   on the order in which dropped tokens are visited. `accumulate` sums the contributions:
 *   X_r <- (1 - alpha) X_r + alpha * sum_n theta_{n,r} X_n over the dropped n with cos(X_n, X_r) > thr,
 *   with alpha = 1 - keepWeight (keepWeight is the reference's alpha).
 *   Applying the update once per n instead would shrink a kept token by (1 - alpha)^m for m merging
 *   tokens (0.9^33 = 0.03 on a uniform Swin frame), making frame vectors' scale depend on how
 *   redundant the frame is. `reference` keeps only the contribution of the last dropped token in
 *   spatial order, as the reference code does; with at most one merging token the modes agree.
 * - A frame vector is the mean of the updated kept tokens. Being linear in the tokens, it is computed
 *   as one weighted sum over the frame's tokens without materialising the updated tokens.
 * - Temporal merging compares each frame with the running mean of its group (not only with the
 *   previous frame), so a slow drift cannot chain a whole utterance into one vector; a group's vector
 *   is the mean of its frames.
 * - Zero vectors have cosine 0 with everything.
 */

export interface VscShape {
  /** Tokens per frame P (49 for Swin-Tiny's last stage). */
  readonly tokens: number;
  /** Token width D. */
  readonly dim: number;
}

export interface VscOutput {
  /** [maxFrames x dim], left-aligned, zeros after `length`. */
  readonly sequence: Float32Array;
  readonly length: number;
}

export interface FrameResult {
  /** Kept token indices, ascending (spatial order). */
  readonly kept: Int32Array;
  /** The frame vector: the mean of the kept tokens after merging. */
  readonly vector: Float64Array;
}

export interface Vsc {
  readonly params: VscParams;
  readonly shape: VscShape;
  /**
   * Compresses one utterance: `tokens` holds [frames x P x D] values; `guide` is G([t; a]) (length D)
   * for `fixed` guidance, null for `none`.
   */
  compress(tokens: Float32Array, frames: number, guide?: Float32Array | null): VscOutput;
}

function cosine(
  a: ArrayLike<number>,
  ao: number,
  na: number,
  b: ArrayLike<number>,
  bo: number,
  nb: number,
  d: number,
): number {
  if (na === 0 || nb === 0) return 0;
  let s = 0;
  for (let i = 0; i < d; i++) s += a[ao + i] * b[bo + i];
  return s / (na * nb);
}

function norm(a: ArrayLike<number>, ao: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += a[ao + i] * a[ao + i];
  return Math.sqrt(s);
}

/** Per-frame working memory, sized once per (P, D) so a shard's frames allocate nothing. */
class FrameScratch {
  readonly mean: Float64Array;
  readonly norms: Float64Array;
  readonly scores: Float64Array;
  readonly order: Int32Array;
  readonly keptFlag: Uint8Array;
  readonly coef: Float64Array;
  readonly sims: Float64Array;
  readonly mergedInto: Uint8Array;
  readonly lastFrom: Int32Array;
  readonly lastTheta: Float64Array;
  /** The frame's tokens widened once, so the similarity loops read doubles. */
  readonly tok: Float64Array;
  /** The kept rows of `tok`, contiguous, their norms and token indices. */
  readonly keptTok: Float64Array;
  readonly keptNorms: Float64Array;
  readonly keptIdx: Int32Array;

  constructor(
    readonly P: number,
    readonly D: number,
  ) {
    this.mean = new Float64Array(D);
    this.norms = new Float64Array(P);
    this.scores = new Float64Array(P);
    this.order = new Int32Array(P);
    this.keptFlag = new Uint8Array(P);
    this.coef = new Float64Array(P);
    this.sims = new Float64Array(P);
    this.mergedInto = new Uint8Array(P);
    this.lastFrom = new Int32Array(P);
    this.lastTheta = new Float64Array(P);
    this.tok = new Float64Array(P * D);
    this.keptTok = new Float64Array(P * D);
    this.keptNorms = new Float64Array(P);
    this.keptIdx = new Int32Array(P);
  }
}

/**
 * Marks the top-k tokens of one frame (at `off` in `x`) by cosine similarity to m = mean + guide.
 * Fills `s.keptFlag`, `s.keptIdx`, `s.norms` and `s.tok`; returns the number kept.
 */
function selectInto(s: FrameScratch, x: Float32Array, off: number, k: number, guide: ArrayLike<number> | null): number {
  const { P, D, mean, norms, scores, order, keptFlag, tok, keptIdx } = s;
  mean.fill(0);
  for (let p = 0; p < P; p++) {
    const o = off + p * D;
    for (let i = 0; i < D; i++) mean[i] += x[o + i];
  }
  for (let i = 0; i < D; i++) mean[i] = mean[i] / P + (guide ? guide[i] : 0);
  const mNorm = norm(mean, 0, D);
  for (let p = 0; p < P; p++) {
    const o = off + p * D;
    const u = p * D;
    let sq = 0;
    let dm = 0;
    for (let i = 0; i < D; i++) {
      const v = x[o + i];
      tok[u + i] = v;
      sq += v * v;
      dm += v * mean[i];
    }
    const n = Math.sqrt(sq);
    norms[p] = n;
    scores[p] = n === 0 || mNorm === 0 ? 0 : dm / (n * mNorm);
  }
  const kept = Math.min(k, P);
  if (kept === P) {
    keptFlag.fill(1);
  } else {
    // Insertion sort by (score desc, index asc): P is 49, and the order must be total for determinism.
    for (let p = 0; p < P; p++) order[p] = p;
    for (let i = 1; i < P; i++) {
      const idx = order[i];
      const sc = scores[idx];
      let j = i - 1;
      while (j >= 0 && (scores[order[j]] < sc || (scores[order[j]] === sc && order[j] > idx))) {
        order[j + 1] = order[j]!;
        j--;
      }
      order[j + 1] = idx;
    }
    keptFlag.fill(0);
    for (let i = 0; i < kept; i++) keptFlag[order[i]] = 1;
  }
  for (let p = 0, j = 0; p < P; p++) if (keptFlag[p]) keptIdx[j++] = p;
  return kept;
}

/** sims[j] = cos(token n, kept token j) for j < k. */
function keptSimilarities(s: FrameScratch, n: number, k: number): void {
  const { D, tok, keptTok, sims } = s;
  dotRows(keptTok, k, D, tok, n * D, sims);
  // Dividing the raw dot product (not multiplying unit vectors) keeps exact cases exact.
  const nn = s.norms[n];
  for (let j = 0; j < k; j++) {
    const d = nn * s.keptNorms[j];
    sims[j] = d === 0 ? 0 : sims[j] / d;
  }
}

/**
 * Merges the dropped tokens of the frame `selectInto` just scanned into the kept ones and writes the
 * frame vector (mean of the updated kept tokens) into `out` at `outOff`, as a weighted sum of the
 * frame's original tokens.
 */
function mergeInto(s: FrameScratch, kept: number, params: VscParams, out: Float64Array, outOff: number): void {
  const { P, D, keptFlag, coef, sims, mergedInto, lastFrom, lastTheta, tok, keptTok, keptNorms, keptIdx, norms } = s;
  const { mergeThreshold: thr } = params;
  const alpha = mergeWeight(params.keepWeight);
  const reference = params.mergeMode === 'reference';
  coef.fill(0);
  mergedInto.fill(0);
  lastFrom.fill(-1);
  if (kept < P) {
    for (let j = 0; j < kept; j++) {
      keptTok.set(tok.subarray(keptIdx[j] * D, keptIdx[j] * D + D), j * D);
      keptNorms[j] = norms[keptIdx[j]]!;
    }
  }
  for (let n = 0; n < P && kept < P; n++) {
    if (keptFlag[n]) continue;
    keptSimilarities(s, n, kept);
    let maxSim = -Infinity;
    for (let j = 0; j < kept; j++) if (sims[j] > maxSim) maxSim = sims[j]!;
    let z = 0;
    for (let j = 0; j < kept; j++) z += Math.exp(sims[j] - maxSim);
    for (let j = 0; j < kept; j++) {
      if (!(sims[j] > thr)) continue;
      const r = keptIdx[j];
      const theta = Math.exp(sims[j] - maxSim) / z;
      mergedInto[r] = 1;
      if (reference) {
        lastFrom[r] = n;
        lastTheta[r] = theta;
      } else {
        coef[n] += theta;
      }
    }
  }
  if (reference) {
    for (let r = 0; r < P; r++) if (lastFrom[r] >= 0) coef[lastFrom[r]] += lastTheta[r];
  }
  // frame = (1/k) [ sum_r (1 - alpha [r merged]) X_r + alpha sum_n w_n X_n ]
  for (let p = 0; p < P; p++) {
    coef[p] = keptFlag[p] ? (1 - (mergedInto[p] ? alpha : 0)) / kept : (alpha * coef[p]) / kept;
  }
  for (let i = 0; i < D; i++) out[outOff + i] = 0;
  for (let p = 0; p < P; p++) {
    const c = coef[p];
    if (c === 0) continue;
    const o = p * D;
    for (let i = 0; i < D; i++) out[outOff + i] += c * tok[o + i];
  }
}

function meanInto(s: FrameScratch, x: Float32Array, off: number, out: Float64Array, outOff: number): void {
  const { P, D } = s;
  for (let i = 0; i < D; i++) out[outOff + i] = 0;
  for (let p = 0; p < P; p++) {
    const o = off + p * D;
    for (let i = 0; i < D; i++) out[outOff + i] += x[o + i];
  }
  for (let i = 0; i < D; i++) out[outOff + i] = out[outOff + i] / P;
}

/**
 * One frame of [P x D] tokens: selection and merging (steps 1-4 of the spec). Exposed for tests and
 * inspection; `createVsc` runs the same code without allocating per frame.
 */
export function compressFrame(
  tokens: Float32Array,
  shape: VscShape,
  params: VscParams,
  guide: ArrayLike<number> | null = null,
): FrameResult {
  const { tokens: P, dim: D } = shape;
  if (tokens.length !== P * D) throw new RangeError(`frame has ${tokens.length} values, expected ${P} x ${D}`);
  const s = new FrameScratch(P, D);
  const vector = new Float64Array(D);
  const k = selectInto(s, tokens, 0, params.topK, guide);
  mergeInto(s, k, params, vector, 0);
  const kept = new Int32Array(k);
  for (let p = 0, j = 0; p < P; p++) if (s.keptFlag[p]) kept[j++] = p;
  return { kept, vector };
}

export interface TemporalGroups {
  /** [groups x D] sums of the frames in each group. */
  readonly sums: Float64Array;
  readonly counts: Int32Array;
  readonly groups: number;
}

/**
 * Groups consecutive frame vectors ([frames x D]) whose cosine with the running mean of the current
 * group exceeds `threshold`.
 */
export function mergeTemporal(vectors: Float64Array, frames: number, dim: number, threshold: number): TemporalGroups {
  const sums = new Float64Array(frames * dim);
  const counts = new Int32Array(frames);
  let g = 0;
  for (let f = 0; f < frames; f++) {
    const fo = f * dim;
    if (g > 0) {
      const go = (g - 1) * dim;
      // The cosine with a group's sum is the cosine with its mean.
      const c = cosine(vectors, fo, norm(vectors, fo, dim), sums, go, norm(sums, go, dim), dim);
      if (c > threshold) {
        for (let i = 0; i < dim; i++) sums[go + i] += vectors[fo + i];
        counts[g - 1]++;
        continue;
      }
    }
    for (let i = 0; i < dim; i++) sums[g * dim + i] = vectors[fo + i]!;
    counts[g] = 1;
    g++;
  }
  return { sums, counts, groups: g };
}

/** Reduces groups to at most `maxFrames` (in place); returns the group count. */
export function capGroups(t: TemporalGroups, dim: number, maxFrames: number, mode: VscParams['cap']): number {
  let g = t.groups;
  if (g <= maxFrames) return g;
  if (mode === 'truncate') return maxFrames;
  const { sums, counts } = t;
  while (g > maxFrames) {
    let best = 0;
    let bestCos = -Infinity;
    for (let j = 0; j + 1 < g; j++) {
      const c = cosine(
        sums,
        j * dim,
        norm(sums, j * dim, dim),
        sums,
        (j + 1) * dim,
        norm(sums, (j + 1) * dim, dim),
        dim,
      );
      if (c > bestCos) {
        bestCos = c;
        best = j;
      }
    }
    for (let i = 0; i < dim; i++) sums[best * dim + i] += sums[(best + 1) * dim + i];
    counts[best] += counts[best + 1];
    sums.copyWithin(best * dim + dim, best * dim + 2 * dim, g * dim);
    counts.copyWithin(best + 1, best + 2, g);
    g--;
  }
  return g;
}

export function createVsc(params: VscParams, shape: VscShape): Vsc {
  const { tokens: P, dim: D } = shape;
  if (!Number.isInteger(P) || P < 1 || !Number.isInteger(D) || D < 1) {
    throw new RangeError(`vsc: tokens and dim must be positive integers, got ${P} and ${D}`);
  }
  const scratch = new FrameScratch(P, D);
  let frameVectors = new Float64Array(0);
  return {
    params,
    shape,
    compress(tokens, frames, guide = null) {
      if (!Number.isInteger(frames) || frames < 0) throw new RangeError(`vsc: bad frame count ${frames}`);
      if (tokens.length !== frames * P * D) {
        throw new RangeError(`vsc: ${tokens.length} values for ${frames} frames of ${P} x ${D} tokens`);
      }
      if (guide && guide.length !== D) throw new RangeError(`vsc: guidance has ${guide.length} values, expected ${D}`);
      if (frameVectors.length < frames * D) frameVectors = new Float64Array(frames * D);
      for (let f = 0; f < frames; f++) {
        const off = f * P * D;
        if (params.enabled) {
          const k = selectInto(scratch, tokens, off, params.topK, guide);
          mergeInto(scratch, k, params, frameVectors, f * D);
        } else {
          meanInto(scratch, tokens, off, frameVectors, f * D);
        }
      }
      const groups = params.enabled
        ? mergeTemporal(frameVectors, frames, D, params.temporalThreshold)
        : { sums: frameVectors.slice(0, frames * D), counts: new Int32Array(frames).fill(1), groups: frames };
      const length = capGroups(groups, D, params.maxFrames, params.cap);
      const sequence = new Float32Array(params.maxFrames * D);
      for (let g = 0; g < length; g++) {
        const c = groups.counts[g];
        for (let i = 0; i < D; i++) sequence[g * D + i] = groups.sums[g * D + i] / c;
      }
      return { sequence, length };
    },
  };
}

export interface Reduction {
  readonly valuesIn: number;
  readonly valuesOut: number;
  /** valuesIn / valuesOut; 1 when nothing went in. */
  readonly ratio: number;
}

/**
 * How much VSC shrank visual data: input values (frames x tokens x dim) over valid output values
 * (length x dim), padding excluded. Counts add over utterances, so a shard's or a stage's ratio is
 * `reduction` of the summed counts.
 */
export function reduction(valuesIn: number, valuesOut: number): Reduction {
  if (valuesOut === 0 && valuesIn > 0) throw new RangeError('vsc reduction: output is empty but input is not');
  return { valuesIn, valuesOut, ratio: valuesOut === 0 ? 1 : valuesIn / valuesOut };
}

/** Values in and out for one utterance of the given shape. */
export function utteranceReduction(frames: number, shape: VscShape, length: number): Reduction {
  return reduction(frames * shape.tokens * shape.dim, length * shape.dim);
}
