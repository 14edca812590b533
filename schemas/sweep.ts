import { z } from 'zod';
import type { PipelineInput, StoreSpecResolved, TemporalSettings } from './config.ts';

/**
 * Sweeps: the run config's `sweep:` section (a grid or a list of settings over named keys), what the
 * MerSweep workflow receives and reports, and `sweeps/<reportKey>/sweep.json`.
 *
 * Decision record: a sweep is N ordinary pipeline runs, one per setting, under one durable parent
 * (workflows/sweep.ts). The settings are applied to the config file's content and each is validated by
 * the run config schema itself, so a sweep can only ask for what a run could; only the keys listed in
 * SWEEPABLE_KEYS may be swept: scalar settings a selection on validation makes sense for (not the
 * protocol, the datasets or the store, which change what is measured).
 */

/** The settings a sweep may vary, as dotted paths into the run config. */
export const SWEEPABLE_KEYS = [
  'train.lr',
  'train.contrastiveWeight',
  'train.temperature',
  'train.weightDecay',
  'train.preset',
  'train.summary',
  'train.batchSize',
  'train.maxEpochs',
  'train.patience',
  'train.clipGradNorm',
  'compress.topK',
  'compress.mergeThreshold',
  'compress.keepWeight',
  'compress.temporalThreshold',
  'compress.maxFrames',
  'extract.text.model',
  'extract.audio.model',
  'extract.visual.model',
] as const;
export type SweepableKey = (typeof SWEEPABLE_KEYS)[number];

export const SweepValueSchema = z.union([z.number().finite(), z.string().min(1), z.boolean()]);
export type SweepValue = z.infer<typeof SweepValueSchema>;

const sweepable = (key: string): key is SweepableKey => (SWEEPABLE_KEYS as readonly string[]).includes(key);
const refusal = (key: string) => `"${key}" cannot be swept; sweepable settings: ${SWEEPABLE_KEYS.join(', ')}`;

/** The most settings one sweep may have: each is a whole pipeline run (its children in the history). */
export const MAX_SWEEP_SETTINGS = 256;

export const SweepConfigSchema = z
  .strictObject({
    /** Every combination (cartesian product) of these values; the first key varies slowest. */
    grid: z.record(z.string(), z.array(SweepValueSchema).min(1, 'give at least one value')).optional(),
    /** Exactly these settings, in this order. */
    list: z.array(z.record(z.string(), SweepValueSchema)).min(1, 'give at least one setting').optional(),
    /** Settings run side by side; absent: what the machine's cores allow (mer sweep --parallelism). */
    parallelism: z.int().min(1).max(64).optional(),
  })
  .superRefine((s, ctx) => {
    if (!s.grid === !s.list) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give either grid (every combination) or list (settings)' });
      return;
    }
    if (s.grid) {
      if (!Object.keys(s.grid).length) ctx.addIssue({ code: 'custom', path: ['grid'], message: 'name a setting' });
      for (const [key, values] of Object.entries(s.grid)) {
        if (!sweepable(key)) ctx.addIssue({ code: 'custom', path: ['grid', key], message: refusal(key) });
        const seen = new Set(values.map((v) => JSON.stringify(v)));
        if (seen.size !== values.length)
          ctx.addIssue({ code: 'custom', path: ['grid', key], message: 'each value at most once' });
      }
    }
    s.list?.forEach((setting, i) => {
      if (!Object.keys(setting).length)
        ctx.addIssue({ code: 'custom', path: ['list', i], message: 'a setting names at least one key' });
      for (const key of Object.keys(setting))
        if (!sweepable(key)) ctx.addIssue({ code: 'custom', path: ['list', i, key], message: refusal(key) });
    });
    const n = s.grid ? Object.values(s.grid).reduce((a, v) => a * v.length, 1) : (s.list?.length ?? 0);
    if (n > MAX_SWEEP_SETTINGS)
      ctx.addIssue({ code: 'custom', path: [], message: `${n} settings; at most ${MAX_SWEEP_SETTINGS}` });
  });
export type SweepConfig = z.infer<typeof SweepConfigSchema>;

/** One setting of a sweep: its values by key, and how reports name it. */
export interface SweepSetting {
  index: number;
  /** `train.lr=0.001, train.contrastiveWeight=0`. */
  label: string;
  values: Record<string, SweepValue>;
}

export const formatSweepValue = (v: SweepValue): string => String(v);

/** The settings a sweep section asks for, in order (grid: the first key varies slowest). */
export function expandSweep(sweep: Pick<SweepConfig, 'grid' | 'list'>): SweepSetting[] {
  let combos: Record<string, SweepValue>[];
  if (sweep.grid) {
    combos = [{}];
    for (const [key, values] of Object.entries(sweep.grid))
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  } else combos = sweep.list ?? [];
  return combos.map((values, index) => ({
    index,
    values,
    label: Object.entries(values)
      .map(([k, v]) => `${k}=${formatSweepValue(v)}`)
      .join(', '),
  }));
}

/** The keys a sweep varies, in order of first appearance. */
export function sweptKeys(settings: readonly SweepSetting[]): string[] {
  return [...new Set(settings.flatMap((s) => Object.keys(s.values)))];
}

// ---- the workflow ---------------------------------------------------------------------------------

/** A setting as MerSweep runs it: the pipeline input its config gives. */
export interface SweepSettingRun extends SweepSetting {
  input: PipelineInput;
}

