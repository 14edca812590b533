import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { CommitMarkerSchema } from '../../schemas/store.ts';
import { parseStoredJson } from '../common/stored-json.ts';
import {
  COMMIT_FILE,
  StoreNotFoundError,
  joinKey,
  type CommitMarker,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
} from './types.ts';

/** What every ObjectStore does the same way whatever holds the bytes: commit markers, existence, order. */

/** Temp files live beside their target (same file system, so rename is atomic) under this name. */
export const TMP_MARK = '.mer-tmp-';

/** A fresh temp file name beside `target`. */
export function tmpSibling(target: string): string {
  return join(dirname(target), `${TMP_MARK}${randomBytes(6).toString('hex')}`);
}

/** Key order by UTF-16 code units: the one order `list` returns on every store. */
export function byKey(a: ObjectInfo, b: ObjectInfo): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

export abstract class BaseStore {
  abstract readonly describe: string;
  abstract put(key: string, body: string, opts?: PutOptions): Promise<PutResult>;
  abstract get(key: string): Promise<Buffer>;
  abstract head(key: string): Promise<ObjectInfo | null>;

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async commit(prefix: string, marker: Omit<CommitMarker, 'committedAt'>): Promise<CommitMarker> {
    const full: CommitMarker = { committedAt: new Date().toISOString(), ...marker };
    await this.put(joinKey(prefix, COMMIT_FILE), JSON.stringify(full, null, 2), { contentType: 'application/json' });
    return full;
  }

  async committed(prefix: string): Promise<CommitMarker | null> {
    const key = joinKey(prefix, COMMIT_FILE);
    let bytes: Buffer;
    try {
      bytes = await this.get(key);
    } catch (err) {
      if (err instanceof StoreNotFoundError) return null;
      throw err;
    }
    // A damaged marker fails at once, naming itself, rather than on every retry.
    return parseStoredJson(bytes, key, this.describe, CommitMarkerSchema);
  }
}
