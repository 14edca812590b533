/**
 * Reading a fetched report for `mer compare`: `metrics.json`, `run.json` and the pooled predictions.
 *
 * Decision record: the reader is lenient on purpose. It checks the fields a comparison uses and keeps
 * every other field as it is, so a report of any version (v1 and v2 today, later ones with optional
 * fields such as seeds and intervals) compares without a code change; a missing or mistyped field it
 * needs is an error naming the file and the field.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { HEADLINE_METRICS, type HeadlineMetric } from '../../../schemas/compare.ts';
import { REPORT_SCHEMA, ReportRunSchema, type ReportRun } from '../../../schemas/report.ts';
import { parquetToPredictions, type PredictionRows } from '../../train/predictions.ts';

const figures = z.looseObject({ accuracy: z.number(), weightedF1: z.number(), macroF1: z.number() });

export const ComparedVariantSchema = z.looseObject({
  name: z.string(),
  aggregate: z.looseObject({ folds: z.int().min(1), mean: figures, std: figures }),
  predictionsKey: z.string().optional(),
});

export const ComparedReportSchema = z.looseObject({
  schema: z.literal(REPORT_SCHEMA),
  version: z.int().min(1),
  evalKey: z.string(),
  dataset: z.string(),
  labelSet: z.string(),
  classes: z.array(z.string()).min(2),
  protocol: z.string(),
  config: z.record(z.string(), z.unknown()).optional(),
  provenance: z.record(z.string(), z.unknown()),
  variants: z.array(ComparedVariantSchema).min(1),
});
export type ComparedReport = z.infer<typeof ComparedReportSchema>;
export type ComparedVariant = z.infer<typeof ComparedVariantSchema>;

export interface LoadedReport {
  /** The report folder. */
  dir: string;
  metrics: ComparedReport;
  /** The run's side (config hash), when the folder has a run.json (mer report writes it). */
  run: ReportRun | null;
  /** The run's input settings (`mer compare` of a run reads them from its history); absent for folders. */
  runConfig?: Record<string, unknown>;
}

/** A folder holding metrics.json, or the metrics.json itself. */
export async function loadReport(path: string): Promise<LoadedReport> {
  const isFile = (await stat(path)).isFile();
  const file = isFile ? path : join(path, 'metrics.json');
  const dir = isFile ? dirname(path) : path;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a readable metrics.json (${(err as Error).message})`);
  }
  const parsed = ComparedReportSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const metrics = parsed.data;
  let run: ReportRun | null = null;
  const runFile = join(dir, 'run.json');
  try {
    run = ReportRunSchema.parse(JSON.parse(await readFile(runFile, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`${runFile}: not a mer-report-run (${(err as Error).message})`);
  }
  // A version 1 report names the run that wrote it inside.
  const embedded = (metrics.provenance as { configHash?: unknown }).configHash;
  if (!run && typeof embedded === 'string')
    run = {
      schema: 'mer-report-run',
      version: 1,
      evalKey: metrics.evalKey,
      configHash: embedded,
      wrote: true,
      timings: [],
    };
  return { dir, metrics, run };
}

/** The variant's pooled test predictions, `predictions/<variant>.parquet` in the report folder; null when absent. */
export async function loadPredictions(report: LoadedReport, variant: ComparedVariant): Promise<PredictionRows | null> {
  const rel = variant.predictionsKey ? `predictions/${basename(variant.predictionsKey)}` : undefined;
  const file = join(report.dir, rel ?? join('predictions', `${variant.name}.parquet`));
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parquetToPredictions(bytes, file);
}

const estimate = z.looseObject({ estimate: z.number(), low: z.number(), high: z.number() });
/** Version 3 reports (train.seeds): the fold-aggregated metric over seeds with its Student t interval. */
const SeedsSchema = z.looseObject({
  seeds: z.array(z.int()).min(1),
  level: z.number(),
  degenerate: z.boolean(),
  interval: z.looseObject({ accuracy: estimate, weightedF1: estimate, macroF1: estimate }),
});
/** Version 3 reports: the pooled (stacked) predictions' metric with its cluster bootstrap interval. */
const PooledIntervalSchema = z.looseObject({
  level: z.number(),
  rounds: z.int(),
  clusterBy: z.string(),
  accuracy: estimate,
  weightedF1: estimate,
});

type Interval = { low: number; high: number; method: string };

/**
 * Intervals a report gives for a variant's headline figures (the mean over folds): version 3 reports
 * of two or more seeds have a Student t interval over seeds (`seeds.interval`); older reports and
 * single-seed runs have none. Read by shape, so a later version with the same fields reads too.
 */
export function reportedIntervals(variant: ComparedVariant): Partial<Record<HeadlineMetric, Interval>> {
  const seeds = SeedsSchema.safeParse(variant.seeds);
  if (!seeds.success || seeds.data.degenerate || seeds.data.seeds.length < 2) return {};
  const s = seeds.data;
  const method = `Student t over ${s.seeds.length} seeds, ${Math.round(s.level * 100)}%`;
  return Object.fromEntries(
    HEADLINE_METRICS.map((m) => [m, { low: s.interval[m].low, high: s.interval[m].high, method }]),
  );
}

/** The pooled figures with their bootstrap interval, when the report has them (version 3). */
export function reportedPooledIntervals(
  variant: ComparedVariant,
): Partial<Record<'accuracy' | 'weightedF1', Interval & { estimate: number }>> {
  const p = PooledIntervalSchema.safeParse(variant.pooledInterval);
  if (!p.success) return {};
  const method = `bootstrap over ${p.data.clusterBy}, ${p.data.rounds} rounds, ${Math.round(p.data.level * 100)}%`;
  return {
    accuracy: { ...pick(p.data.accuracy), method },
    weightedF1: { ...pick(p.data.weightedF1), method },
  };
}

const pick = (e: { estimate: number; low: number; high: number }) => ({
  estimate: e.estimate,
  low: e.low,
  high: e.high,
});
