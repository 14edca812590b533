import type { Readable } from 'node:stream';
import type { ObjectStore } from '../../store/types.ts';

/** The types of archive unpacking: what callers pass and get back, and the per-entry view the readers share. */

export type UnpackInput = { kind: 'file'; path: string } | { kind: 'stream'; stream: Readable };
export type ArchiveType = 'tar' | 'tar.gz' | 'zip';

export interface UnpackLimits {
  /** Sum of the uncompressed sizes of all entries (nested ones included). Default 64 GiB. */
  maxTotalBytes?: number;
  /** Entries of every kind, nested ones included. Default 2,000,000. */
  maxEntries?: number;
  maxEntryBytes?: number;
}

export interface UnpackProgress {
  /** Entries handled in archive order with nothing left in flight: what a retry passes back as `resumeAfter`. */
  entriesDone: number;
  bytesIn: number;
  bytesOut: number;
  currentEntry: string | null;
}

export interface UnpackedFile {
  /** Relative to destPrefix. */
  path: string;
  size: number;
  sha256: string;
}

export interface SkippedEntry {
  /** The entry's name as the archive spells it. */
  entry: string;
  reason: string;
  /** The nested archive (its path relative to destPrefix) the entry came from; absent for the outer one. */
  archive?: string;
}

export interface NestedArchiveInfo {
  /** Where the nested archive lay (relative to destPrefix); its entries went to that directory. It is not stored itself. */
  path: string;
  type: ArchiveType;
  size: number;
  sha256: string;
  entries: number;
}

export interface UnpackOptions {
  store: ObjectStore;
  input: UnpackInput;
  /** Used for type detection (content signatures win when they are unambiguous) and in every message. */
  archiveName: string;
  destPrefix: string;
  limits?: UnpackLimits;
  /**
   * Entries (paths relative to destPrefix) to expand in place instead of storing, as `tar -xf` run in
   * their directory would: `MELD.Raw/train.tar.gz` yields `MELD.Raw/train_splits/...`. The nested
   * archive itself is not stored (it would double the space); its size and sha256 are reported.
   */
  nested?: (path: string) => boolean;
  /** Entries a previous attempt reported as done: read through, but not uploaded again when already stored with the same size. */
  resumeAfter?: number;
  /** sha256 (hex) of the outer input, checked after the pass; a mismatch throws ChecksumMismatch. */
  expectedSha256?: string;
  onProgress?: (p: UnpackProgress) => void;
  signal?: AbortSignal;
  /** Uploads in flight for entries small enough to buffer. Default 4. */
  concurrency?: number;
  /** Entries up to this size are buffered and uploaded in parallel; bigger ones stream. Default 8 MiB. */
  smallEntryBytes?: number;
  /** Where a zip that arrives as a stream is spooled (it needs random access). Default: the OS temp dir. */
  tmpDir?: string;
  /** Directory (relative to destPrefix) the outer archive's entries land in, as nested archives' do. Default: none. */
  baseDir?: string;
  /**
   * Paths (relative to destPrefix) already taken by the rest of the source, e.g. a folder's own files:
   * one claim list for the whole source, so the first copy of a path wins everywhere.
   */
  claims?: PathClaimer;
  /** What the rest of the source already used of `limits`: one budget for the whole source. */
  spent?: BudgetSpent;
}

export interface PathClaimer {
  /** Claims `path` for a file, or says why it cannot have it. */
  claim(path: string): string | null;
}

export interface BudgetSpent {
  bytes: number;
  entries: number;
  /** What used it, for messages: "the folder's own files and the archives before this one". */
  by: string;
}

export interface UnpackResult {
  files: UnpackedFile[];
  skipped: SkippedEntry[];
  /** sha256 of the outer input bytes. */
  sha256: string;
  archiveType: ArchiveType;
  bytesIn: number;
  bytesOut: number;
  entries: number;
  /** Bytes counted against `limits.maxTotalBytes` (entries stored, skipped or read past). */
  expandedBytes: number;
  nestedArchives: NestedArchiveInfo[];
}

export type EntryKind =
  'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device' | 'fifo' | 'other';

/** One archive entry, whatever the format. Its bytes must be consumed (or discarded) before the next one. */
export interface RawEntry {
  name: string;
  kind: EntryKind;
  /** How the format called it, for messages about unsupported kinds. */
  label: string;
  size: number;
  linkname: string | null;
  /** Set when the entry's data cannot be read at all (encryption, unknown compression). */
  unreadable?: string;
  /** zip: the CRC-32 the data must match. */
  crc32?: number;
  /** tar: the bytes sit in the stream and must be read past even when unused. */
  sequential: boolean;
  open(): Promise<AsyncIterable<Buffer>>;
}

/** One archive being read: the outer one, or a nested one inside it. */
export interface Level {
  /** Display name of the archive this level reads. */
  archive: string;
  /** For nested levels: path of the nested archive relative to destPrefix. */
  nestedPath?: string;
  /** Directory (relative to destPrefix) entries of this level land in. */
  baseDir: string;
  depth: number;
}

/** What a format reader hands its entries to. */
export interface EntrySink {
  /** Marks an error raised by this level's decoder, so it is blamed on this archive. */
  tag(err: unknown): void;
  checkAbort(): void;
  entry(raw: RawEntry): Promise<void>;
  /** Data read through that belongs to no entry (after a tar's end): counted against the size limit. */
  readPast(bytes: number): void;
  /** Something of the archive not extracted, with the reason (listed with the skipped entries). */
  ignored(entry: string, reason: string): void;
}
