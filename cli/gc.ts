import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreConfigSchema } from '../schemas/config.ts';
import { collectGarbage, createStore, localRootRefusal, type GarbageReport } from '../activities/store/index.ts';
import { ConfigError, defaultStoreRoot, parseStoreFlag } from './config.ts';

/**
 * `mer gc`: how much garbage a store holds (temp files a killed writer left in a local store,
 * incomplete multipart uploads in an S3 store) and, with --delete, removing it. Writes clean up after
 * themselves and a local store's writes and commits remove stale temp files as they go; this is for
 * stores no run writes to any more, and for S3.
 */

export interface GcFlags {
  store?: string;
  s3Endpoint?: string;
  /** Minutes without a write before a leftover counts as stale (default 60). */
  minAge?: number;
  delete?: boolean;
  json?: boolean;
}

export async function executeGc(o: GcFlags): Promise<GarbageReport> {
  const parsed = StoreConfigSchema.safeParse(parseStoreFlag(o.store ?? defaultStoreRoot(), o.s3Endpoint));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`--store: ${issue.path.join('.') || 'store'}: ${issue.message}`);
  }
  const spec = parsed.data.kind === 'local' ? { ...parsed.data, root: resolve(parsed.data.root) } : parsed.data;
  if (spec.kind === 'local') {
    const why = localRootRefusal(spec.root);
    if (why) throw new ConfigError(`--store: ${spec.root} cannot be a store (${why})`);
    // A typo would otherwise report a clean store.
    if (!existsSync(spec.root)) throw new ConfigError(`--store: ${spec.root} does not exist`);
  }
  const store = createStore(spec);
  try {
    const report = await collectGarbage(store, { minAgeMs: (o.minAge ?? 60) * 60_000, remove: o.delete ?? false });
    if (o.json) console.log(JSON.stringify(report, null, 2));
    else for (const line of renderGc(report)) console.log(line);
    return report;
  } finally {
    await store.close();
  }
}

const MAX_LISTED = 20;

export function renderGc(r: GarbageReport): string[] {
  const minutes = Math.round(r.minAgeMs / 60_000);
  const lines = [`store ${r.store}`];
  if (!r.count) {
    lines.push('  no garbage (no temp files or incomplete uploads)');
    return lines;
  }
  lines.push(`  garbage: ${count(r.count)}, ${bytes(r.bytes)}, oldest last written ${r.oldest}`);
  const old = [...r.items].sort((a, b) => (a.modified < b.modified ? -1 : 1));
  for (const i of old.slice(0, MAX_LISTED)) {
    lines.push(
      `    ${i.modified}  ${bytes(i.size).padStart(10)}  ${i.kind === 'temp-file' ? '' : 'upload of '}${i.key}`,
    );
  }
  if (old.length > MAX_LISTED) lines.push(`    ... ${old.length - MAX_LISTED} more (--json lists all)`);
  const young = r.count - r.stale.count;
  if (young) lines.push(`  ${count(young)} written to in the last ${minutes} min: kept (a writer may be at work)`);
  if (r.removed) lines.push(`  removed: ${count(r.removed.count)}, ${bytes(r.removed.bytes)}`);
  else if (r.stale.count) lines.push(`  remove the ${count(r.stale.count)} older ones with: mer gc --delete`);
  return lines;
}

function count(n: number): string {
  return `${n} item${n === 1 ? '' : 's'}`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
