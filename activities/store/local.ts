import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, unlink, link, copyFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { BaseStore, TMP_MARK, byKey, tmpSibling } from './base.ts';
import { GARBAGE_MIN_AGE_MS, findTempFiles, removeTempFiles, type GarbageItem } from './garbage.ts';
import { assertUsableLocalRoot } from './local-root.ts';
import {
  StoreConflictError,
  StoreNotFoundError,
  assertValidKey,
  type ObjectInfo,
  type ObjectStore,
  type CommitMarker,
  type PutOptions,
  type PutResult,
} from './types.ts';

type Errno = NodeJS.ErrnoException;
const codeOf = (err: unknown): string => (err as Errno | null)?.code ?? '';

/** The embedded default: a folder on local disk (or a shared file system mounted on every worker). */
export class LocalStore extends BaseStore implements ObjectStore {
  readonly describe: string;
  /** Folders whose stale temp files this process removed, and when (each is swept at most hourly). */
  private readonly swept = new Map<string, number>();

  constructor(readonly root: string) {
    super();
    // Defence in depth: the config refuses these roots too, but a payload or a direct caller may not.
    assertUsableLocalRoot(root);
    this.describe = `file://${root}`;
  }

  private path(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | string | Readable, opts: PutOptions = {}): Promise<PutResult> {
    let target: string;
    try {
      target = this.path(key);
      await mkdir(dirname(target), { recursive: true });
    } catch (err) {
      // The stream was handed over to be consumed; left open it would pin its file descriptor or socket.
      if (body instanceof Readable) body.destroy();
      throw await this.writeErr(err, key, dirname(join(this.root, key)));
    }
    await this.sweep(dirname(target), false);
    const tmp = tmpSibling(target);
    const hash = createHash('sha256');
    let size = 0;
    const source =
      body instanceof Readable
        ? body
        : Readable.from([typeof body === 'string' ? Buffer.from(body) : Buffer.from(body)]);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(source, counter, createWriteStream(tmp));
      if (opts.ifNoneMatch) {
        // link() fails if the target exists: an atomic create-if-absent, like S3's If-None-Match.
        try {
          await link(tmp, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new StoreConflictError(key, this.describe);
          throw err;
        }
        await unlink(tmp);
      } else {
        await rename(tmp, target);
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw await this.writeErr(err, key, dirname(target));
    }
    return { key, size, sha256: hash.digest('hex') };
  }

  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<PutResult> {
    return this.put(key, createReadStream(path), opts);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      throw this.mapErr(err, key);
    }
  }

  async getStream(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const p = this.path(key);
    try {
      await stat(p);
    } catch (err) {
      throw this.mapErr(err, key);
    }
    if (range && range.end !== undefined && range.end <= range.start) return Readable.from([]);
    return createReadStream(
      p,
      range ? { start: range.start, end: range.end === undefined ? undefined : range.end - 1 } : {},
    );
  }

  async getFile(key: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = tmpSibling(path);
    try {
      await copyFile(this.path(key), tmp);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      // Only a missing source is the store's to name: other errors may be about the local destination.
      throw codeOf(err) === 'ENOENT' ? new StoreNotFoundError(key, this.describe) : err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const p = this.path(key);
    try {
      const s = await stat(p);
      return s.isFile() ? { key, size: s.size } : null;
    } catch (err) {
      // An unreadable folder is not an absent object: saying "absent" would make a stage redo and overwrite.
      if (['ENOENT', 'ENOTDIR'].includes(codeOf(err))) return null;
      throw this.mapErr(err, key);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    // Walk only the deepest directory the prefix names, then filter by the remaining partial segment.
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut >= 0 ? prefix.slice(0, cut) : '';
    const start = dirKey ? join(this.root, ...dirKey.split('/')) : this.root;
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        // A folder that cannot be read would silently shorten the listing.
        if (['ENOENT', 'ENOTDIR'].includes(codeOf(err))) return;
        throw this.mapErr(err, relative(this.root, dir).split(sep).join('/') || '.');
      }
      for (const e of entries) {
        if (e.name.startsWith(TMP_MARK)) continue;
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) {
          const key = relative(this.root, full).split(sep).join('/');
          if (!key.startsWith(prefix)) continue;
          try {
            out.push({ key, size: (await stat(full)).size });
          } catch (err) {
            // Deleted between readdir and stat (a concurrent delete): not listed, like any object gone.
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
        }
      }
    };
    await walk(start);
    return out.sort(byKey);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objs = await this.list(prefix);
    for (const o of objs) await this.delete(o.key);
    return objs.length;
  }

