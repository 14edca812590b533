import { createReadStream, type Dirent } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { DatasetName, SourceSpec } from '../../schemas/config.ts';
import { MerError, ErrorTypes } from '../common/errors.ts';
import { contentKey } from '../common/hash.ts';
import { sha256Stream } from '../common/hash-stream.ts';
import type { StepContext } from '../common/context.ts';
import { joinKey, type ObjectStore } from '../store/types.ts';
import { redactUrlForLog } from '../common/redact.ts';
import { unpackToStore } from './archive/unpacker.ts';
import { DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_BYTES, PathClaims, storablePath } from './archive/entry-safety.ts';
import type { PathClaimer, UnpackLimits } from './archive/types.ts';
import { isIgnoredPath } from './manifest-common.ts';

/** Bumped when unpacking or import would lay files out differently: old raw copies then don't match. */
export const RAW_LAYOUT_VERSION = 1;

/**
 * Identity of a source for the cache. A sha256, when given, is the identity (a fresh download link
 * for the same bytes then reuses everything). Without one: a URL by its address without the query
 * (links expire, data does not), an archive by name, size and mtime (hashing 17 GB before knowing
 * whether there is anything to do would cost minutes), a folder by its listing of names, sizes and mtimes.
 */
export async function sourceKey(dataset: DatasetName, source: SourceSpec): Promise<string> {
  const base = { dataset, v: RAW_LAYOUT_VERSION };
  if ('sha256' in source && source.sha256) return contentKey({ ...base, sha256: source.sha256 });
  switch (source.kind) {
    case 'url':
      return contentKey({ ...base, url: redactUrlForLog(source.url) });
    case 'archive': {
      const s = await statOrMissing(source.path, 'archive');
      if (!s.isFile()) throw new MerError(ErrorTypes.SourceMissing, `${source.path}: not a file (expected an archive)`);
      return contentKey({ ...base, name: basename(source.path), size: s.size, mtimeMs: Math.floor(s.mtimeMs) });
    }
    case 'folder': {
      const s = await statOrMissing(source.path, 'folder');
      if (!s.isDirectory()) throw new MerError(ErrorTypes.SourceMissing, `${source.path}: not a folder`);
      const listing = (await listFolder(source.path)).map((f) => [f.rel, f.size, f.mtimeMs]);
      // MELD's nested train/dev/test archives in a folder are expanded since folder layout 2.
      return contentKey({ ...base, listing, ...(dataset === 'meld' ? { folderLayout: 2 } : {}) });
    }
  }
}

async function statOrMissing(path: string, what: string) {
  try {
    return await stat(path);
  } catch {
    throw new MerError(ErrorTypes.SourceMissing, `${path}: ${what} not found (is the path visible to this worker?)`, {
      path,
    });
  }
}

export interface FolderFile {
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

export interface FolderWalk {
  files: FolderFile[];
  /** Things in the folder that are not copied, with the reason (symlinks, devices, names that are not UTF-8). */
  refused: Array<{ entry: string; reason: string }>;
}

/** What the file system calls an entry that is neither a file nor a directory. */
function otherKind(e: Dirent): string {
  if (e.isSymbolicLink()) return 'symlink: not followed (it could point outside the folder); not copied';
  if (e.isFIFO()) return 'fifo (not a regular file)';
  if (e.isSocket()) return 'socket (not a regular file)';
  if (e.isCharacterDevice()) return 'character device (not a regular file)';
  if (e.isBlockDevice()) return 'block device (not a regular file)';
  return 'not a regular file';
}

/**
 * Regular files under root, sorted, macOS residue left out; everything else is refused with a reason.
 * A name that is not UTF-8 comes back from readdir with U+FFFD in it and names no file: refused too.
 */
export async function walkFolder(root: string): Promise<FolderWalk> {
  const files: FolderFile[] = [];
  const refused: FolderWalk['refused'] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (isIgnoredPath(rel)) continue;
      if (e.name.includes('\uFFFD') && !(await exists(abs))) {
        const what = e.isDirectory()
          ? 'folder name is not valid UTF-8 (nothing in it is copied)'
          : 'name is not valid UTF-8';
        refused.push({ entry: rel, reason: `${what}: it cannot be a store key` });
      } else if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        const s = await stat(abs);
        files.push({ rel, abs, size: s.size, mtimeMs: Math.floor(s.mtimeMs) });
      } else refused.push({ entry: rel, reason: otherKind(e) });
    }
  };
  await walk(root);
  const order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  files.sort((a, b) => order(a.rel, b.rel));
  refused.sort((a, b) => order(a.entry, b.entry));
  return { files, refused };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Regular files under root, sorted: the listing a folder's source key is made of. */
export async function listFolder(root: string): Promise<FolderFile[]> {
  return (await walkFolder(root)).files;
}

export interface ImportResult {
  files: Array<{ path: string; size: number; sha256: string }>;
  skipped: Array<{ entry: string; reason: string }>;
  bytesOut: number;
}

/**
 * The paths of the whole source: a folder's own files are claimed first, then what its archives hold,
 * in listing order; the first copy of a path wins (the archives' rule), and a collision is reported.
 */
class SourceClaims implements PathClaimer {
  private readonly claims = new PathClaims();
  private readonly folderFiles = new Set<string>();

  claimFolderFile(path: string): void {
    this.claims.claim(path);
    this.folderFiles.add(path);
  }

