import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { PipelineInput } from '../schemas/config.ts';
import type { MerPipeline } from '../workflows/pipeline.ts';
import { describeRun, fetchEvents, inputFromHistory, num, type HistoryEvent } from './run-history.ts';
import { hasSearchAttributes, startPipeline } from './run.ts';

/** Statuses a run can be resumed from. */
export const RESUMABLE = ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'] as const;

export interface ResetPoint {
  /** The WORKFLOW_TASK_COMPLETED event to reset to: its commands (and everything after) are dropped. */
  eventId: number;
  /** The stage whose children are started again, if the failure happened in one. */
  stage?: string;
  /** Children that did not complete and are run again (their committed outputs are still reused). */
  children: string[];
}

/**
 * Where to reset a failed MerPipeline run: the workflow task that started the first child workflow
 * that did not complete. Resetting to that WORKFLOW_TASK_COMPLETED event drops the commands it sent,
 * so the new run replays everything before it (earlier stages' results come from the history, no
 * activity runs again) and issues the start of that stage anew.
 *
 * Resetting any later (e.g. to the last task before the child's failure event) does not help: the
 * failed child's start would stay in the history, and the reset run would wait on a child that has
 * already failed. Without any unfinished child (the failure came from the parent itself), the point is
 * the last completed workflow task.
 */
export function findResetPoint(events: HistoryEvent[]): ResetPoint {
  const completedChildren = new Set<number>();
  for (const e of events) {
    const c = e.childWorkflowExecutionCompletedEventAttributes;
    if (c) completedChildren.add(num(c.initiatedEventId));
  }
  const unfinished = events.filter(
    (e) => e.startChildWorkflowExecutionInitiatedEventAttributes && !completedChildren.has(num(e.eventId)),
  );
  const firstUnfinished = unfinished.length ? num(unfinished[0].eventId) : Number.POSITIVE_INFINITY;
  let point: HistoryEvent | undefined;
  for (const e of events) {
    if (num(e.eventId) >= firstUnfinished) break;
    if (e.workflowTaskCompletedEventAttributes) point = e;
  }
  if (!point) throw new Error('the run has no completed workflow task to reset to; resume it without --reset');
  const eventId = num(point.eventId);
  // Every child started by that task's commands runs again, not only the one that failed.
  const restarted = events.filter(
    (e) =>
      e.startChildWorkflowExecutionInitiatedEventAttributes &&
      num(e.eventId) > eventId &&
      num(e.startChildWorkflowExecutionInitiatedEventAttributes.workflowTaskCompletedEventId) === eventId,
  );
  const stage = unfinished[0]?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId?.split('/').at(-2);
  return {
    eventId,
    ...(stage ? { stage } : {}),
    children: (restarted.length ? restarted : unfinished).map(
      (e) => e.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId ?? '?',
    ),
  };
}

export interface ResumeOutcome {
  handle: WorkflowHandle<typeof MerPipeline>;
  input: PipelineInput;
  mode: 'reset' | 'new-run' | 'attached';
  /** The run that failed (or, when attached, the running one). */
  fromRunId: string;
  fromStatus: string;
  reset?: ResetPoint;
}

/**
 * `mer resume`: a run that failed, was terminated, cancelled or timed out continues.
 *
 * - default (new run): the same PipelineInput, read from the failed run's history, starts a new run
 *   with the same workflow id. Every stage output committed in the store is found and reused. This
 *   runs the current workflow code from the start, so it is right after a code fix or upgrade, and it
 *   is the only way once a run's history is gone (retention).
 * - reset: Temporal resets the failed run to just before the failed stage (see findResetPoint). The
 *   new run is linked to the old one in the UI, keeps its history up to that point, and does not even
 *   plan the stages that finished. The workflow code must replay that history (same code, or a
 *   `patched()` change).
 *
 * A run still running is attached to; a completed one is an error (`mer run` starts a new one).
 */
export async function resumeRun(
  client: Client,
  run: string,
  opts: {
    reset: boolean;
    identity?: string;
    /** Adjusts a new run's input (embedded `mer resume` gives it run-scoped task queues). */
    retarget?: (input: PipelineInput) => PipelineInput;
  },
): Promise<ResumeOutcome> {
  const ref = await describeRun(client, run);
  const status = ref.description.status.name;
  const events = await fetchEvents(client, ref.workflowId, ref.runId);
  const input = inputFromHistory(events);
  if (status === 'RUNNING') {
    return {
      handle: client.workflow.getHandle<typeof MerPipeline>(ref.workflowId, ref.runId),
      input,
      mode: 'attached',
      fromRunId: ref.runId,
      fromStatus: status,
    };
  }
  if (!(RESUMABLE as readonly string[]).includes(status)) {
    throw new Error(
      `${ref.workflowId} is ${status.toLowerCase()}: nothing to resume (\`mer run\` with the same config starts a new run that reuses every output)`,
    );
  }
  if (opts.reset) {
    const point = findResetPoint(events);
    // The request wants the id as the protobuf Long the history gave us.
    const eventIdLong = events.find((e) => num(e.eventId) === point.eventId)!.eventId!;
    const r = await client.workflowService.resetWorkflowExecution({
      namespace: client.options.namespace,
      workflowExecution: { workflowId: ref.workflowId, runId: ref.runId },
      workflowTaskFinishEventId: eventIdLong,
      reason: `mer resume --reset: restart ${point.stage ?? 'the run'} after ${status.toLowerCase()} run ${ref.runId}`,
      requestId: randomUUID(),
      // The old children's progress signals describe attempts that the reset throws away.
      resetReapplyExcludeTypes: [1 /* RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL */],
      identity: opts.identity ?? 'mer resume',
    });
    return {
      handle: client.workflow.getHandle<typeof MerPipeline>(ref.workflowId, r.runId ?? undefined),
      input,
      mode: 'reset',
      fromRunId: ref.runId,
      fromStatus: status,
      reset: point,
    };
  }
  // The server may have had the search attributes registered since the failed run started.
  const same = { ...input, searchAttributes: await hasSearchAttributes(client, client.options.namespace) };
  const fresh = opts.retarget ? opts.retarget(same) : same;
  const { handle } = await startPipeline(client, fresh);
  return { handle, input: fresh, mode: 'new-run', fromRunId: ref.runId, fromStatus: status };
}
