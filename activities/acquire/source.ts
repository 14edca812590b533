import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { DatasetName, SourceSpec } from '../../schemas/config.ts';
import { MerError, ErrorTypes } from '../common/errors.ts';
import { contentKey } from '../common/hash.ts';
import { sha256Stream } from '../common/hash-stream.ts';
import type { StepContext } from '../common/context.ts';
import { joinKey, type ObjectStore } from '../store/types.ts';
import { redactUrlForLog } from '../common/redact.ts';
import { unpackToStore } from './archive/unpacker.ts';
import type { UnpackLimits } from './archive/types.ts';
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

/** Regular files under root, sorted, macOS residue and symlinks left out (links could point anywhere). */
export async function listFolder(root: string): Promise<FolderFile[]> {
  const out: FolderFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (isIgnoredPath(rel)) continue;
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        const s = await stat(abs);
        out.push({ rel, abs, size: s.size, mtimeMs: Math.floor(s.mtimeMs) });
      }
    }
  };
  await walk(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

export interface ImportResult {
  files: Array<{ path: string; size: number; sha256: string }>;
  skipped: Array<{ entry: string; reason: string }>;
  bytesOut: number;
}

/**
 * Copies an unpacked corpus folder into the store, so workers on other machines can read it.
 * Resumes after a retry: files the previous attempt reported done are re-hashed from the store copy
 * only if they are missing there.
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
  const listed = await listFolder(root);
  const archives = opts.nested ? listed.filter((f) => opts.nested!(f.rel)) : [];
  const files = listed.filter((f) => !archives.includes(f));
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
        const r = await store.put(key, createReadStream(f.abs));
        results[i] = { path: f.rel, size: r.size, sha256: r.sha256 };
        bytesOut += r.size;
      }
      done++;
      if (done % 16 === 0 || done === files.length)
        ctx.heartbeat({ filesDone: contiguousDone(results), files: files.length, bytesOut });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  const skipped: ImportResult['skipped'] = [];
  for (const a of archives) {
    const dir = a.rel.includes('/') ? a.rel.slice(0, a.rel.lastIndexOf('/')) : '';
    const r = await unpackToStore({
      store,
      input: { kind: 'file', path: a.abs },
      archiveName: basename(a.rel),
      destPrefix: joinKey(destPrefix, dir),
      ...(opts.limits ? { limits: opts.limits } : {}),
      onProgress: (p) => ctx.heartbeat({ filesDone: files.length, files: files.length, nested: a.rel, ...p }),
      signal: ctx.signal,
    });
    for (const f of r.files) {
      const path = dir ? `${dir}/${f.path}` : f.path;
      results.push({ path, size: f.size, sha256: f.sha256 });
      bytesOut += f.size;
    }
    for (const k of r.skipped) skipped.push({ entry: `${a.rel}: ${k.entry}`, reason: k.reason });
  }
  // A folder that already holds the expanded files next to the archive: one entry per path.
  const byPath = new Map(results.map((f) => [f.path, f]));
  return {
    files: [...byPath.values()].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)),
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
