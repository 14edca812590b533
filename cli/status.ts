import type { Client } from '@temporalio/client';
import { redactUrlForLog } from '../activities/common/redact.ts';
import type { PipelineInput } from '../schemas/config.ts';
import { CORPUS_ISSUE_KINDS } from '../schemas/manifest.ts';
import { progressQuery } from '../workflows/progress.ts';
import { STATUS_ICON } from './progress-view.ts';
import { quarantineFromStore, type QuarantineReport } from './quarantine.ts';
import {
  describeRun,
  fetchEvents,
  inputFromHistory,
  protoFailureMessage,
  stagesFromHistory,
  stagesFromProgress,
  type StageRow,
} from './run-history.ts';
import { describeStore } from './session.ts';
import { workflowWorkerWait } from './worker-wait.ts';

/** `mer status`: one run's state, from its history, the live progress query and the store, and its rendering. */

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
  /** A running run whose progress query no worker answered: "waiting for a workflow worker: ..."; else null. */
  waiting?: string | null;
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
  let waiting: string | null = null;
  const running = ref.description.status.name === 'RUNNING';
  if (running) {
    try {
      const handle = client.workflow.getHandle(ref.workflowId, ref.runId);
      // Bounded: answering needs a worker on the run's task queue, which a stopped `mer run` took away.
      const p = await client.connection.withDeadline(Date.now() + 3_000, () => handle.query(progressQuery));
      stages = stagesFromProgress(p, stages);
      live = true;
    } catch {
      // No worker to answer: the history rows stand, and the status says what it waits for.
      waiting = await workflowWorkerWait(client.workflow, ref.workflowId, ref.runId);
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
    waiting,
    ui: opts.ui ? opts.ui(ref.workflowId, ref.runId) : null,
  };
}

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
  if (s.waiting) lines.push(`  ${s.waiting}`);
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
      `    ${STATUS_ICON[r.status]} ${r.stage.padEnd(9)} ${r.dataset.padEnd(8)} ${r.status.padEnd(9)} ${counts}${reused}${tail}`,
    );
    for (const n of r.notices ?? []) lines.push(`        ${n}`);
  }
  for (const q of s.quarantined) {
    if (q.unavailable) {
      lines.push(`  quarantined ${q.dataset}/${q.stage}: ${q.issues} issues (details unavailable: ${q.unavailable})`);
      continue;
    }
    if (!q.issues && !q.skippedEntries) continue;
    // Corpus-wide findings (a missing session, unknown label words) are warnings, not one item among many.
    const warnings = q.items.filter((i) => i.kind !== undefined && CORPUS_ISSUE_KINDS.has(i.kind));
    for (const w of warnings) lines.push(`  warning ${q.dataset}: ${w.file}: ${w.reason}`);
    const what =
      q.stage === 'acquire'
        ? `${q.issues} manifest issues, ${q.skippedEntries} archive entries skipped`
        : `${q.issues} items`;
    lines.push(
      `  quarantined ${q.dataset}/${q.stage}: ${what} (full list: ${q.issuesKey}${q.skippedEntries ? ' and summary.json' : ''})`,
    );
    for (const i of q.items)
      if (!warnings.includes(i)) lines.push(`    ${i.file}${i.line ? `:${i.line}` : ''}: ${i.reason}`);
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
