/**
 * Evaluation metrics (model-spec section 6): one fold's figures from its test labels and predictions,
 * and their mean / std over folds.
 *
 * Semantics are scikit-learn's, checked against it to 1e-12 by test/evaluate/metrics.test.ts
 * (fixtures from scripts/evaluate/make_metrics_fixtures.py):
 * - per-class precision / recall / F1 = precision_recall_fscore_support(labels=range(C), zero_division=0);
 * - weighted F1 = f1_score(average='weighted'): per-class F1 weighted by support;
 * - macro F1 = f1_score(average='macro') with sklearn's default labels: the classes present in the
 *   labels or the predictions, so a class absent from both does not count as a 0;
 * - confusionNormalized = confusion_matrix(normalize='true'): rows divided by support, empty rows 0;
 * - std over folds = np.std, population (ddof=0).
 * The counting and the F1 figures come from activities/model/metrics.ts `classificationMetrics`, the
 * code model selection uses, so the evaluate stage and early stopping report the same weighted F1.
 */
import { classificationMetrics } from '../model/metrics.ts';
import type {
  AggregateMetrics,
  ClassMetrics,
  FoldMetrics,
  ReferenceClass,
  SummaryFigures,
} from '../../schemas/metrics.ts';

/** One fold's test labels and predictions, class indices into the label set. */
export interface FoldPredictions {
  readonly labels: ArrayLike<number>;
  readonly predicted: ArrayLike<number>;
}

export const REFERENCE_NOTE =
  "Per-class figures as the reference implementation reports them, for comparison with the paper's tables only: " +
  '"accuracy" is the class recall R, and "F1" is 2R/(1+R) (F1 with precision taken as 1, so false positives are ' +
  'ignored and it is never below the true F1). The standard per-class precision/recall/F1 are in perClass.';

function checkClasses(classes: readonly string[]): void {
  if (classes.length === 0) throw new Error('metrics: the label set has no classes');
  const seen = new Set<string>();
  for (const c of classes) {
    if (typeof c !== 'string' || c.length === 0) throw new Error('metrics: class names must be non-empty strings');
    if (seen.has(c)) throw new Error(`metrics: class "${c}" appears twice in the label set`);
    seen.add(c);
  }
}

function checkIndices(what: string, values: ArrayLike<number>, classes: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`metrics: ${what}[${i}] = ${v} is not a class index in [0, ${classes - 1}]`);
    }
  }
}

/**
 * Metrics of one fold's test predictions. `labels` and `predicted` are class indices into `classes`
 * (any ArrayLike: number[], Int32Array, ...), one per test sample.
 */
export function foldMetrics(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: readonly string[],
): FoldMetrics {
  checkClasses(classes);
  if (labels.length !== predicted.length) {
    throw new Error(`metrics: ${labels.length} labels but ${predicted.length} predictions`);
  }
  if (labels.length === 0) throw new Error('metrics: no samples to score');
  checkIndices('labels', labels, classes.length);
  checkIndices('predicted', predicted, classes.length);

  const m = classificationMetrics(labels, predicted, classes.length);
  const perClass: ClassMetrics[] = m.perClass.map((p, c) => ({
    class: classes[c],
    precision: p.precision,
    recall: p.recall,
    f1: p.f1,
    support: p.support,
  }));
  const confusion = m.confusion.map((row) => [...row]);
  const confusionNormalized = confusion.map((row, c) => {
    const support = perClass[c].support;
    return row.map((x) => (support === 0 ? 0 : x / support));
  });
  const reference: ReferenceClass[] = perClass.map((p) => ({
    class: p.class,
    accuracy: p.recall,
    f1: p.recall === 0 ? 0 : (2 * p.recall) / (1 + p.recall),
  }));
  return {
    n: m.n,
    accuracy: m.accuracy,
    weightedF1: m.weightedF1,
    macroF1: m.macroF1,
    perClass,
    confusion,
    confusionNormalized,
    reference: { perClass: reference, note: REFERENCE_NOTE },
  };
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Population standard deviation (ddof=0, numpy's np.std default): divides by the count. */
function populationStd(xs: readonly number[]): number {
  const mu = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - mu) * (x - mu);
  return Math.sqrt(s / xs.length);
}

function concat(parts: readonly ArrayLike<number>[]): number[] {
  const out: number[] = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]);
  return out;
}

/**
 * Mean and population std (ddof=0) over folds of accuracy, weighted F1, macro F1 and per-class F1
 * (every fold counts once), plus `pooled`: the metrics of all folds' predictions concatenated.
 */
export function aggregateMetrics(folds: readonly FoldPredictions[], classes: readonly string[]): AggregateMetrics {
  if (folds.length === 0) throw new Error('metrics: no folds to aggregate');
  const per = folds.map((f, i) => {
    try {
      return foldMetrics(f.labels, f.predicted, classes);
    } catch (err) {
      throw new Error(`fold ${i}: ${(err as Error).message}`, { cause: err });
    }
  });
  const summary = (stat: (xs: readonly number[]) => number): SummaryFigures => ({
    accuracy: stat(per.map((m) => m.accuracy)),
    weightedF1: stat(per.map((m) => m.weightedF1)),
    macroF1: stat(per.map((m) => m.macroF1)),
  });
  return {
    folds: per.length,
    mean: summary(mean),
    std: summary(populationStd),
    perClassF1: classes.map((name, c) => {
      const f1s = per.map((m) => m.perClass[c].f1);
      return { class: name, mean: mean(f1s), std: populationStd(f1s) };
    }),
    pooled: foldMetrics(concat(folds.map((f) => f.labels)), concat(folds.map((f) => f.predicted)), classes),
  };
}
