/**
 * Paired comparison of two systems' predictions on the same items (difference A - B), by whole clusters.
 * Pairing removes the between-item variance the two systems share (hard utterances are hard for both),
 * so a paired test detects differences far smaller than two separate intervals would.
 */
import { mulberry32 } from '../../common/mulberry32.ts';
import { fmix32 } from '../../model/rng.ts';
import {
  checkLevel,
  checkMetric,
  checkRounds,
  checkSeed,
  clusterCounts,
  quantileSorted,
  scoreAll,
  Totals,
  type ClusterCounts,
  type StatMetric,
} from './clusters.ts';

export interface PairedInput {
  readonly yTrue: readonly number[];
  readonly predA: readonly number[];
  readonly predB: readonly number[];
  readonly clusters: readonly string[];
  readonly classes: number;
}

export type PairedMethod = 'bootstrap' | 'randomisation';

export interface PairedResult {
  /** metric(A) - metric(B) on all items. */
  readonly difference: number;
  /** Paired cluster-bootstrap percentile interval of the difference (whichever method gives the p-value). */
  readonly low: number;
  readonly high: number;
  /** Two-sided. */
  readonly pValue: number;
  readonly rounds: number;
  readonly method: PairedMethod;
  readonly seed: number;
}

/** The randomisation test's stream seed: a stream apart from the bootstrap's mulberry32(seed). */
export function randomisationSeed(seed: number): number {
  return fmix32((seed ^ 0x5bd1e995) >>> 0);
}

/** Paired bootstrap: per round, the same K resampled clusters score both systems. */
function pairedBootstrap(counts: ClusterCounts, metric: StatMetric, rounds: number, seed: number): Float64Array {
  const K = counts.clusters;
  const rand = mulberry32(seed);
  const t = new Totals(counts);
  const out = new Float64Array(rounds);
  const multiplicity = new Int32Array(K);
  for (let r = 0; r < rounds; r++) {
    t.reset();
    t.addResample(rand, multiplicity);
    out[r] = t.score(0, metric) - t.score(1, metric);
  }
  return out;
}

/**
 * Approximate randomisation: the count of rounds with |stat| >= |observed|. Swapping cluster k moves
 * d_k = (B's tp and predicted counts - A's) from B's totals to A's; support does not change. Only
 * clusters where A and B differ have a non-zero d_k, so only those are touched.
 */
function randomisationCount(
  counts: ClusterCounts,
  metric: StatMetric,
  rounds: number,
  seed: number,
  observed: number,
): number {
  const K = counts.clusters;
  const C = counts.classes;
  const w = counts.width;
  const rows = counts.rows;
  // Row layout: [support | tpA | predA | tpB | predB], C each; A's counts at C, B's at 3C.
  const delta = new Float64Array(K * 2 * C);
  const differs = new Uint8Array(K);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < 2 * C; j++) {
      const d = rows[k * w + 3 * C + j] - rows[k * w + C + j];
      delta[k * 2 * C + j] = d;
      if (d !== 0) differs[k] = 1;
    }
  }
  const base = new Totals(counts);
  for (let k = 0; k < K; k++) base.add(k);
  const t = new Totals(counts);
  const sums = t.sums;
  const rand = mulberry32(seed);
  const bar = Math.abs(observed);
  let count = 0;
  for (let r = 0; r < rounds; r++) {
    sums.set(base.sums);
    for (let k = 0; k < K; k++) {
      // One draw per cluster whether or not it differs, so the stream is the same for any predictions.
      if (rand() < 0.5 && differs[k] === 1) {
        const off = k * 2 * C;
        for (let j = 0; j < 2 * C; j++) {
          sums[C + j] += delta[off + j];
          sums[3 * C + j] -= delta[off + j];
        }
      }
    }
    if (Math.abs(t.score(0, metric) - t.score(1, metric)) >= bar) count++;
  }
  return count;
}

/**
 * Paired test of A against B over whole clusters. The interval is always the paired cluster bootstrap's
 * (mulberry32(seed), percentile). The two-sided p-value: `randomisation` swaps A's and B's predictions of
 * each whole cluster with probability 1/2 (mulberry32(randomisationSeed(seed)), one draw per cluster in
 * order of first appearance, swap when u < 1/2) and gives (count + 1) / (rounds + 1), count = rounds
 * with |stat| >= |observed|; `bootstrap` uses the shift method on the bootstrap rounds: the resampled
 * differences centred on the observed one stand for the null distribution, p = (count + 1) / (rounds + 1)
 * with count = rounds where |d* - observed| >= |observed|.
 */
export function pairedTest(
  input: PairedInput,
  metric: StatMetric,
  opts: { method?: PairedMethod; rounds?: number; seed?: number; level?: number } = {},
): PairedResult {
  checkMetric(metric);
  const method = opts.method ?? 'randomisation';
  if (method !== 'bootstrap' && method !== 'randomisation') {
    throw new RangeError(`stats: method must be 'bootstrap' or 'randomisation', got '${String(method)}'`);
  }
  const rounds = checkRounds(opts.rounds ?? 10000);
  const seed = checkSeed(opts.seed ?? 0);
  const level = checkLevel(opts.level ?? 0.95);
  const counts = clusterCounts(input.yTrue, [input.predA, input.predB], input.clusters, input.classes);
  const difference = scoreAll(counts, 0, metric) - scoreAll(counts, 1, metric);
  const boot = pairedBootstrap(counts, metric, rounds, seed);
  let count = 0;
  if (method === 'bootstrap') {
    const bar = Math.abs(difference);
    for (let r = 0; r < rounds; r++) if (Math.abs(boot[r] - difference) >= bar) count++;
  } else {
    count = randomisationCount(counts, metric, rounds, randomisationSeed(seed), difference);
  }
  boot.sort();
  return {
    difference,
    low: quantileSorted(boot, (1 - level) / 2),
    high: quantileSorted(boot, (1 + level) / 2),
    pValue: (count + 1) / (rounds + 1),
    rounds,
    method,
    seed,
  };
}
