import { downloadPartIndex, downloadPartsListing } from '../../../schemas/layout.ts';
import { StoreNotFoundError, type ObjectStore } from '../../store/types.ts';

/**
 * What a part set was downloaded from (`source.json`): a resumed download must come from the same
 * bytes, so stored parts are trusted only next to a record whose validators the server still answers with.
 */

interface SourceRecord {
  v: 1;
  chunkBytes: number;
  totalBytes: number | null;
  etag: string | null;
  lastModified: string | null;
}

export interface Validators {
  totalBytes?: number;
  etag?: string;
  lastModified?: string;
}

/** How two answers for the same URL differ (null: no evidence the file changed). */
export function changedValidators(before: Validators, now: Validators): string | null {
  const diffs: string[] = [];
  if (before.etag && now.etag && before.etag !== now.etag) diffs.push(`ETag ${before.etag} -> ${now.etag}`);
  if (before.lastModified && now.lastModified && before.lastModified !== now.lastModified) {
    diffs.push(`Last-Modified ${before.lastModified} -> ${now.lastModified}`);
  }
  if (before.totalBytes !== undefined && now.totalBytes !== undefined && before.totalBytes !== now.totalBytes) {
    diffs.push(`size ${before.totalBytes} -> ${now.totalBytes}`);
  }
  return diffs.length ? diffs.join(', ') : null;
}

export async function writeRecord(store: ObjectStore, key: string, chunkBytes: number, v: Validators): Promise<void> {
  const rec: SourceRecord = {
    v: 1,
    chunkBytes,
    totalBytes: v.totalBytes ?? null,
    etag: v.etag ?? null,
    lastModified: v.lastModified ?? null,
  };
  await store.put(key, JSON.stringify(rec));
}

export async function readRecord(store: ObjectStore, key: string): Promise<SourceRecord | null> {
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (err) {
    if (err instanceof StoreNotFoundError) return null;
    throw err;
  }
  try {
    const r = JSON.parse(raw.toString('utf8')) as Partial<SourceRecord>;
    if (r.v !== 1 || typeof r.chunkBytes !== 'number') return null;
    return {
      v: 1,
      chunkBytes: r.chunkBytes,
      totalBytes: typeof r.totalBytes === 'number' ? r.totalBytes : null,
      etag: typeof r.etag === 'string' ? r.etag : null,
      lastModified: typeof r.lastModified === 'string' ? r.lastModified : null,
    };
  } catch {
    return null;
  }
}

export function recordValidators(record: SourceRecord): Validators {
  return {
    totalBytes: record.totalBytes ?? undefined,
    etag: record.etag ?? undefined,
    lastModified: record.lastModified ?? undefined,
  };
}

/** Stored part sizes by part number. */
export async function storedPartSizes(store: ObjectStore, partsPrefix: string): Promise<Map<number, number>> {
  const sizes = new Map<number, number>();
  for (const o of await store.list(downloadPartsListing(partsPrefix))) {
    const index = downloadPartIndex(partsPrefix, o.key);
    if (index !== undefined) sizes.set(index, o.size);
  }
  return sizes;
}

/** The leading run of parts, up to `hint`, whose stored sizes are what the record says they must be. */
export function trustedParts(
  record: SourceRecord,
  sizes: Map<number, number>,
  hint: number,
): { parts: number; bytes: number } {
  const { chunkBytes } = record;
  let parts = 0;
  let bytes = 0;
  for (let i = 1; i <= hint; i++) {
    const expected =
      record.totalBytes === null ? chunkBytes : Math.min(chunkBytes, record.totalBytes - (i - 1) * chunkBytes);
    if (expected <= 0 || sizes.get(i) !== expected) break;
    parts = i;
    bytes += expected;
  }
  return { parts, bytes };
}
