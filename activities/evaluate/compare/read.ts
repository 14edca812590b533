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

/**
 * Intervals a report gives for a variant's headline figures. Reports written before seeds and
 * intervals existed have none; later ones are read by shape, whatever their version: any object
 * under the variant (or its aggregate) with `low`/`high` numbers, keyed by a headline metric, under a
 * key that names an interval (`intervals`, `interval`, `ci`, `bootstrap`, `seeds`).
 */
export function reportedIntervals(
  variant: ComparedVariant,
): Partial<Record<HeadlineMetric, { low: number; high: number; method: string }>> {
  const out: Partial<Record<HeadlineMetric, { low: number; high: number; method: string }>> = {};
  const visit = (node: unknown, path: string[], depth: number): void => {
    if (!node || typeof node !== 'object' || Array.isArray(node) || depth > 5) return;
    const o = node as Record<string, unknown>;
    if (typeof o.low === 'number' && typeof o.high === 'number') {
      const metric = [...path]
        .reverse()
        .find((p): p is HeadlineMetric => (HEADLINE_METRICS as readonly string[]).includes(p));
      const named = path.some((p) => /interval|^ci$|bootstrap|seeds/i.test(p));
      if (metric && named && !out[metric]) {
        const level = typeof o.level === 'number' ? `, ${Math.round(o.level * 100)}%` : '';
        const method = typeof o.method === 'string' ? o.method : path.filter((p) => p !== metric).join(' ');
        out[metric] = { low: o.low, high: o.high, method: `${method}${level}` };
      }
      return;
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'folds' && k !== 'pooled') visit(v, [...path, k], depth + 1);
  };
  visit(variant, [], 0);
  return out;
}
