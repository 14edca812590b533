import { proxyActivities } from '@temporalio/workflow';
import type {
  EvaluateActivities,
  EvaluateDatasetInput as EvaluateActivityInput,
} from '../activities/evaluate/activities.ts';
import type {
  CrossCorpusSummary,
  DatasetEvaluateResult,
  DatasetName,
  PipelineInput,
  PipelineResult,
} from '../schemas/config.ts';
import { childWorkflowId, longOptions, quickOptions, startStage, type ChildInput } from './stage.ts';

/** The activity's input plus what the child needs to run and report. */
export interface EvaluateDatasetInput extends EvaluateActivityInput, ChildInput {
  dataset: DatasetName;
}

/**
 * Metrics, tables, figures and the report of one dataset's trainings, on the cpu queue: one activity,
 * since it reads only small outputs (predictions, histories, stage reports).
 */
export async function EvaluateDataset(input: EvaluateDatasetInput): Promise<DatasetEvaluateResult> {
  const { dataset, temporal } = input;
  const acts = proxyActivities<EvaluateActivities>(quickOptions(temporal, 'evaluate', 'cpu', '1 hour'));
  const report = startStage(input, dataset, 'evaluate');
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
  return childWorkflowId(parentId, 'evaluate', dataset);
}

/**
 * `evaluate.crossCorpus`: once both datasets are trained and evaluated, one heartbeating activity on
 * the cpu queue tests each dataset's models on the other's test split (predictions only, cached
 * features; activities/evaluate/cross-corpus/). Its output is content-addressed: a rerun reuses it.
 */
export async function runCrossCorpus(input: PipelineInput, result: PipelineResult): Promise<CrossCorpusSummary> {
  const datasets = input.datasets.map((plan) => {
    const features = result.features?.[plan.dataset];
    const compressed = result.compressed?.[plan.dataset];
    const trained = result.trained?.[plan.dataset];
    if (!features || !compressed || !trained)
      throw new Error(`cross-corpus evaluation needs ${plan.dataset} extracted, compressed and trained`);
    return { dataset: plan.dataset, labels: plan.labels, features, compressed, trained };
  });
  const acts = proxyActivities<EvaluateActivities>(longOptions(input.temporal, 'evaluate', 'cpu', '1 day'));
  const { skipped, ...r } = await acts.crossCorpus.executeWithOptions(
    {
      ...longOptions(input.temporal, 'evaluate', 'cpu', '1 day'),
      summary: `cross-corpus: ${datasets.map((d) => d.dataset).join(' <-> ')} models on each other's test split over the shared classes`,
    },
    [{ store: input.store, datasets, variants: input.train?.variants ?? [] }],
  );
  return { ...r, ran: !skipped };
}
