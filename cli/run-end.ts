import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';

/**
 * How a run that did not complete ended, in the words a user needs: a termination (someone stopped
 * it) is not a failure (something went wrong), and every ending names the command that continues it.
 * `mer run` / `mer resume` print it as one line, or with --json as an NDJSON event on stderr.
 */

export type RunEnd = 'failed' | 'terminated' | 'cancelled' | 'timed-out';

/** The innermost message (it names the file and line) and the innermost `Mer*` failure type. */
export function describeFailure(err: unknown): { message: string; type: string | null } {
  let e: unknown = err;
  let message = String(err);
  let type: string | null = null;
  for (let i = 0; i < 8 && e && typeof e === 'object'; i++) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m) message = m;
    const t = (e as { type?: unknown }).type;
    if (typeof t === 'string' && t.startsWith('Mer')) type = t;
    e = (e as { cause?: unknown }).cause;
  }
  return { message, type };
}

/** `MerChecksumMismatch: <message>`, or the message alone when no Mer type is known. */
export function typedMessage(err: unknown): string {
  const { message, type } = describeFailure(err);
  return type && !message.startsWith(type) ? `${type}: ${message}` : message;
}

export class RunEndedError extends Error {
  override name = 'RunEndedError';
  constructor(
    readonly end: RunEnd,
    readonly workflowId: string,
    /** What happened: the failure (typed), or the termination / cancellation reason. */
    readonly reason: string,
    readonly type: string | null,
  ) {
    super(runEndLine(end, workflowId, reason));
  }

  /** The command that continues the run from its committed outputs. */
  get next(): string {
    return `mer resume ${this.workflowId}`;
  }

  /** The NDJSON event `mer run --json` writes on stderr. */
  event(): Record<string, unknown> {
    return {
      event: this.end,
      workflowId: this.workflowId,
      type: this.type,
      message: this.reason,
      next: this.next,
    };
  }
}

function runEndLine(end: RunEnd, workflowId: string, reason: string): string {
  const what =
    end === 'failed'
      ? `failed: ${reason}`
      : end === 'terminated'
        ? `was terminated${reason ? ` (${reason})` : ''}`
        : end === 'cancelled'
          ? 'was cancelled'
          : 'timed out';
  const fix = end === 'failed' ? 'fix the cause, then ' : '';
  return `run ${workflowId} ${what}; ${fix}\`mer resume ${workflowId}\` continues it, reusing every committed output`;
}

/** The run's ending when `err` is the run's own outcome (WorkflowFailedError); null for anything else. */
export function classifyRunEnd(err: unknown, workflowId: string): RunEndedError | null {
  if (!(err instanceof WorkflowFailedError)) return null;
  const cause = err.cause;
  if (cause instanceof TerminatedFailure)
    return new RunEndedError('terminated', workflowId, terminationReason(cause), null);
  if (cause instanceof CancelledFailure) return new RunEndedError('cancelled', workflowId, cause.message, null);
  if (cause instanceof TimeoutFailure) return new RunEndedError('timed-out', workflowId, cause.message, null);
  const { type } = describeFailure(cause ?? err);
  return new RunEndedError('failed', workflowId, typedMessage(cause ?? err), type);
}

/** The reason given to `temporal workflow terminate --reason` (the SDK's default text says nothing). */
function terminationReason(f: TerminatedFailure): string {
  return f.message && f.message !== 'Workflow execution terminated' ? f.message : '';
}
