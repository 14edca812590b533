/**
 * What every stage child workflow shares: its activity options (timeouts, queues, retry policy), its
 * start (MerStage search attribute, progress reporter) and the bounded fan-out of shard activities.
 *
 * Workflow code: the options built here are recorded in each ActivityTaskScheduled event, so they must
 * stay what the recorded histories (test/fixtures/histories) hold: same timeouts, same queues, same
 * non-retryable types in the same order.
 */
import { upsertSearchAttributes, type ActivityOptions } from '@temporalio/workflow';
import type { TemporalSettings } from '../schemas/config.ts';
import { NON_RETRYABLE, type StageWithActivities } from '../schemas/error-types.ts';
import { stageReporter, type StageProgress } from './progress.ts';
import { SA_STAGE } from './search-attributes.ts';

type Queue = keyof TemporalSettings['taskQueues'];
/** An ms-style duration as the SDK takes it ('30 minutes'). */
type Duration = string;

/** What every stage child's input carries besides its stage's own fields. */
export interface ChildInput {
  temporal: TemporalSettings;
  /** The pipeline that started the child, which its progress reports go to (none when run on its own). */
  parentWorkflowId?: string;
  /** Whether the namespace has the Mer* search attributes. */
  searchAttributes: boolean;
}

const retryPolicy = (temporal: TemporalSettings, stage: StageWithActivities) => ({
  maximumAttempts: temporal.activityMaxAttempts,
  nonRetryableErrorTypes: [...NON_RETRYABLE[stage]],
});

/**
 * Planning, finalizing and reporting activities: a short `startToCloseTimeout`. Given per call to a
 * proxy built on the long options, they keep its heartbeat timeout and retry intervals
 * (`executeWithOptions` merges deeply): the recorded histories have it so.
 */
export function quickOptions(
  temporal: TemporalSettings,
  stage: StageWithActivities,
  queue: Queue,
  startToCloseTimeout: Duration,
): ActivityOptions {
  return { taskQueue: temporal.taskQueues[queue], startToCloseTimeout, retry: retryPolicy(temporal, stage) };
}

/**
 * The heartbeating work activities (downloads, shards, folds): the long timeout only bounds a stuck
 * attempt; the heartbeat timeout is what notices a dead worker, and retries back off to 2 minutes.
 */
export function longOptions(
  temporal: TemporalSettings,
  stage: StageWithActivities,
  queue: Queue,
  startToCloseTimeout: Duration,
  initialInterval: Duration = '2 seconds',
): ActivityOptions {
  return {
    taskQueue: temporal.taskQueues[queue],
    startToCloseTimeout,
    heartbeatTimeout: `${temporal.heartbeatTimeoutSec} seconds`,
    retry: { ...retryPolicy(temporal, stage), initialInterval, maximumInterval: '2 minutes' },
  };
}

export interface StageTimeouts {
  /** The queue of the quick activities, and of the long ones unless `longQueue` says otherwise. */
  queue: Queue;
  quick: Duration;
  long: Duration;
  longQueue?: Queue;
  /** First retry delay of a long activity (default 2 seconds). */
  initialInterval?: Duration;
}

/** Both kinds of activity options of a stage. */
export function stageOptions(
  temporal: TemporalSettings,
  stage: StageWithActivities,
  t: StageTimeouts,
): { quick: ActivityOptions; long: ActivityOptions } {
  return {
    quick: quickOptions(temporal, stage, t.queue, t.quick),
    long: longOptions(temporal, stage, t.longQueue ?? t.queue, t.long, t.initialInterval),
  };
}

/**
 * A stage child's start: the MerStage search attribute on the child (when the namespace has it) and
 * the reporter that signals its progress rows to the parent.
 */
export function startStage(
  input: ChildInput,
  dataset: string,
  stage: StageWithActivities,
): (p: Partial<StageProgress>) => Promise<void> {
  const report = stageReporter(input.parentWorkflowId, dataset, stage);
  if (input.searchAttributes) upsertSearchAttributes([{ key: SA_STAGE, value: stage }]);
  return report;
}

/**
 * The `done` of `total` count of a stage that fans out over shards (or folds), and its progress
 * reports: after each plan (`skipped` shards already committed) and after each finished shard. `extra`
 * adds the stage's own fields (its quarantine count) as they are at the time of the report.
 */
export function shardProgress(
  report: (p: Partial<StageProgress>) => Promise<void>,
  total: number,
  extra: () => Partial<StageProgress> = () => ({}),
) {
  let done = 0;
  return {
    planned: (step: string, note: string, skipped: number): Promise<void> => {
      done += skipped;
      return report({ step, note, done, total, ...extra() });
    },
    shardDone: (note: string): Promise<void> => {
      done++;
      return report({ note, done, total, ...extra() });
    },
  };
}

/** A stage child's workflow id: derived from its parent's, so a rerun or a replay finds the same child. */
export function childWorkflowId(parentId: string, stage: StageWithActivities, dataset: string): string {
  return `${parentId}/${stage}/${dataset}`;
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
