import type { WorkflowClient } from '@temporalio/client';

/**
 * Why a run's progress query is not answered: answering needs a worker that runs workflow tasks on the
 * run's task queue. Said as "waiting for a workflow worker: ..." by `mer run` (while it waits) and
 * `mer status`, with what to start; the alternative was a progress display that went quiet.
 */
export async function workflowWorkerWait(client: WorkflowClient, workflowId: string, runId?: string): Promise<string> {
  let queue: string | undefined;
  try {
    queue = (await client.getHandle(workflowId, runId).describe()).taskQueue;
  } catch {
    // not described: say it without the queue
  }
  if (!queue) return 'waiting for a workflow worker to answer the progress query';
  // Run-scoped queues (cli/run-queues.ts) are served by the `mer run` of that run, or whoever attaches.
  const start = queue.includes('@')
    ? `\`mer resume ${workflowId}\` attaches to the run and serves it`
    : `start one: \`mer worker --queue cpu\`${queue === 'mer-cpu' ? '' : ` with --task-queue-prefix ${queue.replace(/-cpu$/, '')}`}`;
  try {
    const r = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: queue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    if (!r.pollers?.length) return `waiting for a workflow worker: none polls task queue ${queue} (${start})`;
    return `waiting for a workflow worker on task queue ${queue}: ${r.pollers.length} polled lately but the progress query is not answered (a worker may have just stopped; ${start})`;
  } catch {
    return `waiting for a workflow worker on task queue ${queue} (${start})`;
  }
}
