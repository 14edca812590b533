import { temporalStepContext, type StepContext } from './context.ts';
import { toFailure } from './errors.ts';

/**
 * A step function as a Temporal activity: it gets the activity context (heartbeats, cancellation,
 * resume details), and known failures leave as non-retryable ApplicationFailures (`failure` maps them;
 * stages with their own typed errors pass their mapper).
 */
export function stepActivity<A, R>(
  fn: (input: A, ctx: StepContext) => Promise<R>,
  failure: (err: unknown) => unknown = toFailure,
): (input: A) => Promise<R> {
  return async (input: A): Promise<R> => {
    try {
      return await fn(input, temporalStepContext());
    } catch (err) {
      throw failure(err);
    }
  };
}
