import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { CompressActivities } from '../activities/compress/activities.ts';
import type { VscParams } from '../schemas/compress.ts';
import type {
  DatasetCompressResult,
  DatasetExtractResult,
  DatasetName,
  StoreSpecResolved,
  VscOutputResult,
} from '../schemas/config.ts';
import { vscReportKey } from '../schemas/layout.ts';
import {
  ACTIVITIES_PER_RUN,
  childWorkflowId,
  forEachLimitBudget,
  shardProgress,
  stageOptions,
  startStage,
  type ChildInput,
} from './stage.ts';

export interface CompressDatasetInput extends ChildInput {
  dataset: DatasetName;
  /** The extract child's result: the visual features VSC reads (text and audio for `fixed` guidance). */
  features: DatasetExtractResult;
  store: StoreSpecResolved;
  /** The VSC configurations to compute: the run's own, plus `enabled: false` when an ablation trains without VSC. */
  settings: VscParams[];
  /** Shard activities in flight. */
  parallelism: number;
}

/**
 * Visual sequence compression of one dataset's visual features on the cpu queue: per configuration
 * plan (content address, pending shards) -> one heartbeating activity per pending shard, at most
 * `parallelism` at a time -> stage report + commit. A committed configuration runs nothing.
 */
export async function CompressDataset(input: CompressDatasetInput): Promise<DatasetCompressResult> {
  const { dataset, features, store, temporal } = input;
  const { quick, long } = stageOptions(temporal, 'compress', { queue: 'cpu', quick: '30 minutes', long: '12 hours' });
  const acts = proxyActivities<CompressActivities>(long);
  const report = startStage(input, dataset, 'compress');

  const ref = (m: 'text' | 'audio' | 'visual') => ({
    prefix: features.modalities[m].featuresPrefix,
    shardKeys: features.modalities[m].shardKeys,
  });
  const shards = features.modalities.visual.shardKeys.length;
  const total = shards * input.settings.length;
  const progress = shardProgress(report, total);
  const outputs: VscOutputResult[] = [];
  await report({
    status: 'running',
    step: 'plan',
    note: `${shards} visual shards x ${input.settings.length} configuration(s)`,
    done: 0,
    total,
  });

  // Shard activities this run may still start before it continues as new (the next run plans again and
  // finds committed outputs and shards committed).
  let budget = ACTIVITIES_PER_RUN;
  for (const params of input.settings) {
    const label = params.enabled
      ? `VSC top-${params.topK}, ${params.maxFrames} frames`
      : `no VSC, ${params.maxFrames} frames`;
    const plan = await acts.planCompress.executeWithOptions(
      { ...quick, summary: `plan ${dataset} visual compression (${label})` },
      [{ store, params, visual: ref('visual'), text: ref('text'), audio: ref('audio') }],
    );
    const pending = plan.pending.length;
    await progress.planned(label, `${label}: ${pending} of ${shards} shards to compress`, shards - pending);
    const started = await forEachLimitBudget(plan.pending, input.parallelism, budget, async (task) => {
      const r = await acts.compressVisualShard.executeWithOptions(
        { ...long, summary: `compress ${dataset} ${task.shard} (${label})` },
        [{ store, params, vscKey: plan.vscKey, ...task }],
      );
      await progress.shardDone(`${label}: ${r.utterances} utterances of ${r.shard}, ${r.ratio.toFixed(1)}x smaller`);
    });
    budget -= started;
    if (started < pending) await continueAsNew<typeof CompressDataset>(input);
    const summary = await acts.finalizeCompress.executeWithOptions(
      { ...quick, summary: `write the ${dataset} compression report and commit ${plan.prefix}` },
      [{ store, params, vscKey: plan.vscKey, shards: plan.shards }],
    );
    outputs.push({
      enabled: params.enabled,
      vscKey: plan.vscKey,
      prefix: plan.prefix,
      reportKey: vscReportKey(plan.vscKey),
      shardKeys: plan.shardKeys,
      frames: params.maxFrames,
      dim: features.modalities.visual.dim,
      utterances: summary.utterances,
      ratio: summary.ratio,
      byteRatio: summary.byteRatio,
      seconds: summary.seconds,
      ran: !plan.committed,
    });
  }
  const ran = outputs.some((o) => o.ran);
  await report({
    status: ran ? 'done' : 'skipped',
    step: 'report',
    note:
      outputs
        .map((o) => `${o.enabled ? 'VSC' : 'no VSC'}: ${o.utterances} utterances, ${o.ratio.toFixed(1)}x smaller`)
        .join('; ') + (ran ? '' : ', reused from the store'),
    done: total,
    total,
  });
  return { dataset, outputs, ran };
}

export function compressWorkflowId(parentId: string, dataset: string): string {
  return childWorkflowId(parentId, 'compress', dataset);
}
