import { ApplicationFailure } from '@temporalio/common';

/**
 * Failure types that retrying cannot fix. Activities throw them as non-retryable ApplicationFailures so
 * Temporal stops at once with a named type instead of burning retries; the CLI prints the message,
 * which always names the file (and line/field or archive entry where there is one).
 */
export const ErrorTypes = {
  ConfigInvalid: 'MerConfigInvalid',
  SourceMissing: 'MerSourceMissing',
  SourceUnreachable: 'MerSourceUnreachable',
  ChecksumMismatch: 'MerChecksumMismatch',
  ArchiveCorrupt: 'MerArchiveCorrupt',
  ArchiveUnsupported: 'MerArchiveUnsupported',
  ArchiveTooLarge: 'MerArchiveTooLarge',
  AnnotationsMissing: 'MerAnnotationsMissing',
  StoreNotFound: 'MerStoreNotFound',
  /** Extract stage: an encoder folder or file is absent. */
  ModelMissing: 'MerModelMissing',
  /** Extract stage: a model, tokenizer or preprocessor file does not parse. */
  ModelCorrupt: 'MerModelCorrupt',
  /** Extract stage: the model's inputs, outputs or dimensions are not what its modality needs. */
  ModelMismatch: 'MerModelMismatch',
  /** Extract stage: a segment shard index breaks the schemas/segment.ts contract. */
  SegmentsInvalid: 'MerSegmentsInvalid',
  /** Segment stage: this worker's ffmpeg differs from the one the stage's cache key was computed with. */
  ToolMismatch: 'MerToolMismatch',
  /** Compress, train and evaluate: a stored feature, VSC or prediction shard is unreadable or breaks its schema. */
  FeatureShardCorrupt: 'MerFeatureShardCorrupt',
} as const;
export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

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
