/**
 * Statistics of the evaluate stage (issue 18): intervals over seeds, cluster bootstrap intervals,
 * paired significance tests between variants and the Holm correction. Every figure is checked against
 * Python (scipy, numpy, scikit-learn, statsmodels) by test/evaluate/stats.test.ts, fixtures from
 * scripts/evaluate/make_stats_fixtures.py, which re-implements the generator and the resampling so the
 * resampled figures agree exactly, not only in distribution.
 *
 * Semantics (the report states them in two sentences; the details are here):
 * - Metrics: accuracy and weighted F1 exactly as activities/evaluate/metrics.ts computes them
 *   (scikit-learn, zero_division=0): the same code, fed per-class counts (activities/model/metrics.ts
 *   `weightedF1FromCounts`).
 * - Clusters: items are resampled or permuted by whole cluster (a dialogue for MELD, a dialogue or a
 *   session for IEMOCAP), since utterances of one dialogue are not independent. Clusters are numbered
 *   in order of first appearance; each is reduced once to per-class counts, so a round costs
 *   O(clusters x classes) whatever the number of utterances (clusters.ts).
 * - Generator: mulberry32 (activities/common/mulberry32.ts), seeded with an unsigned 32-bit `seed`;
 *   the same inputs and seed give the same bits on every machine.
 * - tInterval: mean, sample std (ddof = 1), mean +- t_{(1+level)/2, n-1} std / sqrt(n) (scipy.stats.t);
 *   n < 2 gives std 0, low = high = mean and `degenerate: true`.
 * - bootstrapInterval: percentile bootstrap; each of `rounds` rounds draws K cluster indices
 *   floor(u K) with replacement from mulberry32(seed); low/high are the (1 - level)/2 and (1 + level)/2
 *   quantiles of the round scores (numpy's default `linear` quantile); `estimate` is the full-data score.
 * - pairedTest, difference A - B on the same items: the interval is always the paired cluster bootstrap's
 *   (both systems scored on the same resampled clusters, mulberry32(seed), percentile). The two-sided
 *   p-value, by `method`:
 *   `randomisation` (default; approximate randomisation): each round swaps A's and B's predictions of
 *   each whole cluster with probability 1/2 (one draw u per cluster in cluster order, swap when u < 1/2,
 *   stream mulberry32(randomisationSeed(seed)) apart from the bootstrap's); p = (count + 1) / (rounds + 1)
 *   with count = rounds where |stat| >= |observed|. Assumes only that, under the null hypothesis, the two
 *   systems' predictions of a cluster are exchangeable.
 *   `bootstrap`: the shift method: the bootstrap differences centred on the observed one stand for the
 *   null distribution; p = (count + 1) / (rounds + 1) with count = rounds where |d* - observed| >=
 *   |observed|. Identical predictions give difference 0 and p = 1 under both.
 * - holm: Holm-Bonferroni step-down adjusted p-values (monotone, capped at 1); reject = adjusted <= alpha.
 */
export type { StatMetric } from './clusters.ts';
export { tInterval, type TInterval } from './t-interval.ts';
export { bootstrapInterval, type BootstrapInterval, type ClusteredPredictions } from './bootstrap.ts';
export { pairedTest, randomisationSeed, type PairedInput, type PairedMethod, type PairedResult } from './paired.ts';
export { holm, type HolmResult } from './holm.ts';
export { tQuantile } from './student-t.ts';
export { quantileSorted } from './clusters.ts';
