import type { SweepInterval } from '../../schemas/sweep.ts';

/**
 * The sweep report's mean and 95% Student t interval of a list of scores, in the shape sweep.json
 * stores (finite numbers only: a single value or no spread is `degenerate`, low = high = mean).
 *
 * TEMPORARY: t quantiles from a table until the statistics API (activities/evaluate/stats/) lands;
 * then this becomes a thin adapter over its tInterval.
 */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function meanInterval(values: readonly number[]): SweepInterval {
  const n = values.length;
  if (n === 0) return { n, mean: Number.NaN, std: 0, low: Number.NaN, high: Number.NaN, degenerate: true };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  if (n < 2 || !(std > 0)) return { n, mean, std: 0, low: mean, high: mean, degenerate: true };
  const t = T975[n - 2] ?? 1.96;
  const half = (t * std) / Math.sqrt(n);
  return { n, mean, std, low: mean - half, high: mean + half, degenerate: false };
}
