import { ApplicationFailure } from '@temporalio/common';
import type { ErrorType } from '../../schemas/error-types.ts';

// The type names are pure data shared with workflow code (schemas/error-types.ts); re-exported for activities.
export { ErrorTypes, type ErrorType } from '../../schemas/error-types.ts';

/** A plain Error carrying a type; converted to a non-retryable ApplicationFailure at the activity edge. */
export class MerError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}

export function toFailure(err: unknown): unknown {
  if (err instanceof MerError) {
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: true,
      details: [err.details],
    });
  }
  return err;
}
