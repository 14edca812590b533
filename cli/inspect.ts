import { dirname } from 'node:path';
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { redactUrlForLog } from '../activities/acquire/download.ts';
import { createStore } from '../activities/store/index.ts';
import type { PipelineInput } from '../schemas/config.ts';
import { progressQuery, type ProgressSnapshot, type StageStatus } from '../workflows/progress.ts';
import { SA_CONFIG_HASH, SA_DATASET, SA_STAGE } from '../workflows/search-attributes.ts';
import { manifestReport } from './direct.ts';
import { pipelineWorkflowId } from './run.ts';
import { describeStore } from './session.ts';

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
  let cur: ProtoFailure | null | undefined = f;
  for (let i = 0; i < 8 && cur; i++) {
    if (cur.message) msg = cur.message;
    cur = cur.cause;
  }
  return msg;
}

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
      return { trainings: runs.length, folds: ((r.folds ?? []) as unknown[]).length, testWeightedF1Pct: pct(mean) };
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

export interface QuarantineReport {
  dataset: string;
  stage: string;
  /**
   * Items the stage set aside by its own checks: acquire's manifest issues (bad annotation lines,
   * missing media), segment's quarantined utterances (corrupt or unreadable clips).
   */
  issues: number;
  /** Archive entries extraction skipped (unsafe paths, resource forks, links). */
  skippedEntries: number;
  /** The first items with their reasons (`file` is the utterance id for segment); all are under issuesKey. */
  items: Array<{ file: string; line?: number; reason: string; kind?: string }>;
  issuesKey?: string;
  /** Set when the store could not be read (unreachable, no credentials here). */
  unavailable?: string;
}

/** Reads the quarantine lists of finished stages from their summaries in the store. */
export async function quarantineFromStore(
  input: PipelineInput,
  rows: StageRow[],
  maxItems = 20,
): Promise<QuarantineReport[]> {
  const out: QuarantineReport[] = [];
  for (const r of rows) {
    if (!r.summaryKey) continue;
    if (r.summaryKey.endsWith('/report.json')) {
      out.push(await segmentQuarantine(input, r, maxItems));
      continue;
    }
    if (!r.summaryKey.endsWith('/summary.json')) continue;
    const prefix = dirname(r.summaryKey);
    try {
      const rep = (await manifestReport(input.store, prefix)) as Record<string, unknown> & {
        issueList: Array<Record<string, unknown>>;
      };
      const skipped = Array.isArray(rep.extractionSkipped)
        ? (rep.extractionSkipped as Array<{ entry?: string; reason?: string }>)
        : [];
      const items = [
        ...skipped.map((s) => ({
          file: String(s.entry ?? '?'),
          reason: String(s.reason ?? ''),
          kind: 'archive-entry-skipped',
        })),
        ...rep.issueList.map((i) => ({
          file: String(i.file ?? '?'),
          ...(typeof i.line === 'number' ? { line: i.line } : {}),
          reason: String(i.reason ?? ''),
          ...(typeof i.kind === 'string' ? { kind: i.kind } : {}),
        })),
      ];
      out.push({
        dataset: r.dataset,
        stage: r.stage,
        issues: rep.issueList.length,
        skippedEntries: skipped.length,
        items: items.slice(0, maxItems),
        issuesKey: `${prefix}/issues.jsonl`,
      });
    } catch (err) {
      out.push({
        dataset: r.dataset,
        stage: r.stage,
        issues: r.counts.issues ?? 0,
        skippedEntries: 0,
        items: [],
        unavailable: (err as Error).message,
      });
    }
  }
  return out;
}

async function segmentQuarantine(input: PipelineInput, r: StageRow, maxItems: number): Promise<QuarantineReport> {
  const key = r.summaryKey!;
  try {
    const rep = JSON.parse((await createStore(input.store).get(key)).toString('utf8')) as {
      quarantined?: number;
      quarantinedItems?: Array<{ utteranceId?: string; reason?: string }>;
    };
    const items = (rep.quarantinedItems ?? []).map((q) => ({
      file: String(q.utteranceId ?? '?'),
      reason: String(q.reason ?? ''),
      kind: 'utterance-quarantined',
    }));
    return {
      dataset: r.dataset,
      stage: r.stage,
      issues: rep.quarantined ?? items.length,
      skippedEntries: 0,
      items: items.slice(0, maxItems),
      issuesKey: key,
    };
  } catch (err) {
    return {
      dataset: r.dataset,
      stage: r.stage,
      issues: r.counts.quarantined ?? 0,
      skippedEntries: 0,
      items: [],
      unavailable: (err as Error).message,
    };
  }
}