  claim(path: string): string | null {
    const why = this.claims.claim(path);
    if (why && this.folderFiles.has(path))
      return "duplicate path: the folder already holds this file (the first copy, the folder's own, was kept)";
    return why;
  }
}

/** A file's bytes as listed: a file that grows or shrinks while it is copied fails the copy (a retry lists it again). */
async function* asListed(f: FolderFile): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const chunk of createReadStream(f.abs) as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > f.size) throw new Error(`${f.abs} grew while it was copied (listed at ${f.size} bytes)`);
    yield chunk;
  }
  if (n !== f.size) throw new Error(`${f.abs} shrank while it was copied (${n} of the ${f.size} bytes listed)`);
}

/** The folder's own files against the limits, before anything is copied: one budget for the whole source. */
function checkFolderBudget(root: string, bytes: number, entries: number, limits: UnpackLimits | undefined): void {
  const maxBytes = limits?.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  const maxEntries = limits?.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (bytes > maxBytes)
    throw new MerError(
      ErrorTypes.ArchiveTooLarge,
      `folder ${root} holds ${bytes} bytes in its files, more than the limit of ${maxBytes} bytes for a source (maxTotalBytes, from acquire.maxExtractGiB)`,
      { path: root, limit: maxBytes, size: bytes },
    );
  if (entries > maxEntries)
    throw new MerError(
      ErrorTypes.ArchiveTooLarge,
      `folder ${root} holds ${entries} files, more than the limit of ${maxEntries} entries for a source (maxEntries, from acquire.maxEntries)`,
      { path: root, limit: maxEntries, entries },
    );
}

/**
 * Copies an unpacked corpus folder into the store, so workers on other machines can read it.
 * Resumes after a retry: files the previous attempt reported done are re-hashed from the store copy
 * only if they are missing there. The folder's files and its archives' contents share one size budget
 * and one set of paths; names that cannot be store keys are skipped with a reason, as in archives.
 */
export async function importFolder(opts: {
  store: ObjectStore;
  root: string;
  destPrefix: string;
  ctx: StepContext;
  concurrency?: number;
  /**
   * Files (relative paths) that are archives to expand in place rather than copy, as `tar -xf` in
   * their folder would: a folder made by unpacking MELD.Raw.tar.gz still holds train/dev/test.tar.gz.
   */
  nested?: (path: string) => boolean;
  limits?: UnpackLimits;
}): Promise<ImportResult> {
  const { store, root, destPrefix, ctx } = opts;
  const walked = await walkFolder(root);
  const skipped: ImportResult['skipped'] = [...walked.refused];
  const claims = new SourceClaims();
  const archives: FolderFile[] = [];
  const files: FolderFile[] = [];
  for (const f of walked.files) {
    const storable = storablePath(f.rel, destPrefix);
    if ('reason' in storable) skipped.push({ entry: f.rel, reason: storable.reason });
    else (opts.nested?.(f.rel) ? archives : files).push(f);
  }
  for (const f of [...files, ...archives]) claims.claimFolderFile(f.rel);
  const spent = { bytes: files.reduce((a, f) => a + f.size, 0), entries: files.length + archives.length };
  checkFolderBudget(root, spent.bytes, spent.entries, opts.limits);

  const resumeAfter = Number(ctx.resumeDetails<{ filesDone?: number }>()?.filesDone ?? 0);
  const results = new Array<ImportResult['files'][number]>(files.length);
  let next = 0;
  let done = 0;
  let bytesOut = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      if (ctx.signal?.aborted) throw ctx.signal.reason ?? new Error('cancelled');
      const i = next++;
      const f = files[i];
      const key = joinKey(destPrefix, f.rel);
      const existing = i < resumeAfter ? await store.head(key) : null;
      if (existing && existing.size === f.size) {
        results[i] = { path: f.rel, size: f.size, sha256: await sha256Stream(await store.getStream(key)) };
      } else {
        const r = await store.put(key, Readable.from(asListed(f)));
        results[i] = { path: f.rel, size: r.size, sha256: r.sha256 };
        bytesOut += r.size;
      }
      done++;
      if (done % 16 === 0 || done === files.length)
        ctx.heartbeat({ filesDone: contiguousDone(results), files: files.length, bytesOut });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  for (const [i, a] of archives.entries()) {
    const r = await unpackToStore({
      store,
      input: { kind: 'file', path: a.abs },
      archiveName: basename(a.rel),
      destPrefix,
      baseDir: a.rel.includes('/') ? a.rel.slice(0, a.rel.lastIndexOf('/')) : '',
      claims,
      ...(opts.limits ? { limits: opts.limits } : {}),
      spent: { ...spent, by: i === 0 ? "the folder's own files" : "the folder's own files and the archives before it" },
      onProgress: (p) => ctx.heartbeat({ filesDone: files.length, files: files.length, nested: a.rel, ...p }),
      signal: ctx.signal,
    });
    spent.bytes += r.expandedBytes;
    spent.entries += r.entries;
    for (const f of r.files) {
      results.push(f);
      bytesOut += f.size;
    }
    for (const k of r.skipped) skipped.push({ entry: `${a.rel}: ${k.entry}`, reason: k.reason });
  }
  return {
    files: results.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)),
    skipped,
    bytesOut,
  };
}

/** Resume point = files done without a gap, since uploads complete out of order. */
function contiguousDone(results: unknown[]): number {
  let i = 0;
  while (i < results.length && results[i] !== undefined) i++;
  return i;
}
