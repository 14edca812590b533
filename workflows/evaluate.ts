import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type {
  EvaluateActivities,
  EvaluateDatasetInput as EvaluateActivityInput,
} from '../activities/evaluate/activities.ts';
import type { DatasetEvaluateResult, DatasetName, TemporalSettings } from '../schemas/config.ts';
import { stageReporter } from './progress.ts';
import { SA_STAGE } from './search-attributes.ts';

/** The activity's input plus what the child needs to run and report. */
export interface EvaluateDatasetInput extends EvaluateActivityInput {
  dataset: DatasetName;
  temporal: TemporalSettings;
  parentWorkflowId?: string;
  searchAttributes: boolean;
}

/**
 * Metrics, tables, figures and the report of one dataset's trainings, on the cpu queue: one activity,
 * since it reads only small outputs (predictions, histories, stage reports).
 */
export async function EvaluateDataset(input: EvaluateDatasetInput): Promise<DatasetEvaluateResult> {
  const { dataset, temporal } = input;
  const acts = proxyActivities<EvaluateActivities>({
    taskQueue: temporal.taskQueues.cpu,
    startToCloseTimeout: '1 hour',
    retry: {
      maximumAttempts: temporal.activityMaxAttempts,
      nonRetryableErrorTypes: ['MerConfigInvalid', 'MerFeatureShardCorrupt'],
    },
  });
  const report = stageReporter(input.parentWorkflowId, dataset, 'evaluate');

  if (input.searchAttributes) upsertSearchAttributes([{ key: SA_STAGE, value: 'evaluate' }]);
  await report({
    status: 'running',
    step: 'report',
    note: `${input.trained.runs.length} trainings`,
    done: 0,
    total: 1,
  });
  const { dataset: _d, parentWorkflowId: _p, searchAttributes: _s, temporal: _t, ...rest } = input;
  const r = await acts.evaluateDataset.executeWithOptions(
    {
      startToCloseTimeout: '1 hour',
      summary: `evaluate ${dataset}: metrics, tables and figures of ${input.trained.runs.length} trainings`,
    },
    [rest],
  );
  const h = r.headline;
  await report({
    status: r.skipped ? 'skipped' : 'done',
    note: `${h.variant}: accuracy ${(h.accuracy * 100).toFixed(1)}%, weighted F1 ${(h.weightedF1 * 100).toFixed(1)}% over ${h.folds} fold(s); ${r.htmlKey}${r.skipped ? ' (reused)' : ''}`,
    done: 1,
    total: 1,
  });
  return {
    dataset,
    evalKey: r.evalKey,
    prefix: r.prefix,
    metricsKey: r.metricsKey,
    htmlKey: r.htmlKey,
    markdownKey: r.markdownKey,
    headline: h,
    ran: !r.skipped,
  };
}

export function evaluateWorkflowId(parentId: string, dataset: string): string {
  return `${parentId}/evaluate/${dataset}`;
}
