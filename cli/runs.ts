import type { Client } from '@temporalio/client';
import { SA_CONFIG_HASH, SA_DATASET, SA_STAGE } from '../workflows/search-attributes.ts';

/** `mer runs`: recent pipeline runs from Temporal visibility, and their table. */

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
