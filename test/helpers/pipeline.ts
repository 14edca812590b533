import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { buildRunConfig, toPipelineInput, type RunOverrides } from '../../cli/config.ts';
import { startPipeline, watchPipeline } from '../../cli/run.ts';
import type { PipelineInput, PipelineResult, SegmentParams } from '../../schemas/config.ts';
import { createMerWorkers, runWorkers, type QueueKind } from '../../workers/factory.ts';
import type { ProgressSnapshot } from '../../workflows/progress.ts';
import type { MerPipeline } from '../../workflows/pipeline.ts';
import { TINY } from '../extract/inputs.ts';

/** The client side of a Temporal server: a TestWorkflowEnvironment, or a test's own connections. */
export type TemporalTarget = Pick<TestWorkflowEnvironment, 'client' | 'nativeConnection'>;
export type PipelineHandle = WorkflowHandle<typeof MerPipeline>;

/** The tiny encoders of test/fixtures/models/ as a config file's `extract` block. */
export const TINY_ENCODERS = {
  text: { model: TINY.text },
  audio: { model: TINY.audio },
  visual: { model: TINY.visual },
};

/**
 * The PipelineInput `mer run` builds from its flags and, when given, a config file (`config` is
 * written to `file` first, so relative paths in it resolve against the file's folder, as a user's
 * would). `segment` sets shard size and parallelism below the config file's minimum where a tiny
 * corpus needs several shards: neither is part of any cache key.
 */
export async function pipelineInput(
  flags: RunOverrides,
  o: { file?: string; config?: object; segment?: Partial<Pick<SegmentParams, 'shardSize' | 'parallelism'>> } = {},
): Promise<PipelineInput> {
  if (o.config !== undefined) {
    if (!o.file) throw new Error('pipelineInput: a config needs the file to write it to');
    await writeFile(o.file, JSON.stringify(o.config));
  }
  const { config, baseDir } = buildRunConfig(o.file, flags);
  const input = toPipelineInput(config, baseDir, true);
  return o.segment ? { ...input, segment: { ...input.segment!, ...o.segment } } : input;
}

/**
 * A run of the encoder stages as the fault tests configure it: the tiny encoders on 4 frames an
 * utterance (`config` adds to that), written to `<dir>/config-<until>.json`.
 */
export function tinyEncoderInput(
  dir: string,
  flags: RunOverrides & { until: string },
  o: { config?: object; segment?: Partial<Pick<SegmentParams, 'shardSize' | 'parallelism'>> } = {},
): Promise<PipelineInput> {
  return pipelineInput(flags, {
    file: join(dir, `config-${flags.until}.json`),
    config: { segment: { frames: 4 }, extract: TINY_ENCODERS, ...o.config },
    ...(o.segment ? { segment: o.segment } : {}),
  });
}

export interface WorkerSpec {
  /** Default both. */
  queues?: QueueKind[];
  /** Serve workflow tasks (on the cpu queue); default true. */
  workflows?: boolean;
  /** false: a workflow-only worker (the activities run in a child process a test kills). */
  activities?: boolean;
}

/** Workers in this process for the run's task queues: both queues, workflows included, unless `spec` says otherwise. */
export function inProcessWorkers(env: TemporalTarget, input: PipelineInput, spec: WorkerSpec = {}): Promise<Worker[]> {
  return createMerWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueues: input.temporal.taskQueues,
    queues: spec.queues ?? ['cpu', 'gpu'],
    workflows: spec.workflows ?? true,
    ...(spec.activities === undefined ? {} : { activities: spec.activities }),
  });
}

const workersFor = async (env: TemporalTarget, input: PipelineInput, w: WorkerSpec | Worker[] = {}) =>
  Array.isArray(w) ? w : inProcessWorkers(env, input, w);

export interface StartedRun {
  handle: PipelineHandle;
  /** The run's result once it has closed and the workers have stopped; rejects with its failure. */
  done: Promise<PipelineResult>;
}

/**
 * Starts (or attaches to) the run of `input`, served by workers in this process while the test acts
 * on it (kills a worker, stops a server). Nobody polls its progress: the run sees only its workers.
 */
export async function startInProcess(
  env: TemporalTarget,
  input: PipelineInput,
  workers?: WorkerSpec | Worker[],
): Promise<StartedRun> {
  const ready = await workersFor(env, input, workers);
  const { handle } = await startPipeline(env.client, input);
  const done = runWorkers(ready, handle.result()).then((r) => r!);
  // Awaited by the caller later; a failure before then is not an unhandled rejection.
  done.catch(() => {});
  return { handle, done };
}

export interface WatchOptions {
  workers?: WorkerSpec | Worker[];
  /** Progress query interval (default 300 ms); every snapshot is kept (`seen`). */
  intervalMs?: number;
  onProgress?: (p: ProgressSnapshot) => void;
  /** Runs beside the pipeline (the fault a test injects); awaited before the outcome is returned. */
  whileRunning?: (handle: PipelineHandle) => Promise<void>;
}

export type Outcome = { ok: true; result: PipelineResult } | { ok: false; error: unknown };

/**
 * Starts (or attaches to) the run of `input` and serves it in this process until it closes, polling
 * its progress as `mer run` does. A failed run is an outcome, not an exception.
 */
export async function attemptInProcess(
  env: TemporalTarget,
  input: PipelineInput,
  o: WatchOptions = {},
): Promise<{
  outcome: Outcome;
  progress: ProgressSnapshot | undefined;
  seen: ProgressSnapshot[];
  handle: PipelineHandle;
  ms: number;
}> {
  const workers = await workersFor(env, input, o.workers);
  const { handle } = await startPipeline(env.client, input);
  const seen: ProgressSnapshot[] = [];
  const t0 = Date.now();
  const watched = watchPipeline(handle, {
    quiet: true,
    intervalMs: o.intervalMs ?? 300,
    onProgress: (p) => {
      seen.push(p);
      o.onProgress?.(p);
    },
  });
  const side = o.whileRunning?.(handle);
  const outcome = await runWorkers(workers, watched).then(
    (r): Outcome => ({ ok: true, result: r! }),
    (error: unknown): Outcome => ({ ok: false, error }),
  );
  await side;
  return { outcome, progress: seen.at(-1), seen, handle, ms: Date.now() - t0 };
}

/** attemptInProcess for a run that must complete: its result and progress snapshots (`progress`, the last); a failure throws. */
export async function runInProcess(
  env: TemporalTarget,
  input: PipelineInput,
  o: WatchOptions = {},
): Promise<{ result: PipelineResult; progress: ProgressSnapshot; seen: ProgressSnapshot[]; handle: PipelineHandle }> {
  const { outcome, progress, seen, handle } = await attemptInProcess(env, input, o);
  if (!outcome.ok) throw outcome.error;
  return { result: outcome.result, progress: progress!, seen, handle };
}
