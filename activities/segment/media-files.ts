import { lstat, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import { LocalStore } from '../store/local.ts';
import { StoreNotFoundError, assertValidKey, type ObjectStore } from '../store/types.ts';

/**
 * Store objects as local files for ffmpeg. A LocalStore's objects are read where they lie (no copy of
 * multi-GB corpora); any other store's are downloaded into a worker-local temp folder and deleted after
 * use. Everything downstream sees a local path either way, so the S3 and local runs share one path.
 * A local object that is a symbolic link, or lies under one, is not opened (it could point anywhere on
 * the worker's disk): it comes back `refused`, and the cutters quarantine it with that reason.
 */

export interface LocalMedia {
  path: string;
  size: number;
  /** Set when the file must not be read: the quarantine reason. */
  refused?: string;
  release(): Promise<void>;
}

/** Where cutters get local files from: store objects (MediaFiles), or local paths (`mer predict`). */
export interface MediaSource {
  /** The named media as a local file, or null when there is none. */
  open(key: string): Promise<LocalMedia | null>;
}

export class MediaFiles implements MediaSource {
  private dir: string | undefined;
  private seq = 0;
  private realRoot: Promise<string> | undefined;

  constructor(private readonly store: ObjectStore) {}

  /** The object as a local file, or null when the store holds no such object. */
  async open(key: string): Promise<LocalMedia | null> {
    assertValidKey(key);
    if (this.store instanceof LocalStore) {
      const path = join(this.store.root, ...key.split('/'));
      let s;
      try {
        s = await lstat(path);
      } catch {
        return null;
      }
      const release = async () => {};
      const root = await (this.realRoot ??= realpath(this.store.root));
      const real = await realpath(path).catch(() => null);
      const rel = real === null ? '..' : relative(root, real);
      const inside = !isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`);
      if (s.isSymbolicLink() || !inside) {
        const refused = `not_media: ${key} is a symbolic link or lies under one; media are read only as regular files inside the store`;
        return { path, size: 0, refused, release };
      }
      return s.isFile() ? { path, size: s.size, release } : null;
    }
    this.dir ??= await mkdtemp(join(tmpdir(), 'mer-segment-'));
    // The extension stays: demuxers of headerless formats go by it.
    const path = join(this.dir, `${++this.seq}${extname(key).slice(0, 16)}`);
    try {
      await this.store.getFile(key, path);
    } catch (err) {
      if (err instanceof StoreNotFoundError) return null;
      throw err;
    }
    const size = (await stat(path)).size;
    return { path, size, release: () => rm(path, { force: true }) };
  }

  async close(): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
