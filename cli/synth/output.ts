import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import tar from 'tar-stream';
import { mapLimit } from '../../activities/common/concurrency.ts';

/** Writing a corpus out: files, macOS residue, deterministic tar.gz archives, and the parallel jobs that fill it. */

export async function writeFileEnsured(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

export function defaultConcurrency(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Runs fn over items with at most `limit` in flight. After the first failure nothing new starts, and it
 * rejects only once in-flight work has settled: no ffmpeg still writes into a folder the caller removes.
 */
export async function mapSettled<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  let failed: { err: unknown } | null = null;
  const results = await mapLimit(items, Math.max(1, limit), async (item, i) => {
    if (failed) return undefined;
    try {
      return await fn(item, i);
    } catch (err) {
      failed ??= { err };
      return undefined;
    }
  });
  if (failed) throw (failed as { err: unknown }).err;
  return results as R[];
}

/**
 * Apple Double residue as macOS `tar`/Finder leave it (`._name`): magic 0x00051607, version 2, a filler
 * string and an empty entry table, padded to the 4096 bytes such files usually have.
 */
export function appleDoubleBytes(): Buffer {
  const b = Buffer.alloc(4096);
  b.writeUInt32BE(0x00051607, 0);
  b.writeUInt32BE(0x00020000, 4);
  b.write('Mac OS X        ', 8, 'ascii');
  b.writeUInt16BE(0, 24);
  return b;
}

// ---------------------------------------------------------------------------------------------------
// Deterministic tar.gz

/** Fixed timestamp for archive entries: archives must not depend on when they were built. */
export const ARCHIVE_MTIME = new Date('2012-01-01T00:00:00Z');

async function walkSorted(dir: string, rel: string, out: { rel: string; abs: string; dir: boolean }[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  // Code-unit order, not locale order, so the entry order is identical on every machine.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const abs = join(dir, e.name);
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) {
      out.push({ rel: r, abs, dir: true });
      await walkSorted(abs, r, out);
    } else if (e.isFile()) {
      out.push({ rel: r, abs, dir: false });
    }
  }
}

/**
 * Packs folder `dir` as `<prefix>/...` into a gzipped ustar archive at `outFile`. Entries are sorted,
 * with fixed mtime, uid/gid 0 and no user names; Node's gzip header carries no timestamp, so equal
 * inputs give equal archive bytes.
 */
export async function packTarGz(dir: string, prefix: string, outFile: string): Promise<void> {
  const items: { rel: string; abs: string; dir: boolean }[] = [{ rel: prefix, abs: dir, dir: true }];
  await walkSorted(dir, prefix, items);
  await mkdir(dirname(outFile), { recursive: true });
  await rm(outFile, { force: true });
  const pack = tar.pack();
  const written = pipeline(
    pack,
    createGzip({ level: zlibConstants.Z_DEFAULT_COMPRESSION }),
    createWriteStream(outFile),
  );
  const common = { mtime: ARCHIVE_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  try {
    for (const item of items) {
      if (item.dir) {
        await new Promise<void>((res, rej) =>
          pack.entry({ ...common, name: `${item.rel}/`, type: 'directory', mode: 0o755 }, (err) =>
            err ? rej(err) : res(),
          ),
        );
        continue;
      }
      const size = (await stat(item.abs)).size;
      let sink: ReturnType<typeof pack.entry> | undefined;
      const done = new Promise<void>((res, rej) => {
        sink = pack.entry({ ...common, name: item.rel, type: 'file', mode: 0o644, size }, (err) =>
          err ? rej(err) : res(),
        );
      });
      for await (const chunk of createReadStream(item.abs)) {
        if (!sink!.write(chunk as Buffer)) await once(sink!, 'drain');
      }
      sink!.end(undefined);
      await done;
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => {});
    throw err;
  }
  await written;
}
