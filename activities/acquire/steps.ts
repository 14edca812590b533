import { basename } from 'node:path';
import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { rowsToArrowTable, type LabelSetName } from '../../schemas/manifest.ts';
import type { StepContext } from '../common/context.ts';
import { contentKey } from '../common/hash.ts';
import { tableToParquet } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import { StoreNotFoundError, type ObjectStore } from '../store/types.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { downloadToStore, partsReadable, redactUrlForLog } from './download.ts';
import { extractToStore } from './extract.ts';
import { buildIemocapManifest } from './iemocap.ts';
import { buildMeldManifest } from './meld.ts';
import { importFolder, sourceKey } from './source.ts';

/** Bumped whenever the parsers would produce different rows: old manifests are then not reused. */
export const MANIFEST_CODE_VERSION = 1;

export interface AcquirePlan {
  sourceKey: string;
  downloadsPrefix: string;
  rawPrefix: string;
  manifestPrefix: string;
  downloadCommitted: boolean;
  rawCommitted: boolean;
  manifestCommitted: boolean;
}

export interface RawIndex {
  files: Array<{ path: string; size: number; sha256: string }>;
  skipped: Array<{ entry: string; reason: string }>;
  sourceSha256?: string;
}

export interface ExtractStepResult {
  files: number;
  skipped: number;
  bytesOut: number;
}

export interface ManifestStepResult {
  manifestKey: string;
  summaryKey: string;
  issuesKey: string;
  rows: number;
  inLabelSet: number;
  issues: number;
}

export const manifestFiles = (prefix: string) => ({
  manifest: `${prefix}/manifest.parquet`,
  summary: `${prefix}/summary.json`,
  issues: `${prefix}/issues.jsonl`,
});

export async function planStep(input: {
  store: StoreSpecResolved;
  plan: DatasetPlan;
  acquire?: AcquireParams;
}): Promise<AcquirePlan> {
  const { plan } = input;
  const store = createStore(input.store);
  const sk = await sourceKey(plan.dataset, plan.source);
  const rawPrefix = `raw/${plan.dataset}/${sk}`;
  const downloadsPrefix = `downloads/${plan.dataset}/${sk}`;
  const mk = contentKey({ source: sk, labels: plan.labels, code: MANIFEST_CODE_VERSION });
  const manifestPrefix = `datasets/${plan.dataset}/${mk}`;
  const [d, r, m] = await Promise.all([
    store.committed(downloadsPrefix),
    store.committed(rawPrefix),
    store.committed(manifestPrefix),
  ]);
  return {
    sourceKey: sk,
    downloadsPrefix,
    rawPrefix,
    manifestPrefix,
    downloadCommitted: d !== null,
    rawCommitted: r !== null,
    manifestCommitted: m !== null,
  };
}

export async function downloadStep(
  input: { store: StoreSpecResolved; plan: DatasetPlan; acquire: AcquireParams; downloadsPrefix: string },
  ctx: StepContext,
): Promise<{ totalBytes: number; parts: number; bytesFetched: number; reconnects: number }> {
  const { plan } = input;
  if (plan.source.kind !== 'url') throw new Error('downloadSource called for a non-URL source');
  const store = createStore(input.store);
  const done = await store.committed(input.downloadsPrefix);
  if (done) {
    const s = done.summary as { totalBytes: number; parts: string[] };
    return { totalBytes: s.totalBytes, parts: s.parts.length, bytesFetched: 0, reconnects: 0 };
  }
  // Resume from what the store holds, not from the last heartbeat: heartbeats are throttled, and a
  // SIGKILLed worker's last parts may be stored but never reported. The downloader trusts only the
  // leading run of full-size parts recorded against the same source validators.
  const hasParts = (await store.list(`${input.downloadsPrefix}/`)).length > 0;
  const url = plan.source.secretRef
    ? await readUrlSecret(store, plan.source.secretRef, plan.source.url)
    : plan.source.url;
  const r = await downloadToStore({
    store,
    url,
    partsPrefix: input.downloadsPrefix,
    chunkBytes: Math.round(input.acquire.chunkMiB * 1024 * 1024),
    resume: hasParts ? { partsDone: Number.MAX_SAFE_INTEGER } : undefined,
    onProgress: (p) => ctx.heartbeat({ ...p, url: redactUrlForLog(plan.source.kind === 'url' ? plan.source.url : '') }),
    signal: ctx.signal,
  });
  await store.commit(input.downloadsPrefix, {
    stage: 'acquire/download',
    summary: { url: redactUrlForLog(plan.source.url), totalBytes: r.totalBytes, parts: r.parts },
  });
  // The link is not needed once the bytes are committed; a token must not outlive its use.
  if (plan.source.secretRef) await store.delete(plan.source.secretRef);
  return { totalBytes: r.totalBytes, parts: r.parts.length, bytesFetched: r.bytesFetched, reconnects: r.reconnects };
}

async function readUrlSecret(store: ObjectStore, ref: string, bareUrl: string): Promise<string> {
  try {
    const { url } = JSON.parse((await store.get(ref)).toString('utf8')) as { url: string };
    return url;
  } catch (err) {
    if (err instanceof StoreNotFoundError) {
      throw new MerError(
        ErrorTypes.ConfigInvalid,
        `the full link for ${bareUrl} is no longer in the store (${ref}); run \`mer run\` again with the link`,
      );
    }
    throw err;
  }
}

/** MELD ships its clips as archives inside the archive; they are expanded where they lie. */
function nestedFor(dataset: string): ((path: string) => boolean) | undefined {
  if (dataset !== 'meld') return undefined;
  return (p) => /(^|\/)(train|dev|test)\.tar\.gz$/.test(p);
}

