import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, unlink, link, copyFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  COMMIT_FILE,
  StoreConflictError,
  StoreNotFoundError,
  assertValidKey,
  joinKey,
  type CommitMarker,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './types.ts';

/** Temp files live beside their target (same file system, so rename is atomic) under this name. */
const TMP_MARK = '.mer-tmp-';

/** The embedded default: a folder on local disk (or a shared file system mounted on every worker). */
export class LocalStore implements ObjectStore {
  readonly describe: string;

  constructor(readonly root: string) {
    this.describe = `file://${root}`;
  }

  private path(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split('/'));
  }

  private tmpPath(target: string): string {
    return join(dirname(target), `${TMP_MARK}${randomBytes(6).toString('hex')}`);
  }

  async put(key: string, body: Uint8Array | string | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = this.tmpPath(target);
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
      throw err;
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
    const tmp = this.tmpPath(path);
    try {
      await copyFile(this.path(key), tmp);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw this.mapErr(err, key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size } : null;
    } catch {
      return null;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
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
      } catch {
        return;
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
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objs = await this.list(prefix);
    for (const o of objs) await this.delete(o.key);
    return objs.length;
  }

  async commit(prefix: string, marker: Omit<CommitMarker, 'committedAt'>): Promise<CommitMarker> {
    const full: CommitMarker = { committedAt: new Date().toISOString(), ...marker };
    await this.put(joinKey(prefix, COMMIT_FILE), JSON.stringify(full, null, 2));
    return full;
  }

  async committed(prefix: string): Promise<CommitMarker | null> {
    try {
      return JSON.parse((await this.get(joinKey(prefix, COMMIT_FILE))).toString('utf8')) as CommitMarker;
    } catch (err) {
      if (err instanceof StoreNotFoundError) return null;
      throw err;
    }
  }

  async close(): Promise<void> {}

  private mapErr(err: unknown, key: string): unknown {
    if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return new StoreNotFoundError(key, this.describe);
    return err;
  }
}
