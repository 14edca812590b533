/**
 * Interval over independent repetitions (one value per training seed): mean, sample standard deviation
 * (ddof = 1) and the Student t interval mean +- t_{(1+level)/2, n-1} * std / sqrt(n). It describes how
 * far the fold-aggregated metric moves with the seed, the variation a single-seed paper hides.
 */
import { tQuantile } from './student-t.ts';
import { checkLevel } from './clusters.ts';

export interface TInterval {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (ddof = 1); 0 when n < 2. */
  readonly std: number;
  readonly low: number;
  readonly high: number;
  /** n < 2: no spread can be estimated, so low = high = mean. */
  readonly degenerate: boolean;
}

/** As scipy.stats.t.interval(level, n - 1, loc=mean, scale=std / sqrt(n)); n < 2 gives a flagged point. */
export function tInterval(values: readonly number[], level = 0.95): TInterval {
  checkLevel(level);
  const n = values.length;
  if (n === 0) throw new RangeError('tInterval: no values');
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`tInterval: value [${i}] = ${v} is not finite`);
  });
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n < 2) return { n, mean, std: 0, low: mean, high: mean, degenerate: true };
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  const std = Math.sqrt(ss / (n - 1));
  const half = tQuantile((1 + level) / 2, n - 1) * (std / Math.sqrt(n));
  return { n, mean, std, low: mean - half, high: mean + half, degenerate: false };
}
