import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { listingPrefix } from '../../schemas/layout.ts';
import type { StepContext } from '../common/context.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { redactUrlForLog } from '../common/redact.ts';
import { createStore } from '../store/index.ts';
import { StoreNotFoundError, type ObjectStore } from '../store/types.ts';
import { downloadToStore } from './downloader/resumable-download.ts';

export interface DownloadStepResult {
  totalBytes: number;
  parts: number;
  bytesFetched: number;
  reconnects: number;
}

/** A URL source's bytes into `downloads/<dataset>/<sourceKey>/` as resumable parts, then the commit. */
export async function downloadStep(
  input: { store: StoreSpecResolved; plan: DatasetPlan; acquire: AcquireParams; downloadsPrefix: string },
  ctx: StepContext,
): Promise<DownloadStepResult> {
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
  const hasParts = (await store.list(listingPrefix(input.downloadsPrefix))).length > 0;
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
