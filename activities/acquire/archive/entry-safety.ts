import { ErrorTypes, MerError } from '../../common/errors.ts';
import { assertValidKey, joinKey } from '../../store/types.ts';
import type { BudgetSpent, Level, PathClaimer, RawEntry, UnpackLimits } from './types.ts';

/**
 * What an archive may not do to the store: escape the root (`..`, absolute and drive paths, links),
 * smuggle in devices, overwrite or shadow earlier entries, or expand without bound (archive bombs).
 * Unsafe entries are refused and reported, never "repaired".
 */

export const DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 2_000_000;
/** Archives inside archives are expanded this many levels deep; deeper ones are stored as files. */
export const MAX_NESTING_DEPTH = 2;
/** S3's key limit; also keeps local paths well inside PATH_MAX. */
const MAX_KEY_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
const MAX_SYMLINK_TARGET_BYTES = 4096;

export type Verdict =
  | { kind: 'directory' }
  | { kind: 'skip'; reason: string }
  | { kind: 'file'; path: string }
  | { kind: 'nested'; path: string };

// ---------------------------------------------------------------------------------------------------
// Names

/** C0 controls and DEL. */
function hasControlCharacter(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x1f || c === 0x7f) return true;
  }
  return false;
}

/**
 * Normalises an entry name to a safe relative path, or says why it is refused. Refuses rather than
 * repairs: an archive that tries `..`, absolute or drive paths is reported, never "fixed".
 */
export function checkEntryPath(name: string): { path: string } | { reason: string } {
  if (name === '') return { reason: 'empty name' };
  if (name.includes('\0')) return { reason: 'NUL byte in name' };
  if (name.includes('\\')) return { reason: 'backslash in name (a path separator on Windows)' };
  if (/^[a-zA-Z]:/.test(name)) return { reason: 'Windows drive path (escapes the root)' };
  if (name.startsWith('/')) return { reason: 'absolute path (escapes the root)' };
  if (hasControlCharacter(name)) return { reason: 'control character in name' };
  const segs: string[] = [];
  let depth = 0;
  let dotdot = false;
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      dotdot = true;
      depth--;
      if (depth < 0) return { reason: "'..' in path escapes the root" };
      continue;
    }
    depth++;
    segs.push(seg);
  }
  if (dotdot) return { reason: "'..' segment in path" };
  if (segs.length === 0) return { reason: 'empty name' };
  if (segs.some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES))
    return { reason: `path segment longer than ${MAX_SEGMENT_BYTES} bytes` };
  return { path: segs.join('/') };
}

export function isMacResourceFork(path: string): boolean {
  return path.split('/').some((s) => s.startsWith('._') || s === '__MACOSX');
}

/** Whether a link target leaves the archive root (hardlink targets are relative to the root, symlinks to their directory). */
function linkEscapes(entryPath: string, target: string, hard: boolean): boolean {
  if (target.startsWith('/') || target.includes('\\') || /^[a-zA-Z]:/.test(target)) return true;
  const segs = hard ? [] : entryPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '..') {
      if (segs.length === 0) return true;
      segs.pop();
    } else if (seg !== '' && seg !== '.') segs.push(seg);
  }
  return false;
}

/** Whether a zip symlink's target (kept as its data) is small enough to read for the message. */
export function readableLinkTarget(raw: RawEntry): boolean {
  return raw.kind === 'symlink' && !raw.sequential && !raw.unreadable && raw.size <= MAX_SYMLINK_TARGET_BYTES;
}

/** Object stores have no links, so every link is refused; the reason says whether it also escaped. */
function linkRefusal(raw: RawEntry, entryPath: string, target: string): string {
  const what = raw.kind === 'symlink' ? 'symlink' : 'hardlink';
  const escapes = linkEscapes(entryPath, target, raw.kind === 'hardlink');
  return `${what} to ${JSON.stringify(target)}: ${escapes ? 'escapes the root' : 'object stores have no links'}; not extracted`;
}

/** Entries that are not regular files, or whose data cannot be read: refused with a reason. */
function kindRefusal(raw: RawEntry): string | null {
  if (raw.kind === 'character-device' || raw.kind === 'block-device' || raw.kind === 'fifo') {
    return `${raw.kind.replace('-', ' ')} entry (not a regular file)`;
  }
  if (raw.kind === 'other') return `unsupported entry type (${raw.label})`;
  if (raw.unreadable) return raw.unreadable;
  return null;
}

function keyRefusal(key: string): string | null {
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `store key longer than ${MAX_KEY_BYTES} bytes`;
  try {
    assertValidKey(key);
  } catch {
    return 'name not valid as a store key';
  }
  return null;
}

/** The archive rules for a name, for files that come from elsewhere (a folder source): its path, or why it is skipped. */
export function storablePath(name: string, destPrefix: string): { path: string } | { reason: string } {
  const checked = checkEntryPath(name);
  if ('reason' in checked) return checked;
  const refused = keyRefusal(joinKey(destPrefix, checked.path));
  return refused ? { reason: refused } : checked;
}

// ---------------------------------------------------------------------------------------------------
// Paths already taken

/** The paths stored so far: the first copy of a path wins, and no file may shadow a directory or lie under a file. */
export class PathClaims implements PathClaimer {
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();

  /** Claims `path` for a file, or says why it cannot have it. */
  claim(path: string): string | null {
    if (this.files.has(path)) return 'duplicate path (the first copy was kept)';
    if (this.dirs.has(path)) return 'path is a directory of earlier entries';
    const segs = path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join('/');
      if (this.files.has(dir)) return `path lies under the earlier file ${dir}`;
    }
    this.files.add(path);
    for (let i = 1; i < segs.length; i++) this.dirs.add(segs.slice(0, i).join('/'));
    return null;
  }
}