export interface SweepInput {
  /** Names the sweep (its workflow id `mer-sweep-<sweepKey>`): the settings' config hashes. */
  sweepKey: string;
  name?: string;
  store: StoreSpecResolved;
  mode: 'grid' | 'list';
  keys: string[];
  settings: SweepSettingRun[];
  /**
   * Runs through compress, one after the other, before any setting starts: one per distinct input of
   * the stages before train, so settings running side by side never compute a shared output twice.
   */
  prepare: PipelineInput[];
  /** Per setting, the index of its run in `prepare`: a failed preparing run fails the settings that need it, only. */
  prepareOf: number[];
  /** Settings in flight at once. */
  parallelism: number;
  temporal: TemporalSettings;
  searchAttributes: boolean;
}

export const SWEEP_SETTING_STATUSES = ['pending', 'running', 'completed', 'diverged', 'failed', 'cancelled'] as const;
export type SweepSettingStatus = (typeof SWEEP_SETTING_STATUSES)[number];

export interface SweepSettingProgress extends SweepSetting {
  status: SweepSettingStatus;
  workflowId: string;
  configHash: string;
  /** A failed setting's innermost message; a diverged one's trainings. */
  error?: string;
}

/** What the `sweepProgress` query answers. */
export interface SweepProgress {
  sweepKey: string;
  status: 'preparing' | 'running' | 'reporting' | 'completed' | 'failed' | 'cancelled';
  startedAt: string;
  updatedAt: string;
  settings: SweepSettingProgress[];
  /** Once reported: where the sweep report lives. */
  report?: { prefix: string; json: string; html: string };
}

/** MerSweep's result: the report's keys and the chosen setting per dataset. */
export interface SweepResult {
  sweepKey: string;
  reportKey: string;
  prefix: string;
  jsonKey: string;
  htmlKey: string;
  chosen: Record<string, { index: number; label: string; validationWeightedF1: number } | null>;
  settings: Array<Pick<SweepSettingProgress, 'index' | 'label' | 'status' | 'error'>>;
}

// ---- the report: sweeps/<reportKey>/sweep.json ------------------------------------------------------

/** A mean with its 95% Student t interval, as activities/evaluate/stats tInterval gives it (`degenerate`: one value, low = high = mean). */
export const SweepIntervalSchema = z.object({
  n: z.int().nonnegative(),
  mean: z.number(),
  std: z.number(),
  low: z.number(),
  high: z.number(),
  degenerate: z.boolean(),
});
export type SweepInterval = z.infer<typeof SweepIntervalSchema>;

export const SweepTestMetricsSchema = z.object({
  accuracy: SweepIntervalSchema,
  weightedF1: SweepIntervalSchema,
  macroF1: SweepIntervalSchema,
});
export type SweepTestMetrics = z.infer<typeof SweepTestMetricsSchema>;

export const SweepSettingScoreSchema = z.object({
  index: z.int().nonnegative(),
  label: z.string(),
  values: z.record(z.string(), SweepValueSchema),
  status: z.enum(SWEEP_SETTING_STATUSES),
  error: z.string().optional(),
  configHash: z.string(),
  workflowId: z.string(),
  /** Trainings of the selected variant that the scores average (folds x seeds). */
  folds: z.int().nonnegative(),
  seeds: z.int().nonnegative(),
  /** Mean validation weighted F1 of the selected variant with its interval; null when not scored. */
  validation: SweepIntervalSchema.nullable(),
  /** 1 = chosen; null when not scored (failed, diverged, no validation metrics). */
  rank: z.int().positive().nullable(),
  /** Test metrics kept for the record, never for selection; absent for the chosen setting (under `chosen`) and unscored ones. */
  testNotForSelection: SweepTestMetricsSchema.optional(),
  /** The setting's own evaluation report, when its run reached evaluate. */
  reportHtml: z.string().optional(),
});
export type SweepSettingScore = z.infer<typeof SweepSettingScoreSchema>;

export const SweepDatasetReportSchema = z.object({
  dataset: z.string(),
  protocol: z.string(),
  /** Validation is the test split (the `paper` protocol): the selection, and the chosen test metrics, are optimistic. */
  optimistic: z.boolean(),
  /** The variant settings are compared on: each run's first (the full model). */
  variant: z.string(),
  /** What the intervals are over: seeds (fold means per seed) when any setting has more than one, else folds. */
  intervalOver: z.enum(['seeds', 'folds']),
  level: z.number(),
  settings: z.array(SweepSettingScoreSchema),
  chosen: z
    .object({
      index: z.int().nonnegative(),
      label: z.string(),
      values: z.record(z.string(), SweepValueSchema),
      validation: SweepIntervalSchema,
      /** The chosen setting's test metrics: reported once, here. */
      test: SweepTestMetricsSchema,
    })
    .nullable(),
  notes: z.array(z.string()),
});
export type SweepDatasetReport = z.infer<typeof SweepDatasetReportSchema>;

export const SWEEP_REPORT_SCHEMA = 'mer-sweep';
export const SweepReportSchema = z.object({
  schema: z.literal(SWEEP_REPORT_SCHEMA),
  version: z.literal(1),
  sweepKey: z.string(),
  reportKey: z.string(),
  name: z.string().optional(),
  mode: z.enum(['grid', 'list']),
  keys: z.array(z.string()),
  /** The rule, in words. */
  selection: z.string(),
  /** Every setting, its run and how it ended. */
  settings: z.array(
    SweepSettingScoreSchema.pick({
      index: true,
      label: true,
      values: true,
      status: true,
      error: true,
      configHash: true,
      workflowId: true,
    }),
  ),
  datasets: z.array(SweepDatasetReportSchema),
});
export type SweepReport = z.infer<typeof SweepReportSchema>;
