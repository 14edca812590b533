import { writeFile } from 'node:fs/promises';
import { localStepContext } from '../activities/common/context.ts';
import { parquetToTable } from '../activities/common/parquet.ts';
import { createStore } from '../activities/store/index.ts';
import { downloadStep } from '../activities/acquire/download.ts';
import { buildManifestStep, readSummaryStep } from '../activities/acquire/manifest.ts';
import { planStep } from '../activities/acquire/plan.ts';
import { unpackStep } from '../activities/acquire/unpack.ts';
import { manifestFiles } from '../schemas/layout.ts';
import { arrowTableToRows } from '../schemas/manifest.ts';
import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../schemas/config.ts';

/**
 * The acquire stage without Temporal (`mer manifest`): the same step functions the activities run,
 * in this process. Useful to inspect a corpus; a pipeline run uses the durable path.
 */
export async function acquireDirect(opts: {
  store: StoreSpecResolved;
  plan: DatasetPlan;
  acquire: AcquireParams;
  onProgress?: (step: string, d: Record<string, unknown>) => void;
  signal?: AbortSignal;
}) {
  const { store, plan, acquire } = opts;
  const ctx = (step: string) =>
    localStepContext({ signal: opts.signal, onProgress: (d) => opts.onProgress?.(step, d) });
  const p = await planStep({ store, plan, acquire });
  const ran = { download: false, extract: false, manifest: false };
  if (!p.manifestCommitted && !p.rawCommitted && plan.source.kind === 'url' && !p.downloadCommitted) {
    await downloadStep({ store, plan, acquire, downloadsPrefix: p.downloadsPrefix }, ctx('download'));
    ran.download = true;
  }
  if (!p.manifestCommitted && !p.rawCommitted) {
    await unpackStep(
      { store, plan, acquire, rawPrefix: p.rawPrefix, downloadsPrefix: p.downloadsPrefix },
      ctx('extract'),
    );
    ran.extract = true;
  }
  const result = p.manifestCommitted
    ? await readSummaryStep({ store, manifestPrefix: p.manifestPrefix })
    : await buildManifestStep(
        { store, plan, rawPrefix: p.rawPrefix, manifestPrefix: p.manifestPrefix },
        ctx('manifest'),
      );
  if (!p.manifestCommitted) ran.manifest = true;
  return { plan: p, result, ran };
}

/** The stored summary plus every issue (file, line, field, reason) for `mer manifest --json`. */
export async function manifestReport(store: StoreSpecResolved, manifestPrefix: string) {
  const s = createStore(store);
  const keys = manifestFiles(manifestPrefix);
  const summary = JSON.parse((await s.get(keys.summary)).toString('utf8')) as Record<string, unknown>;
  const issuesText = (await s.get(keys.issues)).toString('utf8');
  const issues = issuesText
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ...summary, issueList: issues };
}

/** `--out FILE`: the manifest as Parquet, or JSON Lines when FILE ends in .jsonl. */
export async function exportManifest(store: StoreSpecResolved, manifestKey: string, out: string): Promise<void> {
  const bytes = await createStore(store).get(manifestKey);
  if (out.endsWith('.jsonl')) {
    const rows = arrowTableToRows(parquetToTable(bytes));
    await writeFile(out, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  } else {
    await writeFile(out, bytes);
  }
}
