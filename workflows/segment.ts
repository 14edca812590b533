import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { SegmentActivities, SegmentShardStats, ShardSpec } from '../activities/segment/activities.ts';
import type {
  DatasetAcquireResult,
  DatasetName,
  DatasetSegmentResult,
  SegmentParams,
  StoreSpecResolved,
} from '../schemas/config.ts';
import {
  ACTIVITIES_PER_RUN,
  childWorkflowId,
  forEachLimitBudget,
  shardProgress,
  stageOptions,
  startStage,
  type ChildInput,
} from './stage.ts';

export interface SegmentDatasetInput extends ChildInput {
  dataset: DatasetName;
  /** The acquire child's result: the manifest this stage cuts. */
  acquired: DatasetAcquireResult;
  store: StoreSpecResolved;
  segment: SegmentParams;
  /** Set by the run this one continues: the shards before `next` are done, with these counts. */
  resume?: { next: number; quarantined: number; utterances: number };
}

/**
 * Segment one dataset: plan (is the output committed? which shards?) -> one activity per shard on
 * the cpu queue, at most `parallelism` at a time -> a report read back from the stored shard
 * indexes, then the commit. Bad media never fail the stage: they come back as quarantined rows.
 */
export async function SegmentDataset(input: SegmentDatasetInput): Promise<DatasetSegmentResult> {
  const { dataset, acquired, store, segment, temporal } = input;
  const startedAt = new Date().toISOString();
  // A shard of long dialogs can take a while on a busy machine; a dead worker is noticed by heartbeat.
  const { quick, long } = stageOptions(temporal, 'segment', { queue: 'cpu', quick: '10 minutes', long: '6 hours' });
  const acts = proxyActivities<SegmentActivities>(long);
  const report = startStage(input, dataset, 'segment');

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
  const from = input.resume?.next ?? 0;
  let quarantined = input.resume?.quarantined ?? 0;
  let utterances = input.resume?.utterances ?? 0;
  const progress = shardProgress(report, total, () => ({ quarantined }), from);
  await report({
    step: 'shards',
    note: `${utterances}/${plan.utterances} utterances in ${total} shards`,
    done: from,
    total,
  });
  const todo = plan.shards.slice(from);
  const started = await forEachLimitBudget(todo, segment.parallelism, ACTIVITIES_PER_RUN, async (shard: ShardSpec) => {
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
    quarantined += stats.quarantined;
    utterances += stats.rows;
    await progress.shardDone(`${utterances}/${plan.utterances} utterances in ${total} shards`);
  });
  if (started < todo.length) {
    // Keep this run's history short: the next run starts at the first shard not started here.
    await continueAsNew<typeof SegmentDataset>({ ...input, resume: { next: from + started, quarantined, utterances } });
  }

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

export function segmentWorkflowId(parentId: string, dataset: string): string {
  return childWorkflowId(parentId, 'segment', dataset);
}
