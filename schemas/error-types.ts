/**
 * Failure types that retrying cannot fix. Activities throw them as non-retryable ApplicationFailures so
 * Temporal stops at once with a named type instead of burning retries; the CLI prints the message,
 * which always names the file (and line/field or archive entry where there is one).
 *
 * Pure (no Temporal or Node imports): activities throw these types (activities/common/errors.ts) and
 * workflow code lists them in its retry policies, from the same names.
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
  /** Acquire: an annotation file (CSV, EmoEvaluation, transcription) larger than it may be read as one string. */
  AnnotationTooLarge: 'MerAnnotationTooLarge',
  StoreNotFound: 'MerStoreNotFound',
  /** The store refused this worker: S3 credentials, signature or permission, or a local folder it may not write. */
  StoreAccessDenied: 'MerStoreAccessDenied',
  /** The store's root cannot hold a store: a system folder, a path through a file, an S3 bucket that does not exist. */
  StoreRootUnusable: 'MerStoreRootUnusable',
  /** A key no store can hold (empty, '.'/'..' segments, backslash, NUL, too long). */
  StoreKeyInvalid: 'MerStoreKeyInvalid',
  /** Data the pipeline wrote (a stored file, a stage's payload) breaks its schema: a retry reads the same bytes. */
  OutputInvalid: 'MerOutputInvalid',
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
  /** Train stage: the loss became non-finite; the same key diverges the same way (models/<trainKey>/diverged.json). */
  TrainingDiverged: 'MerTrainingDiverged',
} as const;
export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

const E = ErrorTypes;

/**
 * The types each stage's activity retry policy does not retry. The lists (contents and order) are part
 * of every recorded ActivityTaskScheduled event: change one only together with new replay histories.
 */
export const NON_RETRYABLE = {
  acquire: [
    E.ConfigInvalid,
    E.SourceMissing,
    E.SourceUnreachable,
    E.ChecksumMismatch,
    E.ArchiveCorrupt,
    E.ArchiveUnsupported,
    E.ArchiveTooLarge,
    E.AnnotationsMissing,
  ],
  segment: [E.ConfigInvalid, E.ToolMismatch],
  extract: [E.ConfigInvalid, E.ModelMissing, E.ModelCorrupt, E.ModelMismatch, E.SegmentsInvalid],
  compress: [E.ConfigInvalid, E.FeatureShardCorrupt],
  train: [E.ConfigInvalid, E.FeatureShardCorrupt],
  evaluate: [E.ConfigInvalid, E.FeatureShardCorrupt],
} as const satisfies Record<string, readonly ErrorType[]>;
export type StageWithActivities = keyof typeof NON_RETRYABLE;

/**
 * The first details object of a failure of `type` anywhere in an error's `cause` chain (a workflow's
 * ActivityFailure or ChildWorkflowFailure wraps the ApplicationFailure; an activity's own MerError is
 * one): undefined for any other error. Pure: workflow code uses it to tell a result-like failure
 * (a diverged training) from a fault.
 */
export function failureDetails(err: unknown, type: ErrorType): Record<string, unknown> | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const f = e as { type?: unknown; details?: unknown; cause?: unknown };
    if (f.type === type) {
      const d: unknown = Array.isArray(f.details) ? f.details[0] : f.details;
      return d !== null && typeof d === 'object' ? (d as Record<string, unknown>) : undefined;
    }
    e = f.cause;
  }
  return undefined;
}
