import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { ExtractActivities, ExtractShardResult } from '../activities/extract/activities.ts';
import type {
  DatasetAcquireResult,
  DatasetExtractResult,
  DatasetName,
  DatasetSegmentResult,
  ModalityFeaturesResult,
  StoreSpecResolved,
} from '../schemas/config.ts';
import type { ExtractParams, Modality } from '../schemas/extract.ts';
import { featureShardKey, featuresReportKey } from '../schemas/layout.ts';
import {
  ACTIVITIES_PER_RUN,
  childWorkflowId,
  forEachLimitBudget,
  shardProgress,
  stageOptions,
  startStage,
  type ChildInput,
} from './stage.ts';

/** The modalities in the order they run (schemas/extract.ts EXTRACT_MODALITIES; not imported: zod stays out of the bundle). */
const MODALITIES: readonly Modality[] = ['text', 'audio', 'visual'];

export interface ExtractDatasetInput extends ChildInput {
  dataset: DatasetName;
  /** The acquire child's result: text reads utterance texts and dialogues from its manifest. */
  acquired: DatasetAcquireResult;
  /** The segment child's result: the committed shards this stage encodes. */
  segmented: DatasetSegmentResult;
  store: StoreSpecResolved;
  extract: ExtractParams;
  /** Shard activities in flight per modality (the segment stage's parallelism). */
  parallelism: number;
}

/**
 * Extract one dataset's features: per modality (text, audio, visual) plan (model fingerprint ->
 * content-addressed prefix, pending shards) -> one activity per pending segment shard on the gpu
 * queue, at most `parallelism` at a time -> report + commit. A committed modality runs nothing.
 */
export async function ExtractDataset(input: ExtractDatasetInput): Promise<DatasetExtractResult> {
  const { dataset, acquired, segmented, store, extract, temporal } = input;
  // Planning hashes the model files (hundreds of MB): it runs where the models are, on the gpu queue.
  const { quick, long } = stageOptions(temporal, 'extract', { queue: 'gpu', quick: '30 minutes', long: '12 hours' });
  const acts = proxyActivities<ExtractActivities>(long);
  const report = startStage(input, dataset, 'extract');

  const shards = segmented.shardKeys.length;
  const total = shards * MODALITIES.length;
  let quarantined = 0;
  const progress = shardProgress(report, total, () => ({ quarantined }));
  const modalities = {} as Record<Modality, ModalityFeaturesResult>;
  await report({
    status: 'running',
    step: 'plan',
    note: `${segmented.utterances} utterances, ${shards} shards x 3 modalities`,
    done: 0,
    total,
  });

  // Shard activities this run may still start before it continues as new (the next run plans again:
  // committed modalities and shards are found committed).
  let budget = ACTIVITIES_PER_RUN;
  for (const modality of MODALITIES) {
    const base = {
      store,
      modality,
      segmentPrefix: segmented.prefix,
      manifestKey: acquired.manifestKey,
      params: extract,
    };
    const plan = await acts.planExtract.executeWithOptions(
      { ...quick, summary: `plan ${dataset} ${modality} features of ${shards} shards` },
      [{ ...base, shardKeys: segmented.shardKeys }],
    );
    const pending = plan.pendingShardKeys.length;
    const stated = plan.note ? `; ${plan.note}` : '';
    await progress.planned(
      modality,
      `${modality}: ${pending} of ${shards} shards to encode${stated}`,
      shards - pending,
    );
    const started = await forEachLimitBudget(plan.pendingShardKeys, input.parallelism, budget, async (shardKey) => {
      const r: ExtractShardResult = await acts.extractShard.executeWithOptions(
        { ...long, summary: `encode ${dataset} ${modality} ${shardKey.split('/').pop()}` },
        [{ ...base, shardKey, featuresPrefix: plan.featuresPrefix, modelSha256: plan.modelSha256 }],
      );
      await progress.shardDone(
        `${modality}: ${r.rows} utterances of ${r.shard} encoded (${r.quarantined} quarantined)`,
      );
    });
    budget -= started;
    if (started < pending) await continueAsNew<typeof ExtractDataset>(input);
    const summary = await acts.finalizeExtract.executeWithOptions(
      { ...quick, summary: `write the ${dataset} ${modality} features report and commit ${plan.featuresPrefix}` },
      [
        {
          store,
          modality,
          featuresPrefix: plan.featuresPrefix,
          modelSha256: plan.modelSha256,
          dim: plan.dim,
          shardKeys: segmented.shardKeys,
          ...(plan.projection ? { projection: plan.projection } : {}),
        },
      ],
    );
    quarantined = Math.max(quarantined, summary.quarantined);
    modalities[modality] = {
      modality,
      featuresPrefix: plan.featuresPrefix,
      reportKey: featuresReportKey(plan.featuresPrefix),
      shardKeys: segmented.shardKeys.map((k) => featureShardKey(plan.featuresPrefix, k)),
      modelSha256: plan.modelSha256,
      dim: summary.dim,
      rows: summary.rows,
      ok: summary.ok,
      quarantined: summary.quarantined,
      quarantineReasons: summary.quarantineReasons,
      ran: !plan.committed,
    };
  }

  const ran = MODALITIES.some((m) => modalities[m].ran);
  const counts = MODALITIES.map((m) => `${m} ${modalities[m].ok}/${modalities[m].rows}`).join(', ');
  await report({
    status: ran ? 'done' : 'skipped',
    step: 'report',
    note: `features ${counts}${ran ? '' : ', reused from the store'}`,
    done: total,
    total,
    quarantined,
  });
  return { dataset, modalities, ran };
}

export function extractWorkflowId(parentId: string, dataset: string): string {
  return childWorkflowId(parentId, 'extract', dataset);
}