/** What `mer status --json` prints. Sources are shown without query strings or user info (links carry tokens). */
export interface RunStatus {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime: string | null;
  config: {
    configHash: string;
    name: string | null;
    stages: string[];
    store: string;
    datasets: Array<{ dataset: string; source: string; sourceKind: string; labels: string }>;
  };
  stages: StageRow[];
  quarantined: QuarantineReport[];
  /** The run-level failure, innermost message. */
  failure: string | null;
  /** Whether the rows come from the live progress query or were rebuilt from the history. */
  live: boolean;
  ui: string | null;
}

export function redactedSource(s: PipelineInput['datasets'][number]['source']): string {
  return s.kind === 'url' ? redactUrlForLog(s.url) : s.path;
}

export async function runStatus(
  client: Client,
  run: string,
  opts: { ui?: (workflowId: string, runId: string) => string; runId?: string; maxItems?: number } = {},
): Promise<RunStatus> {
  const ref = await describeRun(client, run, opts.runId);
  const events = await fetchEvents(client, ref.workflowId, ref.runId);
  const input = inputFromHistory(events);
  let stages = stagesFromHistory(events, input);
  let live = false;
  const running = ref.description.status.name === 'RUNNING';
  if (running) {
    try {
      const handle = client.workflow.getHandle(ref.workflowId, ref.runId);
      // Bounded: answering needs a worker on the run's task queue, which a stopped `mer run` took away.
      const p = await client.connection.withDeadline(Date.now() + 3_000, () => handle.query(progressQuery));
      stages = stagesFromProgress(p, stages);
      live = true;
    } catch {
      // no worker to answer: the history rows stand
    }
  } else {
    // Children of a run that was terminated or cancelled were asked to cancel; say what became of them.
    for (const r of stages.filter((s) => s.status === 'running' && s.childWorkflowId)) {
      try {
        const d = await client.workflow.getHandle(r.childWorkflowId!, r.childRunId).describe();
        r.status =
          d.status.name === 'COMPLETED'
            ? 'done'
            : d.status.name === 'RUNNING'
              ? 'running'
              : d.status.name === 'CANCELLED'
                ? 'cancelled'
                : 'failed';
        if (r.status === 'failed') r.error ??= `child workflow ${d.status.name.toLowerCase()}`;
      } catch {
        // child history already deleted by retention
      }
    }
  }
  const last = events.at(-1);
  const failure =
    protoFailureMessage(last?.workflowExecutionFailedEventAttributes?.failure) ||
    (last?.workflowExecutionTerminatedEventAttributes
      ? `terminated${last.workflowExecutionTerminatedEventAttributes.reason ? `: ${last.workflowExecutionTerminatedEventAttributes.reason}` : ''}`
      : '') ||
    (last?.workflowExecutionTimedOutEventAttributes ? 'timed out' : '') ||
    null;
  return {
    workflowId: ref.workflowId,
    runId: ref.runId,
    status: ref.description.status.name,
    startTime: ref.description.startTime.toISOString(),
    closeTime: ref.description.closeTime?.toISOString() ?? null,
    config: {
      configHash: input.configHash,
      name: input.name ?? null,
      stages: input.stages,
      store: describeStore(input.store),
      datasets: input.datasets.map((d) => ({
        dataset: d.dataset,
        source: redactedSource(d.source),
        sourceKind: d.source.kind,
        labels: d.labels,
      })),
    },
    stages,
    quarantined: await quarantineFromStore(input, stages, opts.maxItems),
    failure,
    live,
    ui: opts.ui ? opts.ui(ref.workflowId, ref.runId) : null,
  };
}

const ICON: Record<StageRowStatus, string> = {
  pending: '·',
  running: '▶',
  skipped: '↺',
  done: '✔',
  failed: '✖',
  cancelled: '■',
};

