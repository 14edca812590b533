import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  isGrpcServiceError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import { progressQuery, type ProgressSnapshot } from '../workflows/progress.ts';
import { SA_CONFIG_HASH, SA_DATASET, SA_STAGE, SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.ts';
import type { MerPipeline } from '../workflows/pipeline.ts';
import { ProgressPrinter, type ProgressMode, type ProgressOut } from './progress-view.ts';
import { workflowWorkerWait } from './worker-wait.ts';

export const pipelineWorkflowId = (configHash: string) => `mer-${configHash}`;

/** True when the namespace has our custom search attributes (the dev server registers them at start). */
export async function hasSearchAttributes(client: Client, namespace: string): Promise<boolean> {
  try {
    const r = await client.connection.operatorService.listSearchAttributes({ namespace });
    const names = Object.keys(r.customAttributes ?? {});
    return SEARCH_ATTRIBUTE_FLAGS.every(([n]) => names.includes(n));
  } catch {
    return false;
  }
}

/**
 * Starts the run for this config, or attaches to it when it is already running (same config, same
 * workflow id). A finished run of the same config is started again: every committed stage output
 * is found in the store and reused, so the new run only redoes what is missing.
 */
export async function startPipeline(
  client: Client,
  input: PipelineInput,
): Promise<{ handle: WorkflowHandle<typeof MerPipeline>; attached: boolean }> {
  const workflowId = pipelineWorkflowId(input.configHash);
  const datasets = input.datasets.map((d) => d.dataset);
  const sa: SearchAttributePair[] = [
    { key: SA_DATASET, value: datasets },
    { key: SA_STAGE, value: input.stages[0] },
    { key: SA_CONFIG_HASH, value: input.configHash },
  ];
  const existing = client.workflow.getHandle<typeof MerPipeline>(workflowId);
  try {
    if ((await existing.describe()).status.name === 'RUNNING') return { handle: existing, attached: true };
  } catch {
    // no run with this id yet
  }
  try {
    // USE_EXISTING also covers the race with another `mer run` of the same config starting right now.
    const handle = await client.workflow.start<typeof MerPipeline>('MerPipeline', {
      taskQueue: input.temporal.taskQueues.cpu,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `${input.name ?? 'mer run'}: ${datasets.join(' + ')} until ${input.stages.at(-1)}`,
      staticDetails: [
        `**Config hash** \`${input.configHash}\``,
        `**Stages** ${input.stages.join(' → ')}`,
        ...input.datasets.map((d) => `**${d.dataset}** ${d.source.kind} source, labels \`${d.labels}\``),
      ].join('\n\n'),
      memo: { configHash: input.configHash, datasets, stages: input.stages, name: input.name ?? null },
      ...(input.searchAttributes ? { typedSearchAttributes: sa } : {}),
    });
    return { handle, attached: false };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { handle: existing, attached: true };
    throw err;
  }
}

/**
 * Waits for the result while polling the progress query. A Temporal server that goes away (a restart of
 * the dev server, a cluster frontend roll) is waited for rather than reported as a failed run: the run
 * itself is durable, only this client's view of it was interrupted.
 */
export async function watchPipeline(
  handle: WorkflowHandle<typeof MerPipeline>,
  opts: {
    quiet?: boolean;
    /** 'auto' (table on a TTY, nothing otherwise), 'quiet', or 'json' (NDJSON progress events). */
    progress?: ProgressMode;
    /** Where progress goes (default stderr). */
    out?: ProgressOut;
    intervalMs?: number;
    onProgress?: (p: ProgressSnapshot) => void;
    /** How long the server may stay unreachable before waiting gives up (default 15 min). */
    reconnectForMs?: number;
    /** After this long without an answer to the progress query, say that no workflow worker answers (default 5 s). */
    workerWaitNoticeMs?: number;
  } = {},
): Promise<PipelineResult> {
  const mode: ProgressMode = opts.progress ?? (opts.quiet ? 'quiet' : 'auto');
  const printer = new ProgressPrinter(opts.out ?? process.stderr, mode, { workflowId: handle.workflowId });
  let stop = false;
  let wake: (() => void) | undefined;
  let answeredAt = Date.now();
  let waitingSaid = false;
  const poll = (async () => {
    while (!stop) {
      try {
        // Bounded: a query waits for a worker, and a run whose workers are gone must not block the loop.
        const p = await handle.client.connection.withDeadline(Date.now() + 5_000, () => handle.query(progressQuery));
        answeredAt = Date.now();
        waitingSaid = false;
        printer.update(p);
        opts.onProgress?.(p);
      } catch {
        // The workflow may not have had its first task yet, or just finished; past a few seconds without
        // an answer no worker runs its workflow tasks: say so once, with what to start, not silence.
        if (!stop && !waitingSaid && Date.now() - answeredAt >= (opts.workerWaitNoticeMs ?? 5_000)) {
          waitingSaid = true;
          const why = await workflowWorkerWait(handle.client, handle.workflowId).catch(
            () => 'waiting for a workflow worker',
          );
          if (!stop) printer.notice('waiting', why);
        }
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, opts.intervalMs ?? 1000);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  try {
    return await resultSurvivingOutages(handle, opts.reconnectForMs ?? 15 * 60_000);
  } finally {
    stop = true;
    wake?.();
    await poll;
    try {
      const final = await handle.client.connection.withDeadline(Date.now() + 10_000, () => handle.query(progressQuery));
      printer.update(final);
      opts.onProgress?.(final);
    } catch {
      // closed workflows can still be queried; if not, the last printed state stands
    }
  }
}

// gRPC status codes (stable across implementations; @grpc/grpc-js is only a transitive dependency here).
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;
const GRPC_SERVER_GONE: readonly number[] = [GRPC_UNAVAILABLE, GRPC_DEADLINE_EXCEEDED];

/** gRPC UNAVAILABLE or DEADLINE_EXCEEDED anywhere in the cause chain: the server, not the run, is gone. */
export function isServerUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 6 && e && typeof e === 'object'; i++) {
    if (isGrpcServiceError(e) && GRPC_SERVER_GONE.includes(e.code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

async function resultSurvivingOutages(
  handle: WorkflowHandle<typeof MerPipeline>,
  reconnectForMs: number,
): Promise<PipelineResult> {
  let outageSince: number | undefined;
  let delay = 500;
  for (;;) {
    const asked = Date.now();
    try {
      return await handle.result();
    } catch (err) {
      if (!isServerUnavailable(err)) throw err;
      // A call that was answered for a while before failing means the server had come back in between.
      if (Date.now() - asked > 30_000) {
        outageSince = undefined;
        delay = 500;
      }
      outageSince ??= Date.now();
      if (Date.now() - outageSince > reconnectForMs) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }
}
