import { z } from 'zod';

/**
 * Evaluation metrics of one fold and across folds (model-spec section 6), as the evaluate stage
 * stores and reports them. Computed by activities/evaluate/metrics.ts with scikit-learn's semantics
 * (zero_division=0; macro F1 over the classes present in labels or predictions), the same numbers
 * activities/model/metrics.ts gives model selection, checked against sklearn in
 * test/fixtures/evaluate/sklearn-metrics.json.
 */

/** A rate in [0, 1]: accuracy, precision, recall, F1, a normalised confusion cell. */
const rate = z.number().min(0).max(1);

export const ClassMetricsSchema = z.strictObject({
  /** Class name, so rows stay readable when stored apart from the label set. */
  class: z.string().min(1),
  /** 0 when the class is never predicted (sklearn zero_division=0). */
  precision: rate,
  /** 0 when the class has no test samples (support 0). */
  recall: rate,
  /** 2PR/(P+R), 0 when P+R is 0. */
  f1: rate,
  /** Test samples of this class; rows are kept for support-0 classes so every fold has every class. */
  support: z.int().min(0),
});
export type ClassMetrics = z.infer<typeof ClassMetricsSchema>;

/**
 * The reference implementation's per-class figures, kept only so results can be set beside the
 * paper's tables. They are not standard metrics: do not compare them with ClassMetrics.
 */
export const ReferenceClassSchema = z.strictObject({
  class: z.string().min(1),
  /** What the reference calls per-class "accuracy": the class's recall. */
  accuracy: rate,
  /**
   * What the reference reports as per-class F1: 2R/(1+R), i.e. F1 with precision taken as 1. It
   * ignores false positives, so it is never below the true F1.
   */
  f1: rate,
});
export type ReferenceClass = z.infer<typeof ReferenceClassSchema>;

const square = (m: readonly (readonly unknown[])[]) => m.every((row) => row.length === m.length);

export const FoldMetricsSchema = z
  .strictObject({
    /** Test samples scored. */
    n: z.int().min(1),
    accuracy: rate,
    /** Support-weighted mean of per-class F1 (sklearn average='weighted'): the model-selection metric. */
    weightedF1: rate,
    /**
     * Unweighted mean of per-class F1 over the classes present in labels or predictions (sklearn's
     * default labels), so a class absent from a fold neither helps nor drags the figure down.
     */
    macroF1: rate,
    /** One row per class of the label set, in label-index order, support-0 classes included. */
    perClass: z.array(ClassMetricsSchema).min(1),
    /** Counts, confusion[true][predicted], C x C in label-index order. */
    confusion: z.array(z.array(z.int().min(0))),
    /**
     * Each row divided by its support (sklearn normalize='true'): row i is where class i's samples
     * went. A row of a class with no samples is all 0 rather than NaN, so it stays valid JSON.
     */
    confusionNormalized: z.array(z.array(rate)),
    reference: z.strictObject({
      perClass: z.array(ReferenceClassSchema),
      /** Says in words what the reference figures are, for anyone reading a stored report. */
      note: z.string(),
    }),
  })
  .superRefine((m, ctx) => {
    const c = m.perClass.length;
    for (const key of ['confusion', 'confusionNormalized'] as const) {
      if (m[key].length !== c || !square(m[key]))
        ctx.addIssue({ code: 'custom', message: `${key} must be ${c} x ${c}`, path: [key] });
    }
    if (m.reference.perClass.length !== c)
      ctx.addIssue({ code: 'custom', message: `reference.perClass needs ${c} rows`, path: ['reference', 'perClass'] });
    if (m.perClass.reduce((s, p) => s + p.support, 0) !== m.n)
      ctx.addIssue({ code: 'custom', message: 'supports must add up to n', path: ['n'] });
  });
export type FoldMetrics = z.infer<typeof FoldMetricsSchema>;

/** The headline figures, as mean or as std over folds. */
export const SummaryFiguresSchema = z.strictObject({
  accuracy: z.number().min(0),
  weightedF1: z.number().min(0),
  macroF1: z.number().min(0),
});
export type SummaryFigures = z.infer<typeof SummaryFiguresSchema>;

export const AggregateMetricsSchema = z.strictObject({
  /** Folds averaged over. */
  folds: z.int().min(1),
  /** Unweighted mean of the per-fold figures: every fold counts once, whatever its size (the paper's way). */
  mean: SummaryFiguresSchema,
  /**
   * Population standard deviation over folds (divides by the number of folds: numpy's np.std
   * default, ddof=0), as the reference reports it; 0 for a single fold.
   */
  std: SummaryFiguresSchema,
  /**
   * Per-class F1 mean and std (ddof=0) over folds. A fold where a class has no samples and is
   * never predicted counts as F1 0 for it (sklearn labels=range(C), zero_division=0).
   */
  perClassF1: z.array(z.strictObject({ class: z.string().min(1), mean: rate, std: z.number().min(0) })),
  /**
   * Metrics of all folds' predictions concatenated: one figure over every test utterance, which for
   * protocols whose test folds partition the data (loso, paper) covers the whole dataset once.
   */
  pooled: FoldMetricsSchema,
});
export type AggregateMetrics = z.infer<typeof AggregateMetricsSchema>;