  async close(): Promise<void> {}

  /** The stage's output is complete: temp files a killed writer left anywhere under it go first. */
  override async commit(prefix: string, marker: Omit<CommitMarker, 'committedAt'>): Promise<CommitMarker> {
    await this.sweep(prefix ? join(this.root, ...prefix.split('/').filter(Boolean)) : this.root, true);
    return super.commit(prefix, marker);
  }

  /** Every temp file in the store, fresh ones (a writer may be at work) included. */
  async garbage(): Promise<GarbageItem[]> {
    return findTempFiles(this.root, this.root, true);
  }

  /** Removes those of `items` not written to for `minAgeMs`; returns what was removed. */
  async removeGarbage(items: GarbageItem[], minAgeMs = GARBAGE_MIN_AGE_MS): Promise<GarbageItem[]> {
    return removeTempFiles(this.root, items, Date.now() - minAgeMs);
  }

  /**
   * Removes temp files older than GARBAGE_MIN_AGE_MS in `dir` (and below it when `recursive`); the
   * first write to a folder does it once an hour per process. Best effort: a failure here must not fail
   * the write, and `mer gc` reports what is left.
   */
  private async sweep(dir: string, recursive: boolean): Promise<void> {
    const now = Date.now();
    if (!recursive) {
      const last = this.swept.get(dir);
      if (last !== undefined && now - last < GARBAGE_MIN_AGE_MS) return;
      if (this.swept.size >= 10_000) this.swept.clear();
      this.swept.set(dir, now);
    }
    try {
      await removeTempFiles(this.root, await findTempFiles(this.root, dir, recursive), now - GARBAGE_MIN_AGE_MS);
    } catch {
      // left for `mer gc`
    }
  }

  private mapErr(err: unknown, key: string): unknown {
    const code = codeOf(err);
    // A key whose folder is an object ('a' for 'a/b') or that names a folder is absent, as on S3.
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return new StoreNotFoundError(key, this.describe);
    if (code === 'EACCES' || code === 'EPERM') {
      return new MerError(
        ErrorTypes.StoreAccessDenied,
        `local store ${this.describe}: cannot read ${key} (${code}, ${this.whoami()}); make the store readable by this worker`,
        { store: this.describe, key, code },
      );
    }
    return err;
  }

  /**
   * Write failures a retry cannot fix, typed: no permission, a read-only file system, a file where the
   * root (or a folder of the key) should be, a path too long. Anything else (a full disk) stays retryable.
   */
  private async writeErr(err: unknown, key: string, path: string): Promise<unknown> {
    const code = codeOf(err);
    const details = { store: this.describe, key, path, code };
    const fix = 'make it writable by this worker or choose another store root (store.root / --store)';
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      const what = code === 'EROFS' ? 'the file system is read-only' : `permission denied, ${this.whoami()}`;
      return new MerError(
        ErrorTypes.StoreAccessDenied,
        `local store ${this.describe}: cannot create or write in ${path} (${code}: ${what}); ${fix}`,
        details,
      );
    }
    if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
      const blocker = await fileInTheWay(resolve(this.root));
      if (blocker) {
        return new MerError(
          ErrorTypes.StoreRootUnusable,
          `local store ${this.describe}: the store folder cannot be created: ${blocker} is a file, not a folder (${code}); move it or choose another store root (store.root / --store)`,
          details,
        );
      }
      return new MerError(
        ErrorTypes.StoreKeyInvalid,
        `local store ${this.describe}: cannot write ${key}: ${code === 'EISDIR' ? 'it is a folder of other objects' : 'a folder of its path is an object'} (${code}); a local store cannot hold both a/b and a/b/c`,
        details,
      );
    }
    if (code === 'ENAMETOOLONG') {
      return new MerError(
        ErrorTypes.StoreKeyInvalid,
        `local store ${this.describe}: the path for ${key} is too long for the file system (${code}); use a shorter store root or rename the file the key was made from`,
        details,
      );
    }
    return err;
  }

  private whoami(): string {
    return process.getuid ? `uid ${process.getuid()}` : 'this user';
  }
}

/** The first existing ancestor of `folder` (itself included) when it is not a folder: the file in the way. */
async function fileInTheWay(folder: string): Promise<string | null> {
  for (let p = folder; ; p = dirname(p)) {
    try {
      return (await stat(p)).isDirectory() ? null : p;
    } catch (err) {
      if (!['ENOENT', 'ENOTDIR'].includes(codeOf(err)) || dirname(p) === p) return null;
    }
  }
}
