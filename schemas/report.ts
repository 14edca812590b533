import { z } from 'zod';
import { AggregateMetricsSchema, FoldMetricsSchema, SummaryFiguresSchema } from './metrics.ts';
import { SlicesSchema } from './slices.ts';

/**
 * `reports/<evalKey>/metrics.json`: everything the evaluate stage measured for one dataset of a run,
 * machine-readable. report.md and report.html are renderings of this document (plus figures).
 * Bump `version` when a field changes meaning; readers check it.
 *
 * The report is a content-addressed object: the same key holds the same bytes in every store, so it
 * says nothing about the run that wrote it. What belongs to a run (its config hash, its stage timings)
 * is written beside it per run: `reports/<evalKey>/runs/<configHash>.json` (ReportRunSchema).
 * Version 1 reports embedded both (`provenance.configHash`, `stages.timings`); readMetricsReport still
 * reads them.
 */

export const REPORT_SCHEMA = 'mer-metrics';
export const REPORT_VERSION = 3;

const meanStd = z.strictObject({ mean: z.number(), std: z.number() });

/** A figure with its interval (issue 18): a seed mean and its t interval, or a pooled score and its bootstrap interval. */
const estimateInterval = z.strictObject({ estimate: z.number(), low: z.number(), high: z.number() });

/**
 * Version 3: how much the fold-aggregated metric moves with the training seed (`train.seeds`): per seed
 * the mean over its folds, then the mean, sample std (ddof=1) and Student t interval over seeds.
 * One seed: std 0 and a degenerate interval (low = high = mean).
 */
export const SeedSummarySchema = z.strictObject({
  seeds: z.array(z.int().nonnegative()).min(1),
  perSeed: z.array(z.strictObject({ seed: z.int().nonnegative(), mean: SummaryFiguresSchema })),
  mean: SummaryFiguresSchema,
  std: SummaryFiguresSchema,
  level: z.number(),
  interval: z.strictObject({ accuracy: estimateInterval, weightedF1: estimateInterval, macroF1: estimateInterval }),
  degenerate: z.boolean(),
});
export type SeedSummary = z.infer<typeof SeedSummarySchema>;

/**
 * Version 3: the metric of every seed's test predictions stacked (each test utterance once per seed)
 * and its percentile bootstrap interval, resampling whole clusters (`clusterBy`: dialogues).
 */
export const PooledIntervalSchema = z.strictObject({
  level: z.number(),
  rounds: z.int().positive(),
  seed: z.int().nonnegative(),
  clusterBy: z.string(),
  clusters: z.int().nonnegative(),
  items: z.int().nonnegative(),
  accuracy: estimateInterval,
  weightedF1: estimateInterval,
});
export type PooledInterval = z.infer<typeof PooledIntervalSchema>;

/** Version 3: one ablation variant against the full model (the first variant) on the same stacked test items. */
export const ComparisonSchema = z.strictObject({
  variant: z.string(),
  baseline: z.string(),
  metric: z.enum(['accuracy', 'weightedF1']),
  /** metric(variant) - metric(baseline). */
  difference: z.number(),
  /** Paired cluster bootstrap interval of the difference, at `statistics.level`. */
  low: z.number(),
  high: z.number(),
  pValue: z.number().min(0).max(1),
  /** Holm-adjusted over every comparison of the report (all variants and both metrics). */
  pAdjusted: z.number().min(0).max(1),
  /** The difference holds: pAdjusted <= statistics.alpha. */
  holds: z.boolean(),
  items: z.int().nonnegative(),
  clusters: z.int().nonnegative(),
});
export type Comparison = z.infer<typeof ComparisonSchema>;

/** Version 3: how the intervals and tests were made, and the report's two sentences saying so. */
export const StatisticsSchema = z.strictObject({
  level: z.number(),
  alpha: z.number(),
  seed: z.int().nonnegative(),
  bootstrapRounds: z.int().positive(),
  test: z.strictObject({ method: z.enum(['randomisation', 'bootstrap']), rounds: z.int().positive() }),
  clusterBy: z.string(),
  seeds: z.array(z.int().nonnegative()),
  statement: z.string(),
});
export type Statistics = z.infer<typeof StatisticsSchema>;

export const VariantFoldSchema = z.strictObject({
  fold: z.string(),
  /** The training's seed (version 3; with `train.seeds` a fold appears once per seed). */
  seed: z.int().nonnegative().optional(),
  /** What the fold tests on (`Session3`, `fold 3 of 10`, `test`). */
  testGroup: z.string(),
  trainKey: z.string(),
  /** Selected epoch (0-based); null when the fold had no validation split. */
  bestEpoch: z.int().nullable(),
  epochs: z.int().nonnegative(),
  /** Optimiser step a retry resumed from (0: uninterrupted). */
  resumedFromStep: z.int().nonnegative(),
  seconds: z.number().nonnegative(),
  metrics: FoldMetricsSchema,
});

