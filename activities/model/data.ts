/** Cached features as plain typed arrays (what the pipeline's train stage reads from Parquet). */
import { crc32 } from 'node:zlib';
import type { ModelConfig } from './config.ts';
import { hasModality } from './config.ts';
import type { Batch } from './feeds.ts';

export interface UnlabelledFeatureSet {
  readonly n: number;
  /** [n * Dt] pooled text vectors; required when the variant uses text. */
  readonly t?: Float32Array;
  /** [n * Da] pooled audio vectors. */
  readonly a?: Float32Array;
  /** [n * F * Dv] visual frame vectors, left-aligned, zero padding after each sample's length. */
  readonly v?: Float32Array;
  /** [n] valid frames per sample, 0..F. */
  readonly vLengths?: Int32Array;
}

export interface FeatureSet extends UnlabelledFeatureSet {
  /** [n] class indices 0..C-1. */
  readonly labels: Int32Array;
}

export function validateFeatureSet(name: string, set: FeatureSet, cfg: ModelConfig): void {
  validateFeatures(name, set, cfg);
  if (set.labels.length !== set.n)
    throw new Error(`features ${name}: ${set.labels.length} labels for ${set.n} samples`);
  for (let i = 0; i < set.n; i++) {
    const y = set.labels[i];
    if (!(y >= 0 && y < cfg.numClasses))
      throw new Error(`features ${name}: label ${y} at ${i} outside 0..${cfg.numClasses - 1}`);
  }
}

export function validateFeatures(name: string, set: UnlabelledFeatureSet, cfg: ModelConfig): void {
  const fail = (msg: string): never => {
    throw new Error(`features ${name}: ${msg}`);
  };
  const { n } = set;
  if (!Number.isInteger(n) || n < 0) fail(`bad sample count ${n}`);
  const check = (what: string, arr: Float32Array | undefined, width: number): void => {
    if (!arr) fail(`the ${cfg.modalities.join('+')} variant needs ${what}`);
    else if (arr.length !== n * width) fail(`${what} has ${arr.length} values, expected ${n} x ${width}`);
  };
  if (hasModality(cfg, 't')) check('t', set.t, cfg.inputs.text);
  if (hasModality(cfg, 'a')) check('a', set.a, cfg.inputs.audio);
  if (hasModality(cfg, 'v')) {
    check('v', set.v, cfg.inputs.frames * cfg.inputs.visual);
    if (!set.vLengths || set.vLengths.length !== n) fail('vLengths must have one entry per sample');
    for (let i = 0; i < n; i++) {
      const l = set.vLengths![i];
      if (l < 0 || l > cfg.inputs.frames) fail(`visual length ${l} at ${i} outside 0..${cfg.inputs.frames}`);
    }
  }
}

function gatherRows(src: Float32Array, width: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * width);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r];
    out.set(src.subarray(i * width, (i + 1) * width), r * width);
  }
  return out;
}

/** Copies the rows `indices` of a feature set into one batch (labels included when present). */
export function gatherBatch(
  set: UnlabelledFeatureSet & { readonly labels?: Int32Array },
  cfg: ModelConfig,
  indices: ArrayLike<number>,
  withLabels = true,
): Batch {
  const labels = withLabels ? set.labels : undefined;
  const n = indices.length;
  return {
    n,
    ...(hasModality(cfg, 't') ? { t: gatherRows(set.t!, cfg.inputs.text, indices) } : {}),
    ...(hasModality(cfg, 'a') ? { a: gatherRows(set.a!, cfg.inputs.audio, indices) } : {}),
    ...(hasModality(cfg, 'v')
      ? {
          v: gatherRows(set.v!, cfg.inputs.frames * cfg.inputs.visual, indices),
          vLen: BigInt64Array.from({ length: n }, (_, r) => BigInt(set.vLengths![indices[r]])),
        }
      : {}),
    ...(labels ? { labels: BigInt64Array.from({ length: n }, (_, r) => BigInt(labels[indices[r]])) } : {}),
  };
}

/** Sample counts and CRC-32s of every array of the given sets: resuming a checkpoint on other data
 * would silently break the exact-resume guarantee, so the trainer refuses it. */
export function dataFingerprint(sets: readonly (UnlabelledFeatureSet & { readonly labels?: Int32Array })[]): string {
  const bytes = (a: ArrayBufferView | undefined): string =>
    a ? crc32(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).toString(16) : '-';
  return sets
    .map((s) => [s.n, bytes(s.t), bytes(s.a), bytes(s.v), bytes(s.vLengths), bytes(s.labels)].join(','))
    .join(';');
}
