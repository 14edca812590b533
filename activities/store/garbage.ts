import { lstat, readdir, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { TMP_MARK } from './base.ts';

/**
 * What a killed writer leaves in a store: a local store's temp file (written, never renamed into
 * place) or an S3 multipart upload never completed nor aborted. Neither is ever listed or read as an
 * object; they only take space. Age is measured from the last write (a temp file's mtime, an upload's
 * newest part), so a writer still at work keeps its leftovers young and they are never taken from it.
 */

/** Leftovers younger than this may belong to a writer still at work; older ones are removed. */
export const GARBAGE_MIN_AGE_MS = 60 * 60 * 1000;

export interface GarbageItem {
  kind: 'temp-file' | 'multipart-upload';
  /** Store-relative path of the temp file, or the key the upload was writing. */
  key: string;
  size: number;
  /** Last write, ISO 8601. */
  modified: string;
  uploadId?: string;
}

/** Temp files in `dir` (and below it when `recursive`), with store-relative keys. Symlinks are not followed. */
export async function findTempFiles(root: string, dir: string, recursive: boolean): Promise<GarbageItem[]> {
  const out: GarbageItem[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
      throw err;
    }
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) {
        if (recursive) await walk(full);
      } else if (e.isFile() && e.name.startsWith(TMP_MARK)) {
        try {
          const s = await lstat(full);
          out.push({
            kind: 'temp-file',
            key: relative(root, full).split(sep).join('/'),
            size: s.size,
            modified: s.mtime.toISOString(),
          });
        } catch (err) {
          // Renamed into place (or removed) by its writer between readdir and lstat: not garbage.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
  };
  await walk(dir);
  return out;
}

/**
 * Removes the temp files of `items` last written before `cutoffMs`, checking each again right before
 * (its writer may have written to it since it was listed). Returns what was removed.
 */
export async function removeTempFiles(root: string, items: GarbageItem[], cutoffMs: number): Promise<GarbageItem[]> {
  const removed: GarbageItem[] = [];
  for (const item of items) {
    if (item.kind !== 'temp-file') continue;
    const path = join(root, ...item.key.split('/'));
    try {
      const s = await lstat(path);
      if (!s.isFile() || s.mtimeMs >= cutoffMs) continue;
      await unlink(path);
      removed.push({ ...item, size: s.size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

export interface GarbageSummary {
  count: number;
  bytes: number;
  /** Last write of the oldest item, or null when there is none. */
  oldest: string | null;
}

export function summarize(items: readonly GarbageItem[]): GarbageSummary {
  let oldest: string | null = null;
  for (const i of items) if (oldest === null || i.modified < oldest) oldest = i.modified;
  return { count: items.length, bytes: items.reduce((n, i) => n + i.size, 0), oldest };
}
