import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { PipelineInput } from '../schemas/config.ts';
import type { ProgressSnapshot, StageStatus } from '../workflows/progress.ts';
import { pipelineWorkflowId } from './run.ts';

/**
 * What a run's Temporal history says: its input, its events decoded, and one row per stage and dataset.
 * Reading the history needs no worker, so this works for closed runs whose workers are long gone.
 */

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
export type HistoryEvent = NonNullable<History['events']>[number];
type Payload = NonNullable<
  NonNullable<NonNullable<HistoryEvent['workflowExecutionStartedEventAttributes']>['input']>['payloads']
>[number];
type ProtoFailure = NonNullable<NonNullable<HistoryEvent['workflowExecutionFailedEventAttributes']>['failure']>;

/** `mer-<hash>` as given, or a bare config hash. */
export const toWorkflowId = (run: string): string => (run.startsWith('mer-') ? run : pipelineWorkflowId(run));

/** Event ids and timestamps arrive as protobuf Longs or numbers depending on the field. */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && 'toNumber' in v && typeof v.toNumber === 'function') {
    return (v as { toNumber: () => number }).toNumber();
  }
  return Number(v);
}

export function eventTime(e: HistoryEvent): Date | undefined {
  const t = e.eventTime;
  return t ? new Date(num(t.seconds) * 1000 + Math.floor(num(t.nanos) / 1e6)) : undefined;
}

/** The project uses the default data converter (JSON payloads, no codec). */
export function decodePayload<T>(p: Payload | null | undefined): T | undefined {
  return p ? defaultPayloadConverter.fromPayload<T>(p) : undefined;
}

function decodeMemo(fields: Record<string, Payload> | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields ?? {})) out[k] = decodePayload(v);
  return out;
}

/** The innermost failure message: the one that names the file and line. */
export function protoFailureMessage(f: ProtoFailure | null | undefined): string {
  let msg = '';
  let gaveUp = '';
  let cur: ProtoFailure | null | undefined = f;
  for (let i = 0; i < 8 && cur; i++) {
    if (cur.message) msg = cur.message;
    // An activity that failed every attempt: say so, or the innermost message reads like a single failure.
    const a = cur.activityFailureInfo;
    if (a && Number(a.retryState) === RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED)
      gaveUp = ` (activity ${a.activityType?.name ?? '?'} failed every attempt up to temporal.activityMaxAttempts; fix the cause, then mer resume)`;
    cur = cur.cause;
  }
  return msg + gaveUp;
}

/** temporal.api.enums.v1.RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED */
const RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED = 4;

export interface RunRef {
  workflowId: string;
  runId: string;
  description: WorkflowExecutionDescription;
}

/** The latest run of a workflow id, or one run. */
export async function describeRun(client: Client, run: string, runId?: string): Promise<RunRef> {
  const workflowId = toWorkflowId(run);
  const description = await client.workflow.getHandle(workflowId, runId).describe();
  return { workflowId, runId: description.runId, description };
}

