import {
  ApplicationFailure,
  executeChild,
  isCancellation,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  ParentClosePolicy,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import type { DatasetAcquireResult, PipelineInput, PipelineResult } from '../schemas/config.ts';
import { AcquireDataset, acquireWorkflowId, describeSource } from './acquire.ts';
import { progressQuery, stageProgressSignal, type ProgressSnapshot, type StageProgress } from './progress.ts';
import { SA_CONFIG_HASH, SA_DATASET, SA_STAGE } from './search-attributes.ts';

/**
 * One run of the pipeline for one config: a child workflow per stage per dataset, stage by stage.
 * Large data never passes through here: children return store keys and small summaries.
 */
export async function MerPipeline(input: PipelineInput): Promise<PipelineResult> {
  const now = () => new Date().toISOString();
  const snapshot: ProgressSnapshot = {
    configHash: input.configHash,
    status: 'running',
    startedAt: now(),
    updatedAt: now(),
    stages: input.stages.flatMap((stage) =>
      input.datasets.map((d): StageProgress => ({ dataset: d.dataset, stage, status: 'pending', done: 0, total: 0, quarantined: 0 })),
    ),
  };
  const row = (dataset: string, stage: string): StageProgress | undefined =>
    snapshot.stages.find((s) => s.dataset === dataset && s.stage === stage);
  const update = (u: Partial<StageProgress> & { dataset: string; stage: string }): void => {
    const r = row(u.dataset, u.stage);
    if (!r) return;
    if (u.status === 'running' && !r.startedAt) r.startedAt = now();
    if (u.status && u.status !== 'running' && u.status !== 'pending') r.endedAt = now();
    Object.assign(r, u);
    snapshot.updatedAt = now();
  };
  setHandler(progressQuery, () => snapshot);
  setHandler(stageProgressSignal, update);

  const me = workflowInfo().workflowId;
  const result: PipelineResult = { configHash: input.configHash, stages: input.stages, datasets: {} };
  try {
    for (const stage of input.stages) {
      if (input.searchAttributes) upsertSearchAttributes([{ key: SA_STAGE, value: stage }]);
      // Datasets are independent: run their children side by side.
      await Promise.all(
        input.datasets.map(async (plan) => {
          update({ dataset: plan.dataset, stage, status: 'running' });
          try {
            const out: DatasetAcquireResult = await executeChild(AcquireDataset, {
              workflowId: acquireWorkflowId(me, plan.dataset),
              taskQueue: input.temporal.taskQueues.cpu,
              args: [
                {
                  plan,
                  store: input.store,
                  acquire: input.acquire,
                  temporal: input.temporal,
                  parentWorkflowId: me,
                  searchAttributes: input.searchAttributes,
                },
              ],
              parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
              staticSummary: `acquire ${plan.dataset} from ${describeSource(plan)}`,
              staticDetails: `Downloads (if a URL), safely extracts and parses **${plan.dataset}** into a \`${plan.labels}\` manifest.`,
              memo: { dataset: plan.dataset, stage, configHash: input.configHash },
              ...(input.searchAttributes ? { typedSearchAttributes: childSearchAttributes(plan.dataset, stage, input.configHash) } : {}),
            });
            result.datasets[plan.dataset] = out;
          } catch (err) {
            update({
              dataset: plan.dataset,
              stage,
              status: isCancellation(err) ? 'cancelled' : 'failed',
              error: failureMessage(err),
            });
            throw err;
          }
        }),
      );
    }
    snapshot.status = 'completed';
    snapshot.updatedAt = now();
    return result;
  } catch (err) {
    snapshot.status = isCancellation(err) ? 'cancelled' : 'failed';
    snapshot.updatedAt = now();
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({
      type: 'MerStageFailed',
      message: `pipeline ${input.configHash} failed: ${failureMessage(err)}`,
      cause: err instanceof Error ? err : undefined,
      nonRetryable: true,
    });
  }
}

function childSearchAttributes(dataset: string, stage: string, configHash: string): SearchAttributePair[] {
  return [
    { key: SA_DATASET, value: [dataset] },
    { key: SA_STAGE, value: stage },
    { key: SA_CONFIG_HASH, value: configHash },
  ];
}

/** The innermost message: the one that names the file and line. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  let msg = String(err);
  for (let i = 0; i < 6 && e && typeof e === 'object'; i++) {
    const m = (e as { message?: string }).message;
    if (m) msg = m;
    e = (e as { cause?: unknown }).cause;
  }
  return msg;
}