export function renderStatus(s: RunStatus): string[] {
  const lines: string[] = [];
  lines.push(
    `${s.workflowId}  ${s.status}  started ${s.startTime}${s.closeTime ? `  closed ${s.closeTime}` : ''}  (run ${s.runId})`,
  );
  lines.push(
    `  config ${s.config.configHash}${s.config.name ? ` "${s.config.name}"` : ''}: ${s.config.stages.join(' → ')}, store ${s.config.store}`,
  );
  for (const d of s.config.datasets)
    lines.push(`  ${d.dataset.padEnd(8)} ${d.sourceKind} ${d.source}, labels ${d.labels}`);
  lines.push(`  stages${s.live ? ' (live)' : ''}:`);
  for (const r of s.stages) {
    const c = r.counts;
    const counts =
      r.status === 'running' && c.total
        ? `${c.done}/${c.total}${r.step ? ` [${r.step}]` : ''}`
        : 'rows' in c
          ? `${c.rows} rows${'inLabelSet' in c ? `, ${c.inLabelSet} in label set` : ''}, ${c.issues ?? 0} issues`
          : Object.entries(c)
              .filter(([k]) => !['done', 'total'].includes(k))
              .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`)
              .join(', ');
    const reused = r.status === 'skipped' ? ' (reused from the store)' : '';
    const tail = r.error ? `  ${r.error}` : r.note && r.status === 'running' ? `  ${r.note}` : '';
    lines.push(
      `    ${ICON[r.status]} ${r.stage.padEnd(9)} ${r.dataset.padEnd(8)} ${r.status.padEnd(9)} ${counts}${reused}${tail}`,
    );
  }
  for (const q of s.quarantined) {
    if (q.unavailable) {
      lines.push(`  quarantined ${q.dataset}/${q.stage}: ${q.issues} issues (details unavailable: ${q.unavailable})`);
      continue;
    }
    if (!q.issues && !q.skippedEntries) continue;
    const what =
      q.stage === 'acquire'
        ? `${q.issues} manifest issues, ${q.skippedEntries} archive entries skipped`
        : `${q.issues} items`;
    lines.push(
      `  quarantined ${q.dataset}/${q.stage}: ${what} (full list: ${q.issuesKey}${q.skippedEntries ? ' and summary.json' : ''})`,
    );
    for (const i of q.items) lines.push(`    ${i.file}${i.line ? `:${i.line}` : ''}: ${i.reason}`);
    const more = q.issues + q.skippedEntries - q.items.length;
    if (more > 0) lines.push(`    ... ${more} more`);
  }
  if (s.failure) lines.push(`  failure: ${s.failure}`);
  if (['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(s.status)) {
    lines.push(`  resume: mer resume ${s.workflowId}   (or --reset to replay up to the failed stage)`);
  }
  if (s.ui) lines.push(`  UI: ${s.ui}`);
  return lines;
}

/** One row of `mer runs`. */
export interface RunListing {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime: string | null;
  configHash: string | null;
  name: string | null;
  datasets: string[];
  stages: string[];
  /** The stage the run is in (or ended in), from the MerStage search attribute. */
  stage: string | null;
}

const STATUS_FILTER: Record<string, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  canceled: 'Canceled',
  terminated: 'Terminated',
  'timed-out': 'TimedOut',
};
export const RUN_STATUS_FILTERS = Object.keys(STATUS_FILTER);

/** Recent MerPipeline runs from visibility (newest first), optionally by status or dataset. */
export async function listRuns(
  client: Client,
  opts: { limit?: number; status?: string; dataset?: string; searchAttributes?: boolean } = {},
): Promise<RunListing[]> {
  const clauses = ['WorkflowType = "MerPipeline"'];
  if (opts.status) {
    const s = STATUS_FILTER[opts.status];
    if (!s) throw new Error(`unknown status ${opts.status} (use ${RUN_STATUS_FILTERS.join(', ')})`);
    clauses.push(`ExecutionStatus = "${s}"`);
  }
  if (opts.dataset) {
    if (!/^[a-z0-9_-]+$/i.test(opts.dataset)) throw new Error(`invalid dataset name ${JSON.stringify(opts.dataset)}`);
    clauses.push(`${SA_DATASET.name} = "${opts.dataset}"`);
  }
  const limit = opts.limit ?? 20;
  const out: RunListing[] = [];
  for await (const w of client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 1000) })) {
    const memo = w.memo ?? {};
    const memoList = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
    out.push({
      workflowId: w.workflowId,
      runId: w.runId,
      status: w.status.name,
      startTime: w.startTime.toISOString(),
      closeTime: w.closeTime?.toISOString() ?? null,
      configHash:
        w.typedSearchAttributes.get(SA_CONFIG_HASH) ?? (typeof memo.configHash === 'string' ? memo.configHash : null),
      name: typeof memo.name === 'string' ? memo.name : null,
      datasets: w.typedSearchAttributes.get(SA_DATASET) ?? memoList(memo.datasets),
      stages: memoList(memo.stages),
      stage: w.typedSearchAttributes.get(SA_STAGE) ?? null,
    });
    if (out.length >= limit) break;
  }
  return out;
}

export function renderRuns(runs: RunListing[]): string[] {
  if (!runs.length) return ['no MerPipeline runs found'];
  const rows = runs.map((r) => [
    r.workflowId,
    r.status,
    r.startTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    r.closeTime ? fmtSpan(Date.parse(r.closeTime) - Date.parse(r.startTime)) : '-',
    r.datasets.join('+') || '-',
    `${r.stages.at(-1) ?? '?'}${r.stage && r.status === 'RUNNING' ? ` (at ${r.stage})` : ''}`,
    r.name ?? '',
  ]);
  const head = ['RUN', 'STATUS', 'STARTED', 'TOOK', 'DATASETS', 'UNTIL', 'NAME'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}

function fmtSpan(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}
