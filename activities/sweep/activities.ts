/**
 * The sweep report activity (mer-cpu): the selection on validation of a sweep's settings, written to
 * `sweeps/<reportKey>/` (sweep.json, report.html, _COMMIT). The key hashes what the report is made of
 * (each setting's values, state and training and report keys) and this code's version, so a rerun of
 * a finished sweep finds it committed, and a sweep whose failed setting later succeeds gets a new one.
 */
import { contentKey } from '../common/hash.ts';
import { stepActivity } from '../common/activity.ts';
import { toStageFailure } from '../common/shard-errors.ts';
import { readStoredJson } from '../common/stored-json.ts';
import { createStore } from '../store/index.ts';
import type { StoreSpecResolved } from '../../schemas/config.ts';
import { sweepKeys } from '../../schemas/layout.ts';
import { SWEEP_REPORT_SCHEMA, SweepReportSchema, type SweepReport } from '../../schemas/sweep.ts';
import { renderSweepHtml } from './report.ts';
import { SELECTION_RULE, selectOnValidation, type SweepSettingOutcome } from './select.ts';

export type { SweepSettingOutcome };

/** Bumped whenever the same outcomes would give a different report. */
export const SWEEP_REPORT_CODE_VERSION = 1;

export interface SweepReportInput {
  store: StoreSpecResolved;
  sweepKey: string;
  name?: string;
  mode: 'grid' | 'list';
  keys: string[];
  settings: SweepSettingOutcome[];
}

export interface SweepReportResult {
  sweepKey: string;
  reportKey: string;
  prefix: string;
  jsonKey: string;
  htmlKey: string;
  chosen: Record<string, { index: number; label: string; validationWeightedF1: number } | null>;
  skipped: boolean;
}

export function sweepReportKey(input: SweepReportInput): string {
  return contentKey({
    v: SWEEP_REPORT_CODE_VERSION,
    sweepKey: input.sweepKey,
    mode: input.mode,
    keys: input.keys,
    settings: input.settings.map((s) => ({
      index: s.index,
      values: s.values,
      status: s.status,
      configHash: s.configHash,
      datasets: s.datasets.map((d) => ({
        dataset: d.dataset,
        runs: d.runs.map((r) => r.trainKey),
        diverged: d.diverged,
        evalKey: d.evalKey ?? null,
      })),
    })),
  });
}

function summarise(report: SweepReport, skipped: boolean): SweepReportResult {
  const keys = sweepKeys(report.reportKey);
  return {
    sweepKey: report.sweepKey,
    reportKey: report.reportKey,
    prefix: keys.prefix,
    jsonKey: keys.json,
    htmlKey: keys.html,
    chosen: Object.fromEntries(
      report.datasets.map((d) => [
        d.dataset,
        d.chosen
          ? { index: d.chosen.index, label: d.chosen.label, validationWeightedF1: d.chosen.validation.mean }
          : null,
      ]),
    ),
    skipped,
  };
}

export async function sweepReportStep(input: SweepReportInput): Promise<SweepReportResult> {
  const store = createStore(input.store);
  const reportKey = sweepReportKey(input);
  const keys = sweepKeys(reportKey);
  if (await store.committed(keys.prefix))
    return summarise(await readStoredJson(store, keys.json, SweepReportSchema), true);
  const report: SweepReport = {
    schema: SWEEP_REPORT_SCHEMA,
    version: 1,
    sweepKey: input.sweepKey,
    reportKey,
    ...(input.name ? { name: input.name } : {}),
    mode: input.mode,
    keys: input.keys,
    selection: SELECTION_RULE,
    settings: input.settings.map((s) => ({
      index: s.index,
      label: s.label,
      values: s.values,
      status: s.status,
      ...(s.error ? { error: s.error } : {}),
      configHash: s.configHash,
      workflowId: s.workflowId,
    })),
    datasets: selectOnValidation(input.settings),
  };
  await store.put(keys.json, JSON.stringify(SweepReportSchema.parse(report), null, 2));
  await store.put(keys.html, await renderSweepHtml(report));
  const result = summarise(report, false);
  await store.commit(keys.prefix, { stage: 'sweep', summary: { sweepKey: input.sweepKey, chosen: result.chosen } });
  return result;
}

/** Registered by activities/index.ts. */
export function createSweepActivities() {
  return { sweepReport: stepActivity(sweepReportStep, toStageFailure) };
}

export type SweepActivities = ReturnType<typeof createSweepActivities>;
