import { proxyActivities } from '@temporalio/workflow';
import type { AcquireActivities } from '../activities/acquire/activities.ts';
import type { AcquireParams, DatasetAcquireResult, DatasetPlan, StoreSpecResolved } from '../schemas/config.ts';
import { childWorkflowId, stageOptions, startStage, type ChildInput } from './stage.ts';

export interface AcquireDatasetInput extends ChildInput {
  plan: DatasetPlan;
  store: StoreSpecResolved;
  acquire: AcquireParams;
}

/**
 * Acquire one dataset: download (URL sources) -> safe extraction into the store -> manifest.
 * Each step first finds out whether its content-addressed output is already committed and skips it
 * if so; a rerun of the same config therefore downloads and extracts nothing.
 */
export async function AcquireDataset(input: AcquireDatasetInput): Promise<DatasetAcquireResult> {
  const { plan, store, acquire, temporal } = input;
  // Big archives take hours; the heartbeat timeout, not the long one, is what notices a dead worker.
  const { quick, long } = stageOptions(temporal, 'acquire', { queue: 'cpu', quick: '5 minutes', long: '24 hours' });
  const acts = proxyActivities<AcquireActivities>(long);
  const report = startStage(input, plan.dataset, 'acquire');

  const sourceLabel = describeSource(plan);
  await report({ status: 'running', step: 'plan', note: sourceLabel, done: 0, total: 3 });
  const p = await acts.planAcquire.executeWithOptions(
    { ...quick, summary: `plan ${plan.dataset} acquire from ${sourceLabel}` },
    [{ store, plan, acquire }],
  );

  const ran = { download: false, extract: false, manifest: false };
  let done = 0;
  if (!p.manifestCommitted && !p.rawCommitted && plan.source.kind === 'url' && !p.downloadCommitted) {
    await report({ step: 'download', note: `downloading ${sourceLabel}`, done, total: 3 });
    await acts.downloadSource.executeWithOptions(
      { ...long, summary: `download ${sourceLabel} (resumable, ${acquire.chunkMiB} MiB parts)` },
      [{ store, plan, acquire, downloadsPrefix: p.downloadsPrefix }],
    );
    ran.download = true;
  }
  done = 1;
  if (!p.manifestCommitted && !p.rawCommitted) {
    await report({ step: 'extract', note: `extracting ${sourceLabel} into the store`, done, total: 3 });
    const ex = await acts.extractSource.executeWithOptions(
      { ...long, summary: `extract ${sourceLabel} safely into ${p.rawPrefix}` },
      [{ store, plan, acquire, rawPrefix: p.rawPrefix, downloadsPrefix: p.downloadsPrefix }],
    );
    ran.extract = true;
    await report({ note: `${ex.files} files extracted, ${ex.skipped} entries skipped`, quarantined: ex.skipped });
  }
  done = 2;
  let summary;
  if (!p.manifestCommitted) {
    await report({ step: 'manifest', note: 'parsing annotations', done, total: 3 });
    summary = await acts.buildManifest.executeWithOptions(
      { ...long, summary: `parse ${plan.dataset} annotations into a ${plan.labels} manifest` },
      [{ store, plan, rawPrefix: p.rawPrefix, manifestPrefix: p.manifestPrefix }],
    );
    ran.manifest = true;
  } else {
    summary = await acts.readManifestSummary.executeWithOptions(
      { ...quick, summary: `reuse committed ${plan.dataset} manifest` },
      [{ store, manifestPrefix: p.manifestPrefix }],
    );
  }
  const reused = !ran.download && !ran.extract && !ran.manifest;
  await report({
    status: reused ? 'skipped' : 'done',
    step: 'manifest',
    note: `${summary.rows} utterances (${summary.inLabelSet} in ${plan.labels}), ${summary.issues} issues${reused ? ', reused from the store' : ''}`,
    done: 3,
    total: 3,
    quarantined: summary.issues,
  });
  return {
    dataset: plan.dataset,
    sourceKey: p.sourceKey,
    rawPrefix: p.rawPrefix,
    manifestKey: summary.manifestKey,
    summaryKey: summary.summaryKey,
    rows: summary.rows,
    inLabelSet: summary.inLabelSet,
    issues: summary.issues,
    ran,
  };
}

export function describeSource(plan: DatasetPlan): string {
  const s = plan.source;
  const path = s.kind === 'url' ? s.url.split('?')[0] : s.path;
  const base = path.replace(/\/+$/, '').split('/').pop() || path;
  return s.kind === 'folder' ? `folder ${base}/` : base;
}

export function acquireWorkflowId(parentId: string, dataset: string): string {
  return childWorkflowId(parentId, 'acquire', dataset);
}
