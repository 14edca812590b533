import { Client, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import { progressQuery, type ProgressSnapshot } from '../workflows/progress.ts';
import { SA_CONFIG_HASH, SA_DATASET, SA_STAGE, SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.ts';
import type { MerPipeline } from '../workflows/pipeline.ts';
import { ProgressPrinter } from './progress-view.ts';

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
export async function startPipeline(client: Client, input: PipelineInput): Promise<{ handle: WorkflowHandle<typeof MerPipeline>; attached: boolean }> {
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

/** Waits for the result while polling the progress query. */
export async function watchPipeline(
  handle: WorkflowHandle<typeof MerPipeline>,
  opts: { quiet?: boolean; intervalMs?: number; onProgress?: (p: ProgressSnapshot) => void } = {},
): Promise<PipelineResult> {
  const printer = new ProgressPrinter(process.stderr, opts.quiet ?? !process.stderr.isTTY);
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      try {
        const p = await handle.query(progressQuery);
        printer.update(p);
        opts.onProgress?.(p);
      } catch {
        // The workflow may not have had its first task yet, or just finished.
      }
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  })();
  try {
    return await handle.result();
  } finally {
    stop = true;
    await poll;
    try {
      const final = await handle.query(progressQuery);
      printer.update(final);
      opts.onProgress?.(final);
    } catch {
      // closed workflows can still be queried; if not, the last printed state stands
    }
  }
}
