/**
 * Cluster (block) bootstrap of one system's metric: resample whole clusters with replacement, score
 * each resample, and take the percentile interval. Utterances of one dialogue share speakers, topic and
 * context, so they are not independent; resampling the dialogue (or session) keeps that dependence
 * inside each draw instead of pretending to n independent items, and the interval widens accordingly.
 */
import { mulberry32 } from '../../common/mulberry32.ts';
import {
  checkLevel,
  checkMetric,
  checkRounds,
  checkSeed,
  clusterCounts,
  quantileSorted,
  scoreAll,
  Totals,
  type StatMetric,
} from './clusters.ts';

export interface ClusteredPredictions {
  readonly yTrue: readonly number[];
  readonly yPred: readonly number[];
  /** The cluster (dialogue or session id) of each item. */
  readonly clusters: readonly string[];
  readonly classes: number;
}

export interface BootstrapInterval {
  /** The metric on all items (not the mean of the resamples). */
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
  readonly rounds: number;
  readonly clusters: number;
  readonly seed: number;
}

/**
 * Percentile bootstrap over whole clusters, seeded. Round r draws K cluster indices
 * floor(u * K) from mulberry32(seed), u in [0, 1), K the number of distinct clusters numbered by first
 * appearance; low/high are the (1 - level)/2 and (1 + level)/2 quantiles (numpy `linear`) of the rounds.
 */
export function bootstrapInterval(
  p: ClusteredPredictions,
  metric: StatMetric,
  opts: { rounds?: number; seed?: number; level?: number } = {},
): BootstrapInterval {
  checkMetric(metric);
  const rounds = checkRounds(opts.rounds ?? 1000);
  const seed = checkSeed(opts.seed ?? 0);
  const level = checkLevel(opts.level ?? 0.95);
  const counts = clusterCounts(p.yTrue, [p.yPred], p.clusters, p.classes);
  const K = counts.clusters;
  const rand = mulberry32(seed);
  const totals = new Totals(counts);
  const stats = new Float64Array(rounds);
  const multiplicity = new Int32Array(K);
  for (let r = 0; r < rounds; r++) {
    totals.reset();
    totals.addResample(rand, multiplicity);
    stats[r] = totals.score(0, metric);
  }
  stats.sort();
  return {
    estimate: scoreAll(counts, 0, metric),
    low: quantileSorted(stats, (1 - level) / 2),
    high: quantileSorted(stats, (1 + level) / 2),
    rounds,
    clusters: K,
    seed,
  };
}
