/** Classification metrics used for model selection (weighted F1, as model-spec section 5). */

export interface ClassificationMetrics {
  readonly n: number;
  readonly accuracy: number;
  /** Support-weighted mean of per-class F1 (sklearn `average='weighted'`). */
  readonly weightedF1: number;
  /** Unweighted mean over classes that occur in labels or predictions (sklearn `macro`). */
  readonly macroF1: number;
  readonly perClass: readonly {
    readonly precision: number;
    readonly recall: number;
    readonly f1: number;
    readonly support: number;
  }[];
  /** confusion[true][predicted] */
  readonly confusion: readonly (readonly number[])[];
}

export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  const n = logits.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

/**
 * Precision, recall and F1 of one class from its counts, scikit-learn's `zero_division=0`: the one place
 * this formula lives (classificationMetrics and the evaluate stage's resampling statistics both use it).
 */
export function classFigures(
  tp: number,
  support: number,
  predicted: number,
): { precision: number; recall: number; f1: number } {
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = support === 0 ? 0 : tp / support;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

/**
 * Weighted F1 (sklearn `average='weighted'`) from per-class counts: true positives, support and
 * predicted count of each class, summed over classes in index order. `n` is the number of samples.
 * Allocation-free, so resampling statistics can call it once per round.
 */
export function weightedF1FromCounts(
  tp: ArrayLike<number>,
  support: ArrayLike<number>,
  predicted: ArrayLike<number>,
  n: number,
): number {
  if (n === 0) return 0;
  let s = 0;
  for (let c = 0; c < tp.length; c++) s += classFigures(tp[c], support[c], predicted[c]).f1 * support[c];
  return s / n;
}

export function classificationMetrics(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  classes: number,
): ClassificationMetrics {
  if (labels.length !== predictions.length) throw new Error('metrics: labels and predictions differ in length');
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    confusion[labels[i]][predictions[i]]++;
    if (labels[i] === predictions[i]) correct++;
  }
  const perClass = confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((s, x) => s + x, 0);
    const predicted = confusion.reduce((s, r) => s + r[c], 0);
    return { ...classFigures(tp, support, predicted), support, predicted };
  });
  const n = labels.length;
  const present = perClass.filter((p) => p.support > 0 || p.predicted > 0);
  return {
    n,
    accuracy: n === 0 ? 0 : correct / n,
    weightedF1: weightedF1FromCounts(
      perClass.map((_, c) => confusion[c][c]),
      perClass.map((p) => p.support),
      perClass.map((p) => p.predicted),
      n,
    ),
    macroF1: present.length === 0 ? 0 : present.reduce((s, p) => s + p.f1, 0) / present.length,
    perClass: perClass.map(({ precision, recall, f1, support }) => ({ precision, recall, f1, support })),
    confusion,
  };
}
