/**
 * Intervals and paired tests of the evaluate stage (issue 18), on top of the statistics library
 * (./stats/): how far each variant's metric moves with the training seed, how far its pooled figure
 * moves with the test utterances, and whether each ablation differs from the full model.
 *
 * Decision record:
 * - Over seeds: per seed the fold-aggregated metric (mean over its folds, the headline's definition),
 *   then mean, sample std and a Student t interval over seeds: seeds are independent repetitions.
 * - Over test utterances: a seed's predictions are stacked on the others' (each test utterance once
 *   per seed) and resampled or permuted by whole dialogue, with every seed's copy of the dialogue
 *   together. Utterances of one dialogue (and one seed's predictions of one utterance and another's)
 *   are not independent; the dialogue is the unit that is. Dialogues, not IEMOCAP sessions: five
 *   sessions give a bootstrap of five draws and a randomisation test whose smallest p-value is 1/32,
 *   while dialogues (about 150) still keep each conversation's turns together. Actors recur across a
 *   session's dialogues, a dependence this leaves out (the report says so).
 * - Paired: every variant against the first (the full model) on the same stacked items, approximate
 *   randomisation (10,000 rounds) for the p-value and the paired cluster bootstrap for the interval,
 *   accuracy and weighted F1; Holm over all those comparisons at alpha 0.05.
 * - Seeded with STATISTICS.seed: the same predictions give the same report bytes.
 */
import type { ManifestRow } from '../../schemas/manifest.ts';
import type { Comparison, PooledInterval, SeedSummary, Statistics } from '../../schemas/report.ts';
import type { SummaryFigures } from '../../schemas/metrics.ts';
import { bootstrapInterval, holm, pairedTest, tInterval, type StatMetric } from './stats/index.ts';

export const STATISTICS = {
  level: 0.95,
  alpha: 0.05,
  seed: 0,
  bootstrapRounds: 1000,
  test: { method: 'randomisation', rounds: 10_000 },
  clusterBy: 'dialogue',
} as const;

const METRICS: readonly StatMetric[] = ['accuracy', 'weightedF1'];

/** One training's test predictions, as the evaluate stage read them. */
export interface RunPredictions {
  seed: number;
  fold: string;
  utteranceIds: readonly string[];
  labels: ArrayLike<number>;
  predicted: ArrayLike<number>;
  metrics: SummaryFigures;
}

/** A variant's trainings, in the train result's order (seed, then fold). */
export interface VariantPredictions {
  name: string;
  runs: readonly RunPredictions[];
}

