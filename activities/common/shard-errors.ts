import { ApplicationFailure } from '@temporalio/common';
import { ErrorTypes, toFailure } from './errors.ts';

/**
 * Unreadable feature and VSC shards, shared by the stages that read them (compress, train, evaluate),
 * and the activity edge that fails them without retries.
 */

/** Failure type of a feature or VSC shard that cannot be read; retrying reads the same bytes. */
export const FEATURE_SHARD_CORRUPT = ErrorTypes.FeatureShardCorrupt;

/**
 * A stored shard that is unreadable or violates its schema. The message always names the store key
 * (and the row and utterance where there is one), so the failed run says which file to regenerate.
 */
export class FeatureShardCorruptError extends Error {
  readonly type = FEATURE_SHARD_CORRUPT;

  constructor(
    readonly shardKey: string,
    readonly detail: string,
  ) {
    super(`corrupt shard ${shardKey}: ${detail}`);
    this.name = FEATURE_SHARD_CORRUPT;
  }
}

/** The activity edge: corrupt shards and the project's typed errors fail without retries. */
export function toStageFailure(err: unknown): unknown {
  if (err instanceof FeatureShardCorruptError) {
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: true,
      details: [{ shardKey: err.shardKey }],
    });
  }
  return toFailure(err);
}
