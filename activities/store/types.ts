import type { Readable } from 'node:stream';
import { ErrorTypes, MerError } from '../common/errors.ts';

export interface PutResult {
  key: string;
  size: number;
  /** sha256 of the bytes written, hex. */
  sha256: string;
}

export interface PutOptions {
  contentType?: string;
  /** Fail with StoreConflictError instead of overwriting an existing object (S3 If-None-Match: *). */
  ifNoneMatch?: boolean;
}

export interface ObjectInfo {
  key: string;
  size: number;
}

/** What a stage writes last: its presence means every object the stage lists is complete. */
export interface CommitMarker {
  committedAt: string;
  stage: string;
  /** Small summary of what was produced (counts, keys); never bulk data. */
  summary: Record<string, unknown>;
}

/**
 * The object store every stage reads and writes. Keys are '/'-separated, relative to the store's root
 * (local folder or S3 bucket + prefix). Every write is atomic: a reader sees the old object, no object,
 * or the whole new one, never a partial one.
 */
export interface ObjectStore {
  /** Human-readable location for logs and reports (never includes credentials). */
  readonly describe: string;
  put(key: string, body: Uint8Array | string | Readable, opts?: PutOptions): Promise<PutResult>;
  putFile(key: string, path: string, opts?: PutOptions): Promise<PutResult>;
  get(key: string): Promise<Buffer>;
  /** Streams an object; `range` is inclusive start, exclusive end in bytes. */
  getStream(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  /** Downloads an object to a local file atomically. */
  getFile(key: string, path: string): Promise<void>;
  head(key: string): Promise<ObjectInfo | null>;
  exists(key: string): Promise<boolean>;
  /** All objects whose key starts with prefix, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<number>;
  /** Writes `<prefix>/_COMMIT`: the stage output under prefix becomes visible to skip checks. */
  commit(prefix: string, marker: Omit<CommitMarker, 'committedAt'>): Promise<CommitMarker>;
  committed(prefix: string): Promise<CommitMarker | null>;
  close(): Promise<void>;
}

export class StoreNotFoundError extends Error {
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`object not found: ${key} in ${where}`);
    this.name = 'StoreNotFoundError';
  }
}

export class StoreConflictError extends Error {
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`object already exists: ${key} in ${where}`);
    this.name = 'StoreConflictError';
  }
}

export const COMMIT_FILE = '_COMMIT';

export function joinKey(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}

/** S3's limit on a key (with the store's prefix); longer keys are refused before any request. */
export const MAX_KEY_BYTES = 1024;
/** A file name's limit on the file systems a local store lives on (ext4, xfs, btrfs, APFS). */
export const MAX_SEGMENT_BYTES = 255;

/** Why a key cannot name an object, or null: keys that could escape the root or that S3 and file systems treat differently. */
export function keyRefusal(key: string): string | null {
  if (!key) return 'it is empty';
  if (key.startsWith('/') || key.endsWith('/')) return "it starts or ends with '/'";
  if (key.includes('\\')) return 'it contains a backslash';
  if (key.includes('\0')) return 'it contains a NUL byte';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return "it has an empty, '.' or '..' segment";
    if (Buffer.byteLength(seg) > MAX_SEGMENT_BYTES) return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return null;
}

/** Throws a non-retryable MerStoreKeyInvalid (the same key fails the same way on every attempt). */
export function assertValidKey(key: string): void {
  const why = keyRefusal(key);
  if (why) {
    const shown =
      key.length > 200 ? `${JSON.stringify(key.slice(0, 200))}... (${key.length} characters)` : JSON.stringify(key);
    throw new MerError(
      ErrorTypes.StoreKeyInvalid,
      `invalid store key ${shown}: ${why}; keys are '/'-separated names without empty, '.' or '..' segments, backslashes or NUL, at most ${MAX_SEGMENT_BYTES} bytes a segment and ${MAX_KEY_BYTES} in all (rename the file the key was made from)`,
      { key: key.slice(0, 300) },
    );
  }
}
