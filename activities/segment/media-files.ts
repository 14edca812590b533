import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { LocalStore } from '../store/local.ts';
import { StoreNotFoundError, assertValidKey, type ObjectStore } from '../store/types.ts';

/**
 * Store objects as local files for ffmpeg. A LocalStore's objects are read where they lie (no copy of
 * multi-GB corpora); any other store's are downloaded into a worker-local temp folder and deleted after
 * use. Everything downstream sees a local path either way, so the S3 and local runs share one path.
 */

export interface LocalMedia {
  path: string;
  size: number;
  release(): Promise<void>;
}

export class MediaFiles {
  private dir: string | undefined;
  private seq = 0;

  constructor(private readonly store: ObjectStore) {}

  /** The object as a local file, or null when the store holds no such object. */
  async open(key: string): Promise<LocalMedia | null> {
    assertValidKey(key);
    if (this.store instanceof LocalStore) {
      const path = join(this.store.root, ...key.split('/'));
      try {
        const s = await stat(path);
        return s.isFile() ? { path, size: s.size, release: async () => {} } : null;
      } catch {
        return null;
      }
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
