import { GARBAGE_MIN_AGE_MS, summarize, type GarbageItem, type GarbageSummary } from './garbage.ts';
import { LocalStore } from './local.ts';
import { S3Store } from './s3.ts';
import type { ObjectStore } from './types.ts';

/** What `mer gc` reports: a store's leftovers of killed writers, and what it removed. */
export interface GarbageReport extends GarbageSummary {
  store: string;
  /** Leftovers not written to for minAgeMs: what `--delete` removes. */
  stale: GarbageSummary;
  minAgeMs: number;
  /** What was removed (only with `remove`). */
  removed?: GarbageSummary;
  items: GarbageItem[];
}

/**
 * Lists (and with `remove` removes) a store's garbage: temp files of a local store, incomplete
 * multipart uploads of an S3 store. Leftovers younger than `minAgeMs` are reported but kept: they may
 * belong to a writer at work right now.
 */
export async function collectGarbage(
  store: ObjectStore,
  opts: { minAgeMs?: number; remove?: boolean } = {},
): Promise<GarbageReport> {
  const minAgeMs = opts.minAgeMs ?? GARBAGE_MIN_AGE_MS;
  const holder = store instanceof LocalStore || store instanceof S3Store ? store : undefined;
  const items = holder ? await holder.garbage() : [];
  const cutoff = Date.now() - minAgeMs;
  const stale = items.filter((i) => Date.parse(i.modified) < cutoff);
  const report: GarbageReport = {
    store: store.describe,
    ...summarize(items),
    stale: summarize(stale),
    minAgeMs,
    items,
  };
  if (opts.remove && holder) report.removed = summarize(await holder.removeGarbage(stale, minAgeMs));
  return report;
}