export async function fetchEvents(client: Client, workflowId: string, runId: string): Promise<HistoryEvent[]> {
  return (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
}

/** The PipelineInput a run was started with: its first history event carries it. */
export function inputFromHistory(events: HistoryEvent[]): PipelineInput {
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const input = decodePayload<PipelineInput>(started?.input?.payloads?.[0]);
  if (!started || !input || typeof input !== 'object' || !('configHash' in input)) {
    throw new Error('the run history does not start with a MerPipeline input');
  }
  return input;
}

export type StageRowStatus = StageStatus;

/** One stage of one dataset in a run, as `mer status` reports it. */
export interface StageRow {
  stage: string;
  dataset: string;
  status: StageRowStatus;
  childWorkflowId?: string;
  childRunId?: string;
  startedAt?: string;
  endedAt?: string;
  /** Numbers the stage reported: rows, issues, ... when finished; done/total while running. */
  counts: Record<string, number>;
  /** Which steps did work in this run (false = found committed in the store and reused). */
  ran?: Record<string, boolean>;
  step?: string;
  note?: string;
  error?: string;
  /** Store key of the stage's summary (acquire's summary.json, segment's report.json), when it finished. */
  summaryKey?: string;
  /** What a user must read about a finished stage: diverged trainings, modalities without information. */
  notices?: string[];
}

/**
 * Per-stage state from the parent's history: one child workflow per stage per dataset, its start
 * (memo names stage and dataset) and its close event (result or failure). Needs no worker, so it works
 * for closed runs whose workers are long gone, where the progress query could not be answered.
 */
export function stagesFromHistory(events: HistoryEvent[], input: PipelineInput): StageRow[] {
  const rows: StageRow[] = [];
  for (const stage of input.stages)
    for (const d of input.datasets) rows.push({ stage, dataset: d.dataset, status: 'pending', counts: {} });
  const byInitiated = new Map<number, StageRow>();
  for (const e of events) {
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init) {
      const memo = decodeMemo(init.memo?.fields);
      const parts = (init.workflowId ?? '').split('/');
      const stage = typeof memo.stage === 'string' ? memo.stage : (parts.at(-2) ?? '?');
      const dataset = typeof memo.dataset === 'string' ? memo.dataset : (parts.at(-1) ?? '?');
      let row = rows.find((r) => r.stage === stage && r.dataset === dataset);
      if (!row) {
        row = { stage, dataset, status: 'pending', counts: {} };
        rows.push(row);
      }
      // A stage started again (after a reset or retry) starts its row over.
      Object.assign(row, {
        status: 'running',
        childWorkflowId: init.workflowId ?? undefined,
        startedAt: eventTime(e)?.toISOString(),
        counts: {},
      });
      delete row.error;
      delete row.endedAt;
      byInitiated.set(num(e.eventId), row);
      continue;
    }
    const started = e.childWorkflowExecutionStartedEventAttributes;
    if (started) {
      const row = byInitiated.get(num(started.initiatedEventId));
      if (row) row.childRunId = started.workflowExecution?.runId ?? undefined;
      continue;
    }
    const close =
      e.childWorkflowExecutionCompletedEventAttributes ??
      e.childWorkflowExecutionFailedEventAttributes ??
      e.childWorkflowExecutionCanceledEventAttributes ??
      e.childWorkflowExecutionTerminatedEventAttributes ??
      e.childWorkflowExecutionTimedOutEventAttributes ??
      e.startChildWorkflowExecutionFailedEventAttributes;
    if (!close) continue;
    const row = byInitiated.get(num(close.initiatedEventId));
    if (!row) continue;
    row.endedAt = eventTime(e)?.toISOString();
    if (e.childWorkflowExecutionCompletedEventAttributes) {
      const result =
        decodePayload<Record<string, unknown>>(
          e.childWorkflowExecutionCompletedEventAttributes.result?.payloads?.[0],
        ) ?? {};
      for (const [k, v] of Object.entries(result)) if (typeof v === 'number') row.counts[k] = v;
      Object.assign(row.counts, nestedCounts(row.stage, result));
      const notices = stageNotices(row.stage, result);
      if (notices.length) row.notices = notices;
      else delete row.notices;
      // acquire reports ran per step ({download, extract, manifest}), segment one boolean for the stage.
      const ran = result.ran;
      if (typeof ran === 'boolean') row.ran = { [row.stage]: ran };
      else if (ran && typeof ran === 'object') {
        row.ran = Object.fromEntries(Object.entries(ran).filter(([, v]) => typeof v === 'boolean'));
      }
      const report =
        typeof result.summaryKey === 'string'
          ? result.summaryKey
          : typeof result.reportKey === 'string'
            ? result.reportKey
            : typeof result.htmlKey === 'string'
              ? result.htmlKey
              : undefined;
      if (report) row.summaryKey = report;
      row.status =
        row.ran && Object.values(row.ran).length && Object.values(row.ran).every((v) => !v) ? 'skipped' : 'done';
    } else if (e.childWorkflowExecutionFailedEventAttributes) {
      row.status = 'failed';
      row.error = protoFailureMessage(e.childWorkflowExecutionFailedEventAttributes.failure);
    } else if (e.childWorkflowExecutionCanceledEventAttributes) {
      row.status = 'cancelled';
    } else if (e.childWorkflowExecutionTerminatedEventAttributes) {
      row.status = 'failed';
      row.error = 'child workflow terminated';
    } else if (e.childWorkflowExecutionTimedOutEventAttributes) {
      row.status = 'failed';
      row.error = 'child workflow timed out';
    } else {
      row.status = 'failed';
      row.error = `child workflow could not be started (${String(e.startChildWorkflowExecutionFailedEventAttributes?.cause ?? 'unknown cause')})`;
    }
  }
  return rows;
}