/** The dialogue of every manifest row: `<split>/<dialogueId>` (MELD numbers dialogues per split). */
export function dialogueClusters(rows: readonly Pick<ManifestRow, 'utteranceId' | 'split' | 'dialogueId'>[]) {
  const of = new Map<string, string>();
  for (const r of rows) of.set(r.utteranceId, `${r.split}/${r.dialogueId}`);
  return (id: string): string => {
    const c = of.get(id);
    if (c === undefined) throw new Error(`evaluate: utterance ${id} is not in the manifest`);
    return c;
  };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Per seed the mean over its folds, then mean, std (ddof=1) and t interval over seeds. */
export function seedSummary(runs: readonly RunPredictions[]): SeedSummary {
  const seeds = [...new Set(runs.map((r) => r.seed))];
  const perSeed = seeds.map((seed) => {
    const mine = runs.filter((r) => r.seed === seed);
    return {
      seed,
      mean: {
        accuracy: mean(mine.map((r) => r.metrics.accuracy)),
        weightedF1: mean(mine.map((r) => r.metrics.weightedF1)),
        macroF1: mean(mine.map((r) => r.metrics.macroF1)),
      },
    };
  });
  const t = (k: keyof SummaryFigures) =>
    tInterval(
      perSeed.map((s) => s.mean[k]),
      STATISTICS.level,
    );
  const acc = t('accuracy');
  const wf1 = t('weightedF1');
  const mf1 = t('macroF1');
  const at = (i: { mean: number; low: number; high: number }) => ({ estimate: i.mean, low: i.low, high: i.high });
  return {
    seeds,
    perSeed,
    mean: { accuracy: acc.mean, weightedF1: wf1.mean, macroF1: mf1.mean },
    std: { accuracy: acc.std, weightedF1: wf1.std, macroF1: mf1.std },
    level: STATISTICS.level,
    interval: { accuracy: at(acc), weightedF1: at(wf1), macroF1: at(mf1) },
    degenerate: acc.degenerate,
  };
}

interface Stack {
  keys: string[];
  yTrue: number[];
  yPred: number[];
  clusters: string[];
}

/** Every run's predictions one after the other, keyed by (seed, utterance). */
function stack(runs: readonly RunPredictions[], clusterOf: (id: string) => string): Stack {
  const s: Stack = { keys: [], yTrue: [], yPred: [], clusters: [] };
  for (const r of runs) {
    for (let i = 0; i < r.utteranceIds.length; i++) {
      s.keys.push(`${r.seed}\u0000${r.utteranceIds[i]}`);
      s.yTrue.push(r.labels[i]);
      s.yPred.push(r.predicted[i]);
      s.clusters.push(clusterOf(r.utteranceIds[i]));
    }
  }
  return s;
}

/** The stacked predictions' accuracy and weighted F1 with their cluster bootstrap intervals. */
export function pooledInterval(
  runs: readonly RunPredictions[],
  clusterOf: (id: string) => string,
  classes: number,
): PooledInterval {
  const s = stack(runs, clusterOf);
  const p = { yTrue: s.yTrue, yPred: s.yPred, clusters: s.clusters, classes };
  const opts = { rounds: STATISTICS.bootstrapRounds, seed: STATISTICS.seed, level: STATISTICS.level };
  const acc = bootstrapInterval(p, 'accuracy', opts);
  const wf1 = bootstrapInterval(p, 'weightedF1', opts);
  return {
    level: STATISTICS.level,
    rounds: acc.rounds,
    seed: acc.seed,
    clusterBy: STATISTICS.clusterBy,
    clusters: acc.clusters,
    items: s.yTrue.length,
    accuracy: { estimate: acc.estimate, low: acc.low, high: acc.high },
    weightedF1: { estimate: wf1.estimate, low: wf1.low, high: wf1.high },
  };
}

/**
 * Every variant after the first against the first on the (seed, utterance) items both have, for
 * accuracy and weighted F1; p-values Holm-adjusted over all of them.
 */
export function compareVariants(
  variants: readonly VariantPredictions[],
  clusterOf: (id: string) => string,
  classes: number,
): Comparison[] {
  const [full, ...others] = variants;
  if (!full) return [];
  const base = stack(full.runs, clusterOf);
  const tests: Omit<Comparison, 'pAdjusted' | 'holds'>[] = [];
  for (const v of others) {
    const mine = stack(v.runs, clusterOf);
    const at = new Map(mine.keys.map((k, i) => [k, i]));
    const idx = base.keys
      .map((k, i) => [i, at.get(k)] as const)
      .filter((p): p is [number, number] => p[1] !== undefined);
    if (!idx.length) throw new Error(`evaluate: variant ${v.name} shares no test predictions with ${full.name}`);
    const input = {
      yTrue: idx.map(([i]) => base.yTrue[i]),
      predA: idx.map(([, j]) => mine.yPred[j]),
      predB: idx.map(([i]) => base.yPred[i]),
      clusters: idx.map(([i]) => base.clusters[i]),
      classes,
    };
    const clusters = new Set(input.clusters).size;
    for (const metric of METRICS) {
      const r = pairedTest(input, metric, {
        method: STATISTICS.test.method,
        rounds: STATISTICS.test.rounds,
        seed: STATISTICS.seed,
        level: STATISTICS.level,
      });
      tests.push({
        variant: v.name,
        baseline: full.name,
        metric,
        difference: r.difference,
        low: r.low,
        high: r.high,
        pValue: r.pValue,
        items: input.yTrue.length,
        clusters,
      });
    }
  }
  const adjusted = holm(
    tests.map((t) => t.pValue),
    STATISTICS.alpha,
  );
  return tests.map((t, i) => ({ ...t, pAdjusted: adjusted.adjusted[i], holds: adjusted.reject[i] }));
}

/** The method, its assumptions and its seed, in two sentences, for the report and metrics.json. */
export function statistics(seeds: readonly number[], dataset: string): Statistics {
  const s = STATISTICS;
  const pct = `${Math.round(s.level * 100)}%`;
  const unit = dataset === 'iemocap' ? 'dialogues (not sessions: five are too few to resample)' : 'dialogues';
  const statement =
    `Intervals are ${pct}: over the ${seeds.length} training seed(s) (${seeds.join(', ')}) a Student t interval of the fold-aggregated metric, and for pooled predictions (every seed's test predictions stacked) a percentile bootstrap of ${s.bootstrapRounds.toLocaleString('en-US')} rounds resampling whole ${unit}, seed ${s.seed}. ` +
    `Each variant is compared with the full model on the same stacked test utterances by approximate randomisation over dialogues (${s.test.rounds.toLocaleString('en-US')} rounds, seed ${s.seed}; assumes only that the two models' predictions of a dialogue are exchangeable under no difference, and treats dialogues as independent although actors recur across them), with p-values Holm-adjusted over all comparisons (variants and metrics) and a difference said to hold at adjusted p <= ${s.alpha}.`;
  return {
    level: s.level,
    alpha: s.alpha,
    seed: s.seed,
    bootstrapRounds: s.bootstrapRounds,
    test: { method: s.test.method, rounds: s.test.rounds },
    clusterBy: s.clusterBy,
    seeds: [...seeds],
    statement,
  };
}
