import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { decodePayload, fetchEvents } from '../../cli/run-history.ts';

/** One scheduled activity of a workflow run: its input, the last attempt started and its result. */
export interface ActivityRun<I, R> {
  input: I;
  attempt: number;
  result?: R;
}

/** Every activity of type `type` in the latest run of `workflowId`, from its history. */
export async function activityRuns<I, R>(
  client: Client,
  workflowId: string,
  type: string,
): Promise<Array<ActivityRun<I, R>>> {
  const runId = (await client.workflow.getHandle(workflowId).describe()).runId;
  const byId = new Map<string, ActivityRun<I, R>>();
  for (const e of await fetchEvents(client, workflowId, runId)) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === type)
      byId.set(String(e.eventId), { input: decodePayload<I>(s.input?.payloads?.[0])!, attempt: 0 });
    const st = e.activityTaskStartedEventAttributes;
    const a = st && byId.get(String(st.scheduledEventId));
    if (a) a.attempt = Number(st.attempt ?? 1);
    const c = e.activityTaskCompletedEventAttributes;
    const done = c && byId.get(String(c.scheduledEventId));
    if (done) done.result = decodePayload<R>(c.result?.payloads?.[0]);
  }
  return [...byId.values()];
}

/** The last attempt of each activity type in the latest run of `workflowId` (0: scheduled, never started). */
export async function activityAttempts(client: Client, workflowId: string): Promise<Record<string, number>> {
  const runId = (await client.workflow.getHandle(workflowId).describe()).runId;
  const names = new Map<string, string>();
  const out: Record<string, number> = {};
  for (const e of await fetchEvents(client, workflowId, runId)) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const name = s.activityType?.name ?? '?';
      names.set(String(e.eventId), name);
      out[name] ??= 0;
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) out[names.get(String(st.scheduledEventId)) ?? '?'] = Number(st.attempt ?? 1);
  }
  return out;
}

/** The pending activity of type `type`: attempt, last heartbeat and last failure (null when none, or before the workflow exists). */
export async function pendingActivity<D>(
  client: Client,
  workflowId: string,
  type: string,
): Promise<{ attempt: number; details: D | null; lastFailure: string | null } | null> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== type) continue;
      return {
        attempt: a.attempt ?? 1,
        details: decodePayload<D>(a.heartbeatDetails?.payloads?.[0]) ?? null,
        lastFailure: a.lastFailure?.message ?? null,
      };
    }
  } catch {
    // the workflow does not exist yet
  }
  return null;
}

/** `p`, or a failure naming what is stuck (`why`) after `ms`: every wait in a fault test is bounded. */
export async function within<T>(p: Promise<T>, ms: number, why: () => Promise<string>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  try {
    const r = await Promise.race([p, late]);
    if (r === 'late') assert.fail(await why());
    return r;
  } finally {
    clearTimeout(timer);
  }
}
