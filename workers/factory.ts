import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { workflowBundle } from './bundle.ts';

export type QueueKind = 'cpu' | 'gpu';

export interface MerWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueues: { cpu: string; gpu: string };
  queues: QueueKind[];
  /** Run workflow tasks too (on the cpu queue). Activity-only workers scale out the heavy work. */
  workflows: boolean;
  /** Run activities (default true); false makes a workflow-only worker. */
  activities?: boolean;
  /** Concurrent activities per queue; a GPU worker runs one per GPU. */
  concurrency?: Partial<Record<QueueKind, number>>;
  /** How long running activities may take to finish or checkpoint when the worker shuts down ('30 seconds'). */
  shutdownGraceTime?: string | number;
  identity?: string;
  /** Execution provider for the ONNX encoders: 'cuda' needs onnxruntime-node installed with cuda12. */
  device?: 'cpu' | 'cuda';
  /** ONNX Runtime intra-op threads per session (encoders, training); absent: one per physical core. */
  threads?: number;
}

/** What one worker of createMerWorkers polls: its task queue and the kinds of task it takes there. */
export interface ServedQueue {
  taskQueue: string;
  workflows: boolean;
  activities: boolean;
}

/**
 * The task queues createMerWorkers serves for these options, with what each takes: workflow tasks go
 * only to the cpu queue (workflows never run on the gpu queue), so `--queue gpu` serves activities only.
 */
export function servedQueues(
  opts: Pick<MerWorkerOptions, 'taskQueues' | 'queues' | 'workflows' | 'activities'>,
): ServedQueue[] {
  const out: ServedQueue[] = [];
  for (const q of opts.queues) {
    const workflows = opts.workflows && q === 'cpu';
    const activities = opts.activities !== false;
    if (workflows || activities) out.push({ taskQueue: opts.taskQueues[q], workflows, activities });
  }
  return out;
}

/** `mer-cpu (workflows + activities), mer-gpu (activities)`: what a worker process says it serves. */
export function describeServed(served: readonly ServedQueue[]): string {
  const what = (s: ServedQueue) =>
    s.workflows && s.activities ? 'workflows + activities' : s.workflows ? 'workflows' : 'activities';
  return served.map((s) => `${s.taskQueue} (${what(s)})`).join(', ');
}

export const DEFAULT_CONCURRENCY: Record<QueueKind, number> = { cpu: 4, gpu: 1 };

/**
 * Workers for the mer-cpu and mer-gpu task queues. Both queues carry the same activity
 * implementations (every activity runs on CPU); routing decides which fleet runs what.
 */
export async function createMerWorkers(opts: MerWorkerOptions): Promise<Worker[]> {
  const activities = createActivities({
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
  });
  const workers: Worker[] = [];
  for (const q of opts.queues) {
    const withWorkflows = opts.workflows && q === 'cpu';
    if (!withWorkflows && opts.activities === false) continue;
    workers.push(
      await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: opts.taskQueues[q],
        ...(opts.activities === false ? {} : { activities }),
        ...(withWorkflows ? { workflowBundle: await workflowBundle() } : {}),
        maxConcurrentActivityTaskExecutions: opts.concurrency?.[q] ?? DEFAULT_CONCURRENCY[q],
        shutdownGraceTime: opts.shutdownGraceTime ?? '30 seconds',
        ...(opts.identity ? { identity: `${opts.identity}/${q}` } : {}),
      }),
    );
  }
  return workers;
}

/** Runs workers until `until` settles (or forever), then shuts them down gracefully. */
export async function runWorkers<T>(workers: Worker[], until?: Promise<T>): Promise<T | undefined> {
  if (!until) {
    await Promise.all(workers.map((w) => w.run()));
    return undefined;
  }
  // Every worker stops when `until` settles, whichever way; its outcome is returned only after they have.
  const settled = until.then(
    () => undefined,
    () => undefined,
  );
  await Promise.all(workers.map((w) => w.runUntil(settled)));
  return until;
}

/** SIGINT/SIGTERM begin a graceful shutdown: running activities get shutdownGraceTime to finish. */
export function shutdownOnSignals(workers: Worker[]): void {
  const stop = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
