/**
 * A sweep's state for `mer sweep` and `mer status mer-sweep-<key>`: its settings and how each stands,
 * from the live `sweepProgress` query while it runs, its result once completed, and otherwise (no
 * worker to answer, or a failed sweep) from its input and its children's own states.
 */
import type { Client } from '@temporalio/client';
import type { SweepInput, SweepResult, SweepSettingStatus } from '../../schemas/sweep.ts';
import { settingWorkflowId, sweepProgressQuery } from '../../workflows/sweep.ts';
import { decodePayload, fetchEvents } from '../run-history.ts';

export interface SweepStatus {
  workflowId: string;
  status: string;
  /** Where the rows come from. */
  source: 'live' | 'result' | 'children';
  settings: Array<{
    index: number;
    label: string;
    status: SweepSettingStatus | 'unknown';
    error?: string;
    workflowId: string;
  }>;
  report?: { json: string; html: string };
}

export const isSweepId = (id: string): boolean => id.startsWith('mer-sweep-');

const CHILD_STATUS: Record<string, SweepSettingStatus> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  TIMED_OUT: 'failed',
  TERMINATED: 'cancelled',
  CANCELLED: 'cancelled',
};

export async function sweepStatus(client: Client, workflowId: string): Promise<SweepStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const status = d.status.name;
  if (status === 'RUNNING') {
    try {
      const p = await client.connection.withDeadline(Date.now() + 3_000, () => handle.query(sweepProgressQuery));
      return {
        workflowId,
        status,
        source: 'live',
        settings: p.settings.map(({ index, label, status: s, error, workflowId: id }) => ({
          index,
          label,
          status: s,
          ...(error ? { error } : {}),
          workflowId: id,
        })),
        ...(p.report ? { report: { json: p.report.json, html: p.report.html } } : {}),
      };
    } catch {
      // no worker answers: the children's own states below
    }
  }
  if (status === 'COMPLETED') {
    const r = (await handle.result()) as SweepResult;
    return {
      workflowId,
      status,
      source: 'result',
      settings: r.settings.map((s) => ({ ...s, workflowId: settingWorkflowId(workflowId, s.index) })),
      report: { json: r.jsonKey, html: r.htmlKey },
    };
  }
  const events = await fetchEvents(client, workflowId, d.runId);
  const input = decodePayload<SweepInput>(events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]);
  if (!input?.settings) throw new Error(`${workflowId}: the history does not start with a MerSweep input`);
  const settings = await Promise.all(
    input.settings.map(async (s) => {
      const id = settingWorkflowId(workflowId, s.index);
      const child = await client.workflow
        .getHandle(id)
        .describe()
        .then((c) => CHILD_STATUS[c.status.name] ?? 'unknown')
        .catch(() => 'pending' as const);
      return { index: s.index, label: s.label, status: child, workflowId: id };
    }),
  );
  return { workflowId, status, source: 'children', settings };
}

export function renderSweepStatus(st: SweepStatus): string[] {
  const counts = new Map<string, number>();
  for (const s of st.settings) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  return [
    `${st.workflowId}: ${st.status.toLowerCase()} (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})`,
    ...st.settings.map(
      (s) =>
        `  ${String(s.index + 1).padStart(2)}. ${s.status.padEnd(9)} ${s.label}${s.error ? ` (${s.error.split('\n')[0]})` : ''}`,
    ),
    ...(st.report ? [`  report: ${st.report.html}`, `          ${st.report.json}`] : []),
  ];
}
