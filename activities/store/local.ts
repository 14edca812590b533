import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, unlink, link, copyFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BaseStore, TMP_MARK, byKey, tmpSibling } from './base.ts';
import {
  StoreConflictError,
  StoreNotFoundError,
  assertValidKey,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './types.ts';

/** The embedded default: a folder on local disk (or a shared file system mounted on every worker). */
export class LocalStore extends BaseStore implements ObjectStore {
  readonly describe: string;

  constructor(readonly root: string) {
    super();
    this.describe = `file://${root}`;
  }

  private path(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | string | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
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
    const tmp = tmpSibling(path);
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

  private mapErr(err: unknown, key: string): unknown {
    if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return new StoreNotFoundError(key, this.describe);
    return err;
  }
}