/** Diverged trainings and per-variant modality warnings of a train result, one line each. */
function stageNotices(stage: string, r: Record<string, unknown>): string[] {
  if (stage !== 'train') return [];
  const diverged = (Array.isArray(r.diverged) ? r.diverged : []) as { message?: unknown; seed?: unknown }[];
  const runs = (Array.isArray(r.runs) ? r.runs : []) as { variant?: unknown; warnings?: { message?: unknown }[] }[];
  const warnings = new Set<string>();
  for (const run of runs)
    for (const w of run.warnings ?? [])
      if (typeof w.message === 'string') warnings.add(`${String(run.variant)}: ${w.message}`);
  return [
    ...diverged.map(
      (d) =>
        `diverged: ${typeof d.message === 'string' ? d.message : 'a training diverged'}${typeof d.seed === 'number' ? ` (seed ${d.seed})` : ''}`,
    ),
    ...[...warnings].map((w) => `warning: ${w}`),
  ];
}

/** The headline numbers of the stages whose results nest them (per modality, per VSC output, per fold). */
function nestedCounts(stage: string, r: Record<string, unknown>): Record<string, number> {
  const pct = (x: number) => Math.round(x * 1000) / 10;
  switch (stage) {
    case 'extract': {
      const mods = Object.values(
        (r.modalities ?? {}) as Record<string, { modality: string; ok: number; quarantined: number }>,
      );
      return Object.fromEntries(
        mods.flatMap((m) => [
          [`${m.modality}Ok`, m.ok],
          [`${m.modality}Quarantined`, m.quarantined],
        ]),
      );
    }
    case 'compress': {
      const outs = (r.outputs ?? []) as { enabled: boolean; utterances: number; ratio: number }[];
      return Object.fromEntries(
        outs.flatMap((o) => [
          [o.enabled ? 'sequences' : 'sequencesNoVsc', o.utterances],
          [o.enabled ? 'ratio' : 'ratioNoVsc', Math.round(o.ratio * 10) / 10],
        ]),
      );
    }
    case 'train': {
      const runs = (r.runs ?? []) as { variant: string; test: { weightedF1: number } }[];
      const first = (r.variants as string[] | undefined)?.[0];
      const full = runs.filter((x) => x.variant === first);
      const mean = full.length ? full.reduce((a, x) => a + x.test.weightedF1, 0) / full.length : 0;
      const diverged = ((r.diverged ?? []) as unknown[]).length;
      return {
        trainings: runs.length,
        folds: ((r.folds ?? []) as unknown[]).length,
        testWeightedF1Pct: pct(mean),
        ...(diverged ? { diverged } : {}),
      };
    }
    case 'evaluate': {
      const h = r.headline as { accuracy: number; weightedF1: number; macroF1: number } | undefined;
      return h ? { accuracyPct: pct(h.accuracy), weightedF1Pct: pct(h.weightedF1), macroF1Pct: pct(h.macroF1) } : {};
    }
    default:
      return {};
  }
}

/** Live rows from the progress query (only answerable while a worker serves the run's task queue). */
export function stagesFromProgress(p: ProgressSnapshot, fromHistory: StageRow[]): StageRow[] {
  return p.stages.map((s) => {
    const h = fromHistory.find((r) => r.stage === s.stage && r.dataset === s.dataset);
    return {
      ...h,
      stage: s.stage,
      dataset: s.dataset,
      status: s.status,
      counts: { ...(h?.counts ?? {}), done: s.done, total: s.total, quarantined: s.quarantined },
      ...(s.step ? { step: s.step } : {}),
      ...(s.note ? { note: s.note } : {}),
      ...(s.error ? { error: s.error } : {}),
      ...(s.startedAt ? { startedAt: s.startedAt } : {}),
      ...(s.endedAt ? { endedAt: s.endedAt } : {}),
    };
  });
}
