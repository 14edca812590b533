import { ApplicationFailure } from '@temporalio/common';
import { ErrorTypes, type ErrorType } from '../../schemas/error-types.ts';

// The type names are pure data shared with workflow code (schemas/error-types.ts); re-exported for activities.
export { ErrorTypes, type ErrorType };

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
  if (isZodError(err)) {
    // A schema check inside an activity tests data the pipeline made (a stored file, a payload): the
    // same bytes fail the same way on every retry. Sites that know the file say so (stored-json.ts).
    const issues = err.issues.slice(0, 5).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    return ApplicationFailure.create({
      type: ErrorTypes.OutputInvalid,
      message: `data the pipeline wrote breaks its schema (${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}); a retry reads the same bytes: delete the stage's output in the store and run again`,
      nonRetryable: true,
      details: [{ issues }],
    });
  }
  return err;
}

function isZodError(err: unknown): err is { issues: Array<{ path: PropertyKey[]; message: string }> } {
  return err instanceof Error && err.name === 'ZodError' && Array.isArray((err as { issues?: unknown }).issues);
}
