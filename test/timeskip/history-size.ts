/**
 * What Temporal limits, measured on a workflow's history: its events, its size in bytes as the server
 * stores it (the protobuf encoding) and its largest payload (inputs, results, signals, markers,
 * failures' details: every `Payloads` in any event). A workflow that continued as new has one history
 * per run; `chainOf` follows the chain from its first run.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

export interface HistoryMeasure {
  workflowId: string;
  runId: string;
  events: number;
  bytes: number;
  /** The largest single payload's data bytes, and where it was. */
  largestPayload: number;
  largestPayloadAt: string;
  /** Most activities scheduled and not yet closed at any point of the history. */
  pendingActivitiesPeak: number;
}

/** Temporal's limits (server defaults) and where it starts warning. */
export const TEMPORAL_LIMITS = {
  historyEvents: { limit: 51_200, warn: 10_240 },
  historyBytes: { limit: 50 * 1024 * 1024, warn: 10 * 1024 * 1024 },
  payloadBytes: { limit: 2 * 1024 * 1024, warn: 512 * 1024 },
  pendingActivities: { limit: 2_000 },
} as const;

/** Each payload's data size found anywhere in `value` (a decoded history event). */
function payloadSizes(value: unknown, path: string, out: Array<{ bytes: number; at: string }>): void {
  if (!value || typeof value !== 'object') return;
  if (value instanceof Uint8Array) return;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.payloads)) {
    for (const p of v.payloads as Array<{ data?: Uint8Array | null }>)
      out.push({ bytes: p.data?.length ?? 0, at: path });
    return;
  }
  for (const [k, child] of Object.entries(v)) {
    if (child && typeof child === 'object') payloadSizes(child, path ? `${path}.${k}` : k, out);
  }
}

export function measureHistory(workflowId: string, runId: string, events: HistoryEvent[]): HistoryMeasure {
  const bytes = temporal.api.history.v1.History.encode({ events }).finish().length;
  let largestPayload = 0;
  let largestPayloadAt = '';
  let pending = 0;
  let pendingActivitiesPeak = 0;
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes) pendingActivitiesPeak = Math.max(pendingActivitiesPeak, ++pending);
    if (
      e.activityTaskCompletedEventAttributes ||
      e.activityTaskFailedEventAttributes ||
      e.activityTaskTimedOutEventAttributes ||
      e.activityTaskCanceledEventAttributes
    )
      pending--;
    const sizes: Array<{ bytes: number; at: string }> = [];
    payloadSizes(e, '', sizes);
    for (const s of sizes) {
      if (s.bytes > largestPayload) {
        largestPayload = s.bytes;
        largestPayloadAt = `${workflowId} event ${String(e.eventId)} ${s.at.split('.')[0]}`;
      }
    }
  }
  return { workflowId, runId, events: events.length, bytes, largestPayload, largestPayloadAt, pendingActivitiesPeak };
}

/** A run's events, fetched in small pages: one page of a large history exceeds gRPC's 4 MB message limit. */
export async function eventsOf(client: Client, workflowId: string, runId: string | undefined): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, ...(runId ? { runId } : {}) },
      maximumPageSize: 200,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

/** Every run of `workflowId` from its first (`firstRunId`), following continue-as-new, measured. */
export async function chainOf(client: Client, workflowId: string, firstRunId?: string): Promise<HistoryMeasure[]> {
  const out: HistoryMeasure[] = [];
  let runId = firstRunId;
  for (let i = 0; i < 10_000; i++) {
    const events = await eventsOf(client, workflowId, runId);
    out.push(measureHistory(workflowId, runId ?? '', events));
    const next = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) break;
    runId = next;
  }
  return out;
}
