import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startPipeline, watchPipeline } from '../../cli/run.ts';
import type { PipelineInput, PipelineResult } from '../../schemas/config.ts';
import type { Worker } from '@temporalio/worker';
import { createMerWorkers, runWorkers } from '../../workers/factory.ts';
import type { ProgressSnapshot } from '../../workflows/progress.ts';
import type { MerPipeline } from '../../workflows/pipeline.ts';

/** Workers for both task queues (workflows included) in this process, on the test server. */
export function inProcessWorkers(env: TestWorkflowEnvironment, input: PipelineInput): Promise<Worker[]> {
  return createMerWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueues: input.temporal.taskQueues,
    queues: ['cpu', 'gpu'],
    workflows: true,
  });
}

/** Starts (or attaches to) the run of `input` and serves it in this process until it closes. */
export async function runInProcess(
  env: TestWorkflowEnvironment,
  input: PipelineInput,
  opts: { intervalMs?: number; onProgress?: (p: ProgressSnapshot) => void } = {},
): Promise<{ result: PipelineResult; progress: ProgressSnapshot; handle: WorkflowHandle<typeof MerPipeline> }> {
  const workers = await inProcessWorkers(env, input);
  const { handle } = await startPipeline(env.client, input);
  let progress: ProgressSnapshot | undefined;
  const result = await runWorkers(
    workers,
    watchPipeline(handle, {
      quiet: true,
      intervalMs: opts.intervalMs ?? 300,
      onProgress: (p) => {
        progress = p;
        opts.onProgress?.(p);
      },
    }),
  );
  return { result: result!, progress: progress!, handle };
}
