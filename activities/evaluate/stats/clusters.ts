/**
 * Per-cluster class counts: what a resampling round needs, precomputed once.
 *
 * Decision: accuracy and weighted F1 depend on the predictions only through three counts per class
 * (true positives, support, predicted count), and those add up over clusters. So each cluster is
 * reduced once to 3 x classes integers; a bootstrap or randomisation round then sums K clusters' counts
 * (O(K x classes)) and scores the sums with the evaluate stage's own formulas
 * (activities/model/metrics.ts), never touching the utterances again. Scores come from integer counts,
 * so resamples with equal counts get bit-identical scores, and ties (|stat| >= |observed|) are exact.
 */
import { weightedF1FromCounts } from '../../model/metrics.ts';

export type StatMetric = 'accuracy' | 'weightedF1';

/**
 * Class counts of one or more prediction sets of the same items, per cluster. One row of
 * `width` = C x (1 + 2S) integers per cluster, contiguous so a round adds a row in one tight loop:
 * [support (C) | tp of set 0 (C) | predicted of set 0 (C) | tp of set 1 | predicted of set 1 | ...].
 */
export interface ClusterCounts {
  readonly clusters: number;
  readonly classes: number;
  readonly sets: number;
  readonly width: number;
  /** Cluster names in order of first appearance: the order resampling indexes them in. */
  readonly names: readonly string[];
  readonly rows: Int32Array;
}

function checkIndices(what: string, values: readonly number[], classes: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new RangeError(`stats: ${what}[${i}] = ${v} is not a class index in [0, ${classes - 1}]`);
    }
  }
}

/** Counts of `predictions` (each against `yTrue`) per cluster; clusters numbered by first appearance. */
export function clusterCounts(
  yTrue: readonly number[],
  predictions: readonly (readonly number[])[],
  clusters: readonly string[],
  classes: number,
): ClusterCounts {
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`stats: classes must be >= 1, got ${classes}`);
  const n = yTrue.length;
  if (n === 0) throw new RangeError('stats: no items to score');
  if (clusters.length !== n) throw new RangeError(`stats: ${n} labels but ${clusters.length} cluster ids`);
  checkIndices('yTrue', yTrue, classes);
  predictions.forEach((p, s) => {
    if (p.length !== n) throw new RangeError(`stats: ${n} labels but ${p.length} predictions (set ${s})`);
    checkIndices(`predictions[${s}]`, p, classes);
  });
  const index = new Map<string, number>();
  const names: string[] = [];
  const of = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const name = clusters[i];
    if (typeof name !== 'string') throw new TypeError(`stats: clusters[${i}] is not a string`);
    let k = index.get(name);
    if (k === undefined) {
      k = names.length;
      index.set(name, k);
      names.push(name);
    }
    of[i] = k;
  }
  const C = classes;
  const sets = predictions.length;
  const width = C * (1 + 2 * sets);
  const rows = new Int32Array(names.length * width);
  for (let i = 0; i < n; i++) {
    const base = of[i] * width;
    const y = yTrue[i];
    rows[base + y]++;
    for (let s = 0; s < sets; s++) {
      const p = predictions[s][i];
      const set = base + C * (1 + 2 * s);
      if (p === y) rows[set + y]++;
      rows[set + C + p]++;
    }
  }
  return { clusters: names.length, classes: C, sets, width, names, rows };
}

/**
 * Running totals of one resample, laid out as a ClusterCounts row: class counts summed over the
 * clusters added. Reused across rounds (reset()), so a round allocates nothing.
 */
export class Totals {
  readonly sums: Float64Array;
  private readonly support: Float64Array;
  private readonly tp: Float64Array[];
  private readonly predicted: Float64Array[];
  constructor(readonly counts: ClusterCounts) {
    const C = counts.classes;
    this.sums = new Float64Array(counts.width);
    this.support = this.sums.subarray(0, C);
    this.tp = [];
    this.predicted = [];
    for (let s = 0; s < counts.sets; s++) {
      this.tp.push(this.sums.subarray(C * (1 + 2 * s), C * (2 + 2 * s)));
      this.predicted.push(this.sums.subarray(C * (2 + 2 * s), C * (3 + 2 * s)));
    }
  }
  reset(): void {
    this.sums.fill(0);
  }
  /** Adds cluster k's row `times` times. */
  add(k: number, times = 1): void {
    const w = this.counts.width;
    const rows = this.counts.rows;
    const sums = this.sums;
    const base = k * w;
    for (let j = 0; j < w; j++) sums[j] += times * rows[base + j];
  }
  /**
   * Adds K clusters drawn with replacement, floor(u K) for K successive draws u of `rand`. Counted as
   * multiplicities first (a drawn cluster is added once, times its count: about 37% of clusters are
   * never drawn). The sums are of integers, so the order of adding does not change them.
   */
  addResample(rand: () => number, multiplicity: Int32Array): void {
    const K = this.counts.clusters;
    multiplicity.fill(0);
    for (let j = 0; j < K; j++) multiplicity[Math.floor(rand() * K)]++;
    for (let k = 0; k < K; k++) if (multiplicity[k] !== 0) this.add(k, multiplicity[k]);
  }
  /** The metric of prediction set `s` on the totals. */
  score(s: number, metric: StatMetric): number {
    const support = this.support;
    const tp = this.tp[s];
    let n = 0;
    for (let c = 0; c < support.length; c++) n += support[c];
    if (metric === 'weightedF1') return weightedF1FromCounts(tp, support, this.predicted[s], n);
    if (n === 0) return 0;
    let correct = 0;
    for (let c = 0; c < tp.length; c++) correct += tp[c];
    return correct / n;
  }
}

/** The metric of prediction set `s` over all clusters. */
export function scoreAll(counts: ClusterCounts, s: number, metric: StatMetric): number {
  const t = new Totals(counts);
  for (let k = 0; k < counts.clusters; k++) t.add(k);
  return t.score(s, metric);
}

export function checkMetric(metric: string): asserts metric is StatMetric {
  if (metric !== 'accuracy' && metric !== 'weightedF1') {
    throw new RangeError(`stats: metric must be 'accuracy' or 'weightedF1', got '${metric}'`);
  }
}

/** A resampling seed: an unsigned 32-bit integer (mulberry32's state). */
export function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`stats: seed must be an integer in [0, 2^32 - 1], got ${seed}`);
  }
  return seed;
}

export function checkLevel(level: number): number {
  if (!(level > 0 && level < 1)) throw new RangeError(`stats: level must be in (0, 1), got ${level}`);
  return level;
}

export function checkRounds(rounds: number): number {
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new RangeError(`stats: rounds must be an integer >= 1, got ${rounds}`);
  return rounds;
}

/**
 * The q-quantile of sorted values, numpy's default `linear` method (Hyndman-Fan type 7), including
 * numpy's two-sided interpolation, so percentile intervals agree with np.quantile.
 */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const h = (n - 1) * q;
  const lo = Math.min(Math.max(Math.floor(h), 0), n - 1);
  const hi = Math.min(lo + 1, n - 1);
  const g = h - lo;
  const a = sorted[lo];
  const b = sorted[hi];
  const diff = b - a;
  return g >= 0.5 ? b - diff * (1 - g) : a + diff * g;
}