export const VariantReportSchema = z.strictObject({
  name: z.string(),
  modalities: z.array(z.enum(['t', 'a', 'v'])),
  vsc: z.boolean(),
  contrastive: z.boolean(),
  folds: z.array(VariantFoldSchema).min(1),
  /** Over every (fold, seed) training: each counts once; `pooled` stacks every seed's predictions. */
  aggregate: AggregateMetricsSchema,
  /**
   * `predictions/<variant>.parquet` under the report: utteranceId, fold, label, predicted, probabilities
   * (the first seed's; every seed's are in its trainings' test-predictions.parquet).
   */
  predictionsKey: z.string(),
  /** Version 3 (absent in older reports): the metric over seeds. */
  seeds: SeedSummarySchema.optional(),
  /** Version 3 (absent in older reports): pooled predictions with a cluster bootstrap interval. */
  pooledInterval: PooledIntervalSchema.optional(),
});
export type VariantReport = z.infer<typeof VariantReportSchema>;

export const AblationRowSchema = z.strictObject({
  variant: z.string(),
  modalities: z.array(z.enum(['t', 'a', 'v'])),
  vsc: z.boolean(),
  contrastive: z.boolean(),
  accuracy: meanStd,
  weightedF1: meanStd,
  macroF1: meanStd,
});

/** A (variant, fold) whose training diverged: its variant is listed here instead of being scored. */
export const DivergedRunSchema = z.strictObject({
  variant: z.string(),
  fold: z.string(),
  trainKey: z.string(),
  epoch: z.int().nonnegative(),
  step: z.int().nonnegative(),
  loss: z.string(),
  /** Where it diverged and which setting to change. */
  message: z.string(),
});
export type DivergedRun = z.infer<typeof DivergedRunSchema>;

/** A modality that carried (almost) no information in a variant's training data (activities/train/variance.ts). */
export const ModalityNoticeSchema = z.strictObject({
  variant: z.string(),
  /** The folds it was found in. */
  folds: z.array(z.string()),
  modality: z.enum(['t', 'a', 'v']),
  /** The largest mean per-dimension variance over those folds. */
  variance: z.number(),
  message: z.string(),
});
export type ModalityNotice = z.infer<typeof ModalityNoticeSchema>;

export const StageTimeSchema = z.strictObject({
  stage: z.string(),
  status: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** Wall time of the stage in the run that produced this report (reused stages take seconds). */
  seconds: z.number().nonnegative().optional(),
});
export type StageTime = z.infer<typeof StageTimeSchema>;

/**
 * An encoder as the extract stage ran it (issue 17): its family (schemas/encoder-families.ts), the
 * model_type of its config.json, and the sha256 of each file the stage read (the folder fingerprint
 * in `provenance.encoders` hashes these).
 */
export const EncoderIdentitySchema = z.strictObject({
  family: z.string(),
  modelType: z.string(),
  files: z.array(z.strictObject({ path: z.string(), size: z.int().min(0), sha256: z.string() })),
});
export type EncoderIdentity = z.infer<typeof EncoderIdentitySchema>;

