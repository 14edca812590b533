import { z } from 'zod';

/**
 * `mer compare --json`: reports of several runs side by side (activities/evaluate/compare/).
 *
 * Decision record: a comparison is computed from what `mer report` fetches (metrics.json,
 * predictions/<variant>.parquet, run.json), never from training outputs, so a folder fetched months
 * ago compares like a live run. Each argument contributes one entry per dataset report it holds;
 * entries are named A, B, C, ... in argument order. Bump `version` when a field changes meaning.
 */

export const COMPARE_SCHEMA = 'mer-compare';
export const COMPARE_VERSION = 1;

const figures = z.strictObject({ accuracy: z.number(), weightedF1: z.number(), macroF1: z.number() });
export const HEADLINE_METRICS = ['accuracy', 'weightedF1', 'macroF1'] as const;
export type HeadlineMetric = (typeof HEADLINE_METRICS)[number];

/** An interval a report gave for a figure (its own method: bootstrap, t over seeds, ...). */
export const ReportedIntervalSchema = z.strictObject({
  low: z.number(),
  high: z.number(),
  /** What the report says it is, e.g. `bootstrap over dialogues, 95%`. */
  method: z.string(),
});

export const CompareEntrySchema = z.strictObject({
  /** A, B, C, ...: one per (argument, dataset). */
  id: z.string(),
  /** The argument as given (a run or a folder/metrics.json). */
  argument: z.string(),
  kind: z.enum(['run', 'report']),
  dataset: z.string(),
  evalKey: z.string(),
  labelSet: z.string(),
  protocol: z.string(),
  /** The config hash of the run (from the run or the fetched run.json); null when unknown. */
  configHash: z.string().nullable(),
  /** Where the report's files are on this machine. */
  dir: z.string(),
});
export type CompareEntry = z.infer<typeof CompareEntrySchema>;

export const CompareMetricsRowSchema = z.strictObject({
  entry: z.string(),
  dataset: z.string(),
  variant: z.string(),
  folds: z.int().min(1),
  /** Mean over folds (the report's headline) and the population std over folds. */
  mean: figures,
  std: figures,
  /** Intervals the report holds for these figures (absent when it has none): over seeds. */
  intervals: z.partialRecord(z.enum(HEADLINE_METRICS), ReportedIntervalSchema).optional(),
  /** The pooled predictions' figures with the report's bootstrap interval (absent when it has none). */
  pooled: z
    .partialRecord(z.enum(['accuracy', 'weightedF1']), ReportedIntervalSchema.extend({ estimate: z.number() }))
    .optional(),
});
export type CompareMetricsRow = z.infer<typeof CompareMetricsRowSchema>;

export const PairedResultSchema = z.strictObject({
  metric: z.enum(['accuracy', 'weightedF1']),
  /** Metric of B minus metric of A over the shared test utterances (pooled predictions). */
  difference: z.number(),
  low: z.number(),
  high: z.number(),
  pValue: z.number(),
  rounds: z.int(),
  method: z.string(),
  seed: z.int(),
});
export type PairedResult = z.infer<typeof PairedResultSchema>;

export const ComparePairSchema = z.strictObject({
  dataset: z.string(),
  variant: z.string(),
  a: z.string(),
  b: z.string(),
  /** True when both reports tested the same utterances with the same labels: the paired test ran. */
  coincide: z.boolean(),
  /** Test utterances in A and in B, and how they differ (0, 0, 0 when they coincide). */
  utterances: z.strictObject({ a: z.int(), b: z.int(), shared: z.int() }),
  onlyInA: z.int(),
  onlyInB: z.int(),
  /** Shared utterances whose true label differs (another label set or manifest). */
  labelDiffers: z.int(),
  /** Dialogues the paired test resamples. */
  dialogues: z.int().optional(),
  tests: z.array(PairedResultSchema).optional(),
  /** Why no test ran, in words (absent when it ran). */
  reason: z.string().optional(),
});
export type ComparePair = z.infer<typeof ComparePairSchema>;

export const DifferenceSchema = z.strictObject({
  /** Dotted path: `config.train.lr`, `provenance.encoders.text`, `run.segment.frames`, `labelSet`, ... */
  path: z.string(),
  /** JSON of the value on each side; null when that side does not have it. */
  a: z.string().nullable(),
  b: z.string().nullable(),
});
export type Difference = z.infer<typeof DifferenceSchema>;

export const ProvenanceDiffSchema = z.strictObject({
  dataset: z.string(),
  a: z.string(),
  b: z.string(),
  /** Everything that differs, sorted by path; empty when the two reports were made identically. */
  differences: z.array(DifferenceSchema),
});
export type ProvenanceDiff = z.infer<typeof ProvenanceDiffSchema>;

export const ComparisonSchema = z.strictObject({
  schema: z.literal(COMPARE_SCHEMA),
  version: z.literal(COMPARE_VERSION),
  entries: z.array(CompareEntrySchema).min(2),
  metrics: z.array(CompareMetricsRowSchema),
  pairs: z.array(ComparePairSchema),
  provenance: z.array(ProvenanceDiffSchema),
  /** The paired test's settings, in words (method, rounds, seed, clusters). */
  method: z.string(),
});
export type Comparison = z.infer<typeof ComparisonSchema>;
