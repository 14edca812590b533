import { Context } from '@temporalio/activity';

/**
 * What a long step needs from its runtime: a cancellation signal, a way to record progress that a
 * retry can resume from, and the progress a previous attempt recorded. Inside Temporal that is the
 * activity context (heartbeats); the CLI's direct mode (`mer manifest`) runs the same code locally.
 */
export interface StepContext {
  signal?: AbortSignal;
  heartbeat(details: Record<string, unknown>): void;
  /** Details of the last heartbeat of a previous attempt, when this is a retry. */
  resumeDetails<T extends Record<string, unknown>>(): T | undefined;
}

export function temporalStepContext(): StepContext {
  const ctx = Context.current();
  return {
    signal: ctx.cancellationSignal,
    heartbeat: (details) => ctx.heartbeat(details),
    resumeDetails: <T extends Record<string, unknown>>() => (ctx.info.heartbeatDetails as T | undefined) ?? undefined,
  };
}

export function localStepContext(
  opts: { signal?: AbortSignal; onProgress?: (d: Record<string, unknown>) => void } = {},
): StepContext {
  return {
    signal: opts.signal,
    heartbeat: (d) => opts.onProgress?.(d),
    resumeDetails: () => undefined,
  };
}
