import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { SegmentActivities, SegmentShardStats, ShardSpec } from '../activities/segment/activities.ts';
import type {
  DatasetAcquireResult,
  DatasetName,
  DatasetSegmentResult,
  SegmentParams,
  StoreSpecResolved,
  TemporalSettings,
} from '../schemas/config.ts';
import { stageReporter } from './progress.ts';
import { SA_STAGE } from './search-attributes.ts';

export interface SegmentDatasetInput {
  dataset: DatasetName;
  /** The acquire child's result: the manifest this stage cuts. */
  acquired: DatasetAcquireResult;
  store: StoreSpecResolved;
  segment: SegmentParams;
  temporal: TemporalSettings;
  parentWorkflowId?: string;
  searchAttributes: boolean;
}

const NON_RETRYABLE = ['MerConfigInvalid', 'MerToolMismatch'];

/**
 * Segment one dataset: plan (is the output committed? which shards?) -> one activity per shard on
 * the cpu queue, at most `parallelism` at a time -> a report read back from the stored shard
 * indexes, then the commit. Bad media never fail the stage: they come back as quarantined rows.
 */
export async function SegmentDataset(input: SegmentDatasetInput): Promise<DatasetSegmentResult> {
  const { dataset, acquired, store, segment, temporal } = input;
  const startedAt = new Date().toISOString();
  const retry = { maximumAttempts: temporal.activityMaxAttempts, nonRetryableErrorTypes: NON_RETRYABLE };
  const quick = { taskQueue: temporal.taskQueues.cpu, startToCloseTimeout: '10 minutes', retry };
  const long = {
    taskQueue: temporal.taskQueues.cpu,
    // A shard of long dialogs can take a while on a busy machine; a dead worker is noticed by heartbeat.
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: `${temporal.heartbeatTimeoutSec} seconds`,
    retry: { ...retry, initialInterval: '2 seconds', maximumInterval: '2 minutes' },
  };
  const acts = proxyActivities<SegmentActivities>(long);

  const report = stageReporter(input.parentWorkflowId, dataset, 'segment');

  if (input.searchAttributes) upsertSearchAttributes([{ key: SA_STAGE, value: 'segment' }]);

  await report({ status: 'running', step: 'plan', note: `${acquired.rows} utterances`, done: 0, total: 0 });
  const plan = await acts.planSegment.executeWithOptions(
    { ...quick, summary: `plan ${dataset} segmentation of ${acquired.rows} utterances` },
    [{ store, dataset, manifestKey: acquired.manifestKey, params: segment }],
  );
  if (plan.committed) {
    const c = plan.committed;
    await report({
      status: 'skipped',
      step: 'report',
      note: `${c.ok} of ${c.utterances} utterances cut, ${c.quarantined} quarantined, reused from the store`,
      done: c.shardKeys.length,
      total: c.shardKeys.length,
      quarantined: c.quarantined,
    });
    return { dataset, ...c, ran: false };
  }

  const total = plan.shards.length;
  let done = 0;
  let quarantined = 0;
  let utterances = 0;
  await report({ step: 'shards', note: `0/${plan.utterances} utterances in ${total} shards`, done, total });
  await forEachLimit(plan.shards, segment.parallelism, async (shard: ShardSpec) => {
    const stats: SegmentShardStats = await acts.segmentShard.executeWithOptions(
      {
        ...long,
        summary: `segment ${dataset} shard ${shard.index + 1}/${total}: utterances ${shard.first}-${shard.first + shard.count - 1}`,
      },
      [
        {
          store,
          dataset,
          manifestKey: acquired.manifestKey,
          prefix: plan.prefix,
          ffmpegVersion: plan.ffmpegVersion,
          params: segment,
          shard,
        },
      ],
    );
    done++;
    quarantined += stats.quarantined;
    utterances += stats.rows;
    await report({ note: `${utterances}/${plan.utterances} utterances in ${total} shards`, done, total, quarantined });
  });

  await report({ step: 'report', note: `writing the ${dataset} segment report` });
  const summary = await acts.finalizeSegment.executeWithOptions(
    { ...quick, summary: `write the ${dataset} segment report and commit ${plan.prefix}` },
    [
      {
        store,
        dataset,
        manifestKey: acquired.manifestKey,
        segKey: plan.segKey,
        prefix: plan.prefix,
        ffmpegVersion: plan.ffmpegVersion,
        params: segment,
        shardCount: total,
        startedAt,
      },
    ],
  );
  await report({
    status: 'done',
    step: 'report',
    note: `${summary.ok} of ${summary.utterances} utterances cut (${summary.audioSeconds.toFixed(0)} s audio, ${summary.frames} frames), ${summary.quarantined} quarantined`,
    done: total,
    total,
    quarantined: summary.quarantined,
  });
  return { dataset, ...summary, ran: true };
}

/** At most `limit` of `fn` in flight, started in item order (deterministic: workflow code). */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

export function segmentWorkflowId(parentId: string, dataset: string): string {
  return `${parentId}/segment/${dataset}`;
}
