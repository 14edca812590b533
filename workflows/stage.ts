/**
 * What every stage child workflow shares: its activity options (timeouts, queues, retry policy), its
 * start (MerStage search attribute, progress reporter) and the bounded fan-out of shard activities.
 *
 * Workflow code: the options built here are recorded in each ActivityTaskScheduled event, so they must
 * stay what the recorded histories (test/fixtures/histories) hold: same timeouts, same queues, same
 * non-retryable types in the same order.
 */
import { patched, upsertSearchAttributes, type ActivityOptions } from '@temporalio/workflow';
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
 * reports: after each plan (`skipped` shards already committed) and when a finished shard moves the
 * count to a new whole percent, or is the last. `extra` adds the stage's own fields (its quarantine
 * count) as they are at the time of the report.
 *
 * Decision record: each report is a signal that lands in the parent's history (and two events in the
 * child's), so one per shard made the parent's history grow with the corpus (a million utterances: tens
 * of thousands of signals). Per percent bounds it at about 100 per stage and dataset, whatever the corpus
 * size or run time. Runs recorded before (the replay histories) reported every shard: the patch keeps them.
 */
export function shardProgress(
  report: (p: Partial<StageProgress>) => Promise<void>,
  total: number,
  extra: () => Partial<StageProgress> = () => ({}),
  done = 0,
) {
  let perPercent: boolean | undefined;
  const percent = (n: number) => Math.floor((n * 100) / Math.max(1, total));
  return {
    planned: (step: string, note: string, skipped: number): Promise<void> => {
      done += skipped;
      return report({ step, note, done, total, ...extra() });
    },
    shardDone: (note: string): Promise<void> => {
      done++;
      perPercent ??= patched(PROGRESS_PER_PERCENT);
      if (perPercent && done < total && percent(done) === percent(done - 1)) return Promise.resolve();
      return report({ note, done, total, ...extra() });
    },
  };
}

/** Patch id of per-percent progress reports (workflows/stage.ts shardProgress). */
export const PROGRESS_PER_PERCENT = 'mer-progress-per-percent';

/**
 * Shard activities one run of a stage child starts before it continues as new: a run's history stays
 * near 500 x ~8 events, far below Temporal's 10,240-event warning, at any corpus size. The new run
 * plans again and finds the finished shards committed (segment: carried as `resume`).
 */
export const ACTIVITIES_PER_RUN = 500;

/**
 * `fn` over `items`, at most `limit` in flight, started in item order; stops starting new ones once
 * `budget` have started and waits for those in flight. Returns how many were started (and finished):
 * `items.length` when all were. Deterministic: workflow code.
 */
export async function forEachLimitBudget<T>(
  items: readonly T[],
  limit: number,
  budget: number,
  fn: (item: T) => Promise<void>,
): Promise<number> {
  const end = Math.min(items.length, Math.max(0, budget));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < end) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, end)) }, lane));
  return end;
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