export async function extractStep(
  input: {
    store: StoreSpecResolved;
    plan: DatasetPlan;
    acquire: AcquireParams;
    rawPrefix: string;
    downloadsPrefix: string;
  },
  ctx: StepContext,
): Promise<ExtractStepResult> {
  const { plan, acquire, rawPrefix } = input;
  const store = createStore(input.store);
  const existing = await store.committed(rawPrefix);
  if (existing) {
    const s = existing.summary as unknown as ExtractStepResult;
    return { files: s.files, skipped: s.skipped, bytesOut: s.bytesOut };
  }
  const destPrefix = `${rawPrefix}/files`;
  let index: RawIndex;
  if (plan.source.kind === 'folder') {
    const r = await importFolder({
      store,
      root: plan.source.path,
      destPrefix,
      ctx,
      nested: nestedFor(plan.dataset),
      limits: { maxTotalBytes: Math.round(acquire.maxExtractGiB * 1024 ** 3), maxEntries: acquire.maxEntries },
    });
    index = { files: r.files, skipped: r.skipped };
  } else {
    const resumeAfter = Number(ctx.resumeDetails<{ entriesDone?: number }>()?.entriesDone ?? 0);
    const limits = {
      maxTotalBytes: Math.round(acquire.maxExtractGiB * 1024 ** 3),
      maxEntries: acquire.maxEntries,
    };
    let input2: { kind: 'file'; path: string } | { kind: 'stream'; stream: import('node:stream').Readable };
    let archiveName: string;
    if (plan.source.kind === 'archive') {
      input2 = { kind: 'file', path: plan.source.path };
      archiveName = basename(plan.source.path);
    } else {
      const dl = await store.committed(input.downloadsPrefix);
      if (!dl)
        throw new Error(`download of ${redactUrlForLog(plan.source.url)} is not committed at ${input.downloadsPrefix}`);
      const s = dl.summary as { parts: string[] };
      input2 = { kind: 'stream', stream: partsReadable(store, s.parts) };
      archiveName = basename(new URL(plan.source.url).pathname) || 'download';
    }
    const r = await extractToStore({
      store,
      input: input2,
      archiveName,
      destPrefix,
      limits,
      nested: nestedFor(plan.dataset),
      resumeAfter,
      expectedSha256: plan.source.sha256,
      onProgress: (p) => ctx.heartbeat({ ...p }),
      signal: ctx.signal,
    });
    index = { files: r.files, skipped: r.skipped, sourceSha256: r.sha256 };
  }
  const bytesOut = index.files.reduce((a, f) => a + f.size, 0);
  await store.put(`${rawPrefix}/index.json`, JSON.stringify(index));
  const summary: ExtractStepResult = { files: index.files.length, skipped: index.skipped.length, bytesOut };
  await store.commit(rawPrefix, {
    stage: 'acquire/extract',
    summary: { ...summary, sourceSha256: index.sourceSha256 ?? null },
  });
  if (!acquire.keepDownloads && plan.source.kind === 'url') await store.deletePrefix(`${input.downloadsPrefix}/`);
  return summary;
}

export async function readRawIndex(store: ObjectStore, rawPrefix: string): Promise<RawIndex> {
  return JSON.parse((await store.get(`${rawPrefix}/index.json`)).toString('utf8')) as RawIndex;
}

export async function buildManifestStep(
  input: { store: StoreSpecResolved; plan: DatasetPlan; rawPrefix: string; manifestPrefix: string },
  ctx: StepContext,
): Promise<ManifestStepResult> {
  const { plan, rawPrefix, manifestPrefix } = input;
  const store = createStore(input.store);
  const keys = manifestFiles(manifestPrefix);
  if (await store.committed(manifestPrefix)) return readSummaryStep(input);
  const index = await readRawIndex(store, rawPrefix);
  const filesPrefix = `${rawPrefix}/files`;
  let reads = 0;
  const read = async (path: string): Promise<Uint8Array> => {
    if (++reads % 32 === 0) ctx.heartbeat({ filesRead: reads });
    if (ctx.signal?.aborted) throw ctx.signal.reason ?? new Error('cancelled');
    return store.get(`${filesPrefix}/${path}`);
  };
  const args = {
    files: index.files.map((f) => ({ path: f.path, size: f.size })),
    read,
    keyPrefix: filesPrefix,
    labelSet: plan.labels as LabelSetName,
  };
  const built = plan.dataset === 'iemocap' ? await buildIemocapManifest(args) : await buildMeldManifest(args);
  const rows = built.rows;
  await store.put(keys.manifest, tableToParquet(rowsToArrowTable(rows)));
  await store.put(
    keys.issues,
    built.issues.map((i) => JSON.stringify(i)).join('\n') + (built.issues.length ? '\n' : ''),
  );
  const summary = {
    ...built.summary,
    manifestKey: keys.manifest,
    sourceRawPrefix: rawPrefix,
    extractionSkipped: index.skipped,
  };
  await store.put(keys.summary, JSON.stringify(summary, null, 2));
  await store.commit(manifestPrefix, {
    stage: 'acquire/manifest',
    summary: { rows: rows.length, issues: built.issues.length },
  });
  return readSummaryStep(input);
}

export async function readSummaryStep(input: {
  store: StoreSpecResolved;
  manifestPrefix: string;
}): Promise<ManifestStepResult> {
  const store = createStore(input.store);
  const keys = manifestFiles(input.manifestPrefix);
  const s = JSON.parse((await store.get(keys.summary)).toString('utf8')) as {
    rows: number;
    inLabelSet: number;
    issues: number;
  };
  return {
    manifestKey: keys.manifest,
    summaryKey: keys.summary,
    issuesKey: keys.issues,
    rows: s.rows,
    inLabelSet: s.inLabelSet,
    issues: s.issues,
  };
}