export const MetricsReportSchema = z.strictObject({
  schema: z.literal(REPORT_SCHEMA),
  version: z.literal(REPORT_VERSION),
  evalKey: z.string(),
  dataset: z.enum(['iemocap', 'meld']),
  labelSet: z.string(),
  classes: z.array(z.string()).min(2),
  protocol: z.string(),
  /** True when model selection looked at the test folds (`paper` protocol): the results are optimistic. */
  optimistic: z.boolean(),
  /** The settings the trainings and their inputs were made with (train and VSC parameters as configured). */
  config: z.strictObject({
    train: z.record(z.string(), z.unknown()),
    vsc: z.record(z.string(), z.unknown()),
  }),
  provenance: z.strictObject({
    /** Content address of the downloaded or imported source, and the manifest parsed from it. */
    sourceKey: z.string(),
    manifestKey: z.string(),
    /** sha256 fingerprints of the encoder folders. */
    encoders: z.strictObject({ text: z.string(), audio: z.string(), visual: z.string() }),
    featureKeys: z.strictObject({ text: z.string(), audio: z.string(), visual: z.string() }),
    /** Each encoder's family, model_type and file hashes (issue 17); absent in older reports, null per modality when unknown. */
    encoderModels: z
      .strictObject({
        text: EncoderIdentitySchema.nullable(),
        audio: EncoderIdentitySchema.nullable(),
        visual: EncoderIdentitySchema.nullable(),
      })
      .optional(),
    vscKeys: z.array(z.string()),
    splitsKey: z.string(),
    /** The package version and the code versions that enter the stage cache keys. */
    code: z.strictObject({ package: z.string(), train: z.int(), vsc: z.int(), evaluate: z.int() }),
  }),
  /** In the order of the run's variants, less the diverged ones; the first is the headline. */
  variants: z.array(VariantReportSchema).min(1),
  /** Trainings that diverged (absent when none): their variants are not in `variants`. */
  diverged: z.array(DivergedRunSchema).optional(),
  /** Modalities without variance in the training data (absent when none). */
  warnings: z.array(ModalityNoticeSchema).optional(),
  /** The paper's ablation layout when the run trained more than one variant, else null. */
  ablation: z.array(AblationRowSchema).nullable(),
  /** Version 3: every other variant against the first, paired (absent in older reports; [] for one variant). */
  comparisons: z.array(ComparisonSchema).optional(),
  /** Version 3: the statistical method, its settings and its statement (absent in older reports). */
  statistics: StatisticsSchema.optional(),
  /** Every variant's test metrics by gender, speaker, interaction and duration (schemas/slices.ts); absent in older reports. */
  slices: SlicesSchema.optional(),
  stages: z.strictObject({
    acquire: z.strictObject({ rows: z.int(), inLabelSet: z.int(), issues: z.int() }),
    segment: z.strictObject({
      utterances: z.int(),
      ok: z.int(),
      quarantined: z.int(),
      reasons: z.record(z.string(), z.int()),
      audioSeconds: z.number(),
    }),
    extract: z.record(
      z.string(),
      z.strictObject({ ok: z.int(), quarantined: z.int(), reasons: z.record(z.string(), z.int()), dim: z.int() }),
    ),
    compress: z.array(
      z.strictObject({
        vscKey: z.string(),
        enabled: z.boolean(),
        utterances: z.int(),
        ratio: z.number(),
        byteRatio: z.number(),
        seconds: z.number(),
      }),
    ),
    train: z.strictObject({ trainings: z.int(), seconds: z.number(), resumed: z.int() }),
    splits: z.strictObject({ rows: z.int(), unlabelled: z.int(), excluded: z.int(), used: z.int() }),
  }),
  figures: z.array(z.strictObject({ id: z.string(), file: z.string(), caption: z.string() })),
});
export type MetricsReport = z.infer<typeof MetricsReportSchema>;

/** Version 2: as version 3 without seeds, intervals, comparisons and statistics (all optional there). */
export const MetricsReportV2Schema = MetricsReportSchema.extend({ version: z.literal(2) });

/** Version 1: as version 2 plus the writing run's config hash and stage timings inside the report. */
export const MetricsReportV1Schema = MetricsReportSchema.extend({
  version: z.literal(1),
  provenance: MetricsReportSchema.shape.provenance.extend({ configHash: z.string() }),
  stages: MetricsReportSchema.shape.stages.extend({ timings: z.array(StageTimeSchema) }),
});

/** `reports/<evalKey>/runs/<configHash>.json`: one run's side of a report (written or reused by it). */
export const REPORT_RUN_SCHEMA = 'mer-report-run';
export const ReportRunSchema = z.strictObject({
  schema: z.literal(REPORT_RUN_SCHEMA),
  version: z.literal(1),
  evalKey: z.string(),
  /** The run's config hash (its workflow id is `mer-<configHash>`). */
  configHash: z.string(),
  /** False when the run found the report committed and reused it. */
  wrote: z.boolean(),
  /** The run's stage timings up to evaluate (workflow time, from its progress). */
  timings: z.array(StageTimeSchema),
});
export type ReportRun = z.infer<typeof ReportRunSchema>;

/**
 * Reads a stored metrics.json of any version: the report in the current shape, plus, for a version 1
 * report, the run side it embedded (null for version 2: that lives in `runs/<configHash>.json`).
 */
export function readMetricsReport(raw: unknown): { report: MetricsReport; embeddedRun: ReportRun | null } {
  const version = (raw as { version?: unknown } | null)?.version;
  if (version === 2)
    return { report: { ...MetricsReportV2Schema.parse(raw), version: REPORT_VERSION }, embeddedRun: null };
  if (version !== 1) return { report: MetricsReportSchema.parse(raw), embeddedRun: null };
  const v1 = MetricsReportV1Schema.parse(raw);
  const { configHash, ...provenance } = v1.provenance;
  const { timings, ...stages } = v1.stages;
  return {
    report: { ...v1, version: REPORT_VERSION, provenance, stages },
    embeddedRun: {
      schema: REPORT_RUN_SCHEMA,
      version: 1,
      evalKey: v1.evalKey,
      configHash,
      wrote: true,
      timings,
    },
  };
}
