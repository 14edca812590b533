/**
 * Holm-Bonferroni step-down correction for m comparisons (e.g. every ablation variant against the full
 * model): controls the family-wise error rate at alpha under any dependence between the tests, and is
 * uniformly more powerful than plain Bonferroni.
 */

export interface HolmResult {
  /** Adjusted p-values in the input order: monotone in the sorted order, capped at 1. */
  readonly adjusted: number[];
  /** adjusted <= alpha. */
  readonly reject: boolean[];
}

/**
 * Sort ascending p(1) <= ... <= p(m) (ties keep input order); adjusted p(i) = min(1, max over j <= i of
 * (m - j + 1) p(j)); a hypothesis is rejected when its adjusted p-value is <= alpha (the same as
 * stepping down while p(i) <= alpha / (m - i + 1)). As statsmodels multipletests(method='holm').
 */
export function holm(pValues: readonly number[], alpha = 0.05): HolmResult {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`holm: alpha must be in (0, 1), got ${alpha}`);
  pValues.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`holm: p-value [${i}] = ${p} is not in [0, 1]`);
  });
  const m = pValues.length;
  const order = pValues.map((_, i) => i).sort((i, j) => pValues[i] - pValues[j] || i - j);
  const adjusted = new Array<number>(m).fill(0);
  let running = 0;
  order.forEach((idx, rank) => {
    running = Math.max(running, (m - rank) * pValues[idx]);
    adjusted[idx] = Math.min(1, running);
  });
  return { adjusted, reject: adjusted.map((p) => p <= alpha) };
}