export interface JudgeContext {
  destPrefix: string;
  claims: PathClaimer;
  nested?: (path: string) => boolean;
  /** Reads a zip symlink's target (its data). */
  readLinkTarget: (raw: RawEntry) => Promise<Buffer>;
}

/** Decides what becomes of one entry. Paths are claimed here, in archive order, so the first copy wins however uploads interleave. */
export async function judgeEntry(raw: RawEntry, level: Level, ctx: JudgeContext): Promise<Verdict> {
  if (raw.kind === 'directory') return { kind: 'directory' };
  const checked = checkEntryPath(raw.name);
  if ('reason' in checked) return { kind: 'skip', reason: checked.reason };
  const path = level.baseDir ? `${level.baseDir}/${checked.path}` : checked.path;
  if (isMacResourceFork(checked.path)) return { kind: 'skip', reason: 'macOS resource fork' };
  if (raw.kind === 'symlink' || raw.kind === 'hardlink') {
    // zip keeps a symlink's target as its data; tar has it in the header.
    const target = readableLinkTarget(raw) ? (await ctx.readLinkTarget(raw)).toString('utf8') : (raw.linkname ?? '');
    return { kind: 'skip', reason: linkRefusal(raw, checked.path, target) };
  }
  const refused = kindRefusal(raw) ?? keyRefusal(joinKey(ctx.destPrefix, path)) ?? ctx.claims.claim(path);
  if (refused) return { kind: 'skip', reason: refused };
  if (ctx.nested?.(path) && level.depth < MAX_NESTING_DEPTH) return { kind: 'nested', path };
  return { kind: 'file', path };
}

// ---------------------------------------------------------------------------------------------------
// Bombs

function fmtBytes(n: number): string {
  return n >= 1024 ** 3 ? `${n} bytes (${(n / 1024 ** 3).toFixed(1)} GiB)` : `${n} bytes`;
}

/**
 * Counts entries and expanded bytes against the limits, nested archives included; over a limit is
 * ArchiveTooLarge. `spent` is what the rest of the source (a folder's own files, its archives read
 * before this one) already used: one budget for the whole source.
 */
export class ExpansionBudget {
  /** Entries met so far in this archive, of every kind and level. */
  entries = 0;
  /** Bytes counted so far in this archive: entries stored or skipped, data read past. */
  expandedBytes = 0;
  private readonly maxTotalBytes: number;
  private readonly maxEntries: number;
  private readonly maxEntryBytes: number;
  private readonly spent: BudgetSpent;

  constructor(
    limits: UnpackLimits | undefined,
    private readonly archiveName: string,
    /** How messages name the archive a level reads. */
    private readonly where: (level: Level) => string,
    spent?: BudgetSpent,
  ) {
    this.maxTotalBytes = limits?.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
    this.maxEntries = limits?.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxEntryBytes = limits?.maxEntryBytes ?? Number.POSITIVE_INFINITY;
    this.spent = spent ?? { bytes: 0, entries: 0, by: '' };
  }

  /** Counts one more entry; answers its ordinal (1-based, in archive order across levels). */
  nextEntry(level: Level): number {
    const ordinal = ++this.entries;
    if (this.spent.entries + this.entries > this.maxEntries) this.tooManyEntries(level, this.entries);
    return ordinal;
  }

  /** A zip's directory says up front how many entries follow: refused before anything is written. */
  reserveEntries(level: Level, count: number): void {
    if (this.spent.entries + this.entries + count > this.maxEntries) this.tooManyEntries(level, this.entries + count);
  }

  /** Bytes read through that belong to no entry (after a tar's end-of-archive marker). */
  countPast(bytes: number, level: Level): void {
    this.expandedBytes += bytes;
    if (this.spent.bytes + this.expandedBytes > this.maxTotalBytes) this.tooManyBytes(level, null);
  }

  /** How the message counts what the rest of the source used, when it used anything. */
  private withSpent(what: 'bytes' | 'entries'): string {
    const n = this.spent[what];
    return n > 0 ? ` together with the ${n} ${what} of ${this.spent.by}` : '';
  }

  private tooManyBytes(level: Level, entry: string | null): never {
    const at = entry === null ? 'the data after its end-of-archive marker' : `entry ${entry}`;
    throw new MerError(
      ErrorTypes.ArchiveTooLarge,
      `archive ${this.where(level)} expands to more than the limit of ${fmtBytes(this.maxTotalBytes)} (maxTotalBytes)${this.withSpent('bytes')}; stopped at ${at}`,
      { archive: this.archiveName, entry, limit: this.maxTotalBytes },
    );
  }

  countBytes(raw: RawEntry, level: Level): void {
    if (raw.size > this.maxEntryBytes) {
      throw new MerError(
        ErrorTypes.ArchiveTooLarge,
        `archive ${this.where(level)}: entry ${raw.name} is ${raw.size} bytes, over the per-entry limit of ${fmtBytes(this.maxEntryBytes)} (maxEntryBytes)`,
        { archive: this.archiveName, entry: raw.name, limit: this.maxEntryBytes, size: raw.size },
      );
    }
    this.expandedBytes += raw.size;
    if (this.spent.bytes + this.expandedBytes > this.maxTotalBytes) this.tooManyBytes(level, raw.name);
  }

  private tooManyEntries(level: Level, count: number): never {
    throw new MerError(
      ErrorTypes.ArchiveTooLarge,
      `archive ${this.where(level)} has more than the limit of ${this.maxEntries} entries (maxEntries; at least ${count})${this.withSpent('entries')}`,
      { archive: this.archiveName, limit: this.maxEntries },
    );
  }
}
