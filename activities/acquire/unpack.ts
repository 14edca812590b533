import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { listingPrefix, rawFilesPrefix, rawIndexKey } from '../../schemas/layout.ts';
import type { StepContext } from '../common/context.ts';
import { redactUrlForLog } from '../common/redact.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import type { UnpackInput, UnpackLimits } from './archive/types.ts';
import { unpackToStore } from './archive/unpacker.ts';
import { partsReadable } from './downloader/parts.ts';
import { importFolder } from './source.ts';

/** What `index.json` records of the raw copy: every file stored, every entry refused (with its reason). */
export interface RawIndex {
  files: Array<{ path: string; size: number; sha256: string }>;
  skipped: Array<{ entry: string; reason: string }>;
  sourceSha256?: string;
}

/** Field names are in workflow histories (the `extractSource` activity's result): they stay. */
export interface UnpackStepResult {
  files: number;
  skipped: number;
  bytesOut: number;
}

export interface UnpackStepInput {
  store: StoreSpecResolved;
  plan: DatasetPlan;
  acquire: AcquireParams;
  rawPrefix: string;
  downloadsPrefix: string;
}

/** MELD ships its clips as archives inside the archive; they are expanded where they lie. */
function nestedFor(dataset: string): ((path: string) => boolean) | undefined {
  if (dataset !== 'meld') return undefined;
  return (p) => /(^|\/)(train|dev|test)\.tar\.gz$/.test(p);
}

function limitsOf(acquire: AcquireParams): UnpackLimits {
  return { maxTotalBytes: Math.round(acquire.maxExtractGiB * 1024 ** 3), maxEntries: acquire.maxEntries };
}

/**
 * The source's files, safely, into `raw/<dataset>/<sourceKey>/files/`: an archive (local or downloaded)
 * is unpacked, a folder copied. Then index.json and the commit; the downloaded parts are dropped after.
 */
export async function unpackStep(input: UnpackStepInput, ctx: StepContext): Promise<UnpackStepResult> {
  const { plan, acquire, rawPrefix } = input;
  const store = createStore(input.store);
  const existing = await store.committed(rawPrefix);
  if (existing) {
    const s = existing.summary as unknown as UnpackStepResult;
    return { files: s.files, skipped: s.skipped, bytesOut: s.bytesOut };
  }
  const index =
    plan.source.kind === 'folder'
      ? await importFolderSource(store, input, plan.source.path, ctx)
      : await unpackArchiveSource(store, input, ctx);
  const bytesOut = index.files.reduce((a, f) => a + f.size, 0);
  await store.put(rawIndexKey(rawPrefix), JSON.stringify(index));
  const summary: UnpackStepResult = { files: index.files.length, skipped: index.skipped.length, bytesOut };
  await store.commit(rawPrefix, {
    // The marker's stage name is stored data in existing stores: it keeps its old spelling.
    stage: 'acquire/extract',
    summary: { ...summary, sourceSha256: index.sourceSha256 ?? null },
  });
  if (!acquire.keepDownloads && plan.source.kind === 'url')
    await store.deletePrefix(listingPrefix(input.downloadsPrefix));
  return summary;
}

async function importFolderSource(
  store: ObjectStore,
  input: UnpackStepInput,
  root: string,
  ctx: StepContext,
): Promise<RawIndex> {
  const r = await importFolder({
    store,
    root,
    destPrefix: rawFilesPrefix(input.rawPrefix),
    ctx,
    nested: nestedFor(input.plan.dataset),
    limits: limitsOf(input.acquire),
  });
  return { files: r.files, skipped: r.skipped };
}

async function unpackArchiveSource(store: ObjectStore, input: UnpackStepInput, ctx: StepContext): Promise<RawIndex> {
  const { plan } = input;
  const resumeAfter = Number(ctx.resumeDetails<{ entriesDone?: number }>()?.entriesDone ?? 0);
  const { archive, archiveName } = await archiveInput(store, input);
  const r = await unpackToStore({
    store,
    input: archive,
    archiveName,
    destPrefix: rawFilesPrefix(input.rawPrefix),
    limits: limitsOf(input.acquire),
    nested: nestedFor(plan.dataset),
    resumeAfter,
    expectedSha256: plan.source.kind === 'folder' ? undefined : plan.source.sha256,
    onProgress: (p) => ctx.heartbeat({ ...p }),
    signal: ctx.signal,
  });
  return { files: r.files, skipped: r.skipped, sourceSha256: r.sha256 };
}

/** A local archive is read from its file; a downloaded one as the stream of its committed parts. */
async function archiveInput(
  store: ObjectStore,
  input: UnpackStepInput,
): Promise<{ archive: UnpackInput; archiveName: string }> {
  const { source } = input.plan;
  if (source.kind === 'archive')
    return { archive: { kind: 'file', path: source.path }, archiveName: basename(source.path) };
  if (source.kind !== 'url') throw new Error(`unpacking a ${source.kind} source as an archive`);
  const dl = await store.committed(input.downloadsPrefix);
  if (!dl) throw new Error(`download of ${redactUrlForLog(source.url)} is not committed at ${input.downloadsPrefix}`);
  const s = dl.summary as { parts: string[] };
  const stream: Readable = partsReadable(store, s.parts);
  return {
    archive: { kind: 'stream', stream },
    archiveName: basename(new URL(source.url).pathname) || 'download',
  };
}

export async function readRawIndex(store: ObjectStore, rawPrefix: string): Promise<RawIndex> {
  return JSON.parse((await store.get(rawIndexKey(rawPrefix))).toString('utf8')) as RawIndex;
}
