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
import type {
  DatasetAcquireResult,
  DatasetCompressResult,
  DatasetEvaluateResult,
  DatasetExtractResult,
  DatasetPlan,
  DatasetSegmentResult,
  DatasetTrainResult,
  PipelineInput,
  PipelineResult,
} from '../schemas/config.ts';
import { AcquireDataset, acquireWorkflowId, describeSource } from './acquire.ts';
import { CompressDataset, compressWorkflowId } from './compress.ts';
import { EvaluateDataset, evaluateWorkflowId, type EvaluateDatasetInput } from './evaluate.ts';
import { TrainDataset, trainWorkflowId } from './train.ts';
import { ExtractDataset, extractWorkflowId } from './extract.ts';
import { SegmentDataset, segmentWorkflowId } from './segment.ts';
import { progressQuery, stageProgressSignal, type ProgressSnapshot, type StageProgress } from './progress.ts';
import { SA_CONFIG_HASH, SA_DATASET, SA_PROTOCOL, SA_STAGE } from './search-attributes.ts';

/**
 * One run of the pipeline for one config: a child workflow per stage per dataset, each dataset's
 * stages in order, the datasets side by side. Large data never passes through here: children return
 * store keys and small summaries.
 */
export async function MerPipeline(input: PipelineInput): Promise<PipelineResult> {
  const now = () => new Date().toISOString();
  const snapshot: ProgressSnapshot = {
    configHash: input.configHash,
    status: 'running',
    startedAt: now(),
    updatedAt: now(),
    stages: input.stages.flatMap((stage) =>
      input.datasets.map((d): StageProgress => ({
        dataset: d.dataset,
        stage,
        status: 'pending',
        done: 0,
        total: 0,
        quarantined: 0,
      })),
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
  // MerStage shows the furthest stage any dataset has entered.
  let furthest = -1;
  const enter = (i: number): void => {
    if (i <= furthest) return;
    furthest = i;
    if (input.searchAttributes) upsertSearchAttributes([{ key: SA_STAGE, value: input.stages[i] }]);
  };
  try {
    // Each dataset runs its stages in order, independently of the other: IEMOCAP is segmented while
    // MELD may still be downloading. For an acquire-only run this issues exactly the commands of the
    // earlier stage-by-stage loop (search attribute, then one child per dataset), so its histories replay.
    await Promise.all(
      input.datasets.map(async (plan) => {
        let acquired: DatasetAcquireResult | undefined;
        let segmented: DatasetSegmentResult | undefined;
        let features: DatasetExtractResult | undefined;
        let compressed: DatasetCompressResult | undefined;
        let trained: DatasetTrainResult | undefined;
        for (let i = 0; i < input.stages.length; i++) {
          const stage = input.stages[i];
          enter(i);
          update({ dataset: plan.dataset, stage, status: 'running' });
          try {
            switch (stage) {
              case 'acquire':
                acquired = await runAcquire(input, plan, me);
                result.datasets[plan.dataset] = acquired;
                break;
              case 'segment':
                if (!acquired) throw new Error(`segment of ${plan.dataset} needs its acquire result`);
                segmented = await runSegment(input, plan, acquired, me);
                (result.segments ??= {})[plan.dataset] = segmented;
                break;
              case 'extract':
                if (!acquired || !segmented)
                  throw new Error(`extract of ${plan.dataset} needs its acquire and segment results`);
                features = await runExtract(input, plan, acquired, segmented, me);
                (result.features ??= {})[plan.dataset] = features;
                break;
              case 'compress':
                if (!features) throw new Error(`compress of ${plan.dataset} needs its extract result`);
                compressed = await runCompress(input, plan, features, me);
                (result.compressed ??= {})[plan.dataset] = compressed;
                break;
              case 'train':
                if (!acquired || !features || !compressed)
                  throw new Error(`train of ${plan.dataset} needs its acquire, extract and compress results`);
                trained = await runTrain(input, plan, acquired, features, compressed, me);
                (result.trained ??= {})[plan.dataset] = trained;
                break;
              case 'evaluate': {
                if (!acquired || !segmented || !features || !compressed || !trained)
                  throw new Error(`evaluate of ${plan.dataset} needs the results of every earlier stage`);
                // Stage timings as the progress rows recorded them (workflow time: deterministic on replay).
                const timings = snapshot.stages
                  .filter((s) => s.dataset === plan.dataset && s.stage !== 'evaluate')
                  .map((s) => ({
                    stage: s.stage,
                    status: s.status,
                    ...(s.startedAt ? { startedAt: s.startedAt } : {}),
                    ...(s.endedAt ? { endedAt: s.endedAt } : {}),
                    ...(s.startedAt && s.endedAt
                      ? { seconds: (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000 }
                      : {}),
                  }));
                const evaluated = await runEvaluate(
                  input,
                  plan,
                  { acquired, segmented, features, compressed, trained, timings },
                  me,
                );
                (result.reports ??= {})[plan.dataset] = evaluated;
                break;
              }
              default: {
                // A stage added to STAGES without a child here fails to compile.
                const unhandled: never = stage;
                throw new Error(`no child workflow for stage ${String(unhandled)}`);
              }
            }
          } catch (err) {
            update({
              dataset: plan.dataset,
              stage,
              status: isCancellation(err) ? 'cancelled' : 'failed',
              error: failureMessage(err),
            });
            throw err;
          }
        }
      }),
    );
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

function runAcquire(input: PipelineInput, plan: DatasetPlan, me: string): Promise<DatasetAcquireResult> {
  return executeChild(AcquireDataset, {
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
    memo: { dataset: plan.dataset, stage: 'acquire', configHash: input.configHash },
    ...(input.searchAttributes
      ? { typedSearchAttributes: childSearchAttributes(plan.dataset, 'acquire', input.configHash) }
      : {}),
  });
}

function runSegment(
  input: PipelineInput,
  plan: DatasetPlan,
  acquired: DatasetAcquireResult,
  me: string,
): Promise<DatasetSegmentResult> {
  const segment = input.segment;
  if (!segment)
    throw ApplicationFailure.create({
      type: 'MerConfigInvalid',
      message: 'segment stage requested without segment parameters',
      nonRetryable: true,
    });
  const sampling = segment.fps ? `${segment.fps} fps (at most ${segment.frames} frames)` : `${segment.frames} frames`;
  return executeChild(SegmentDataset, {
    workflowId: segmentWorkflowId(me, plan.dataset),
    taskQueue: input.temporal.taskQueues.cpu,
    args: [
      {
        dataset: plan.dataset,
        acquired,
        store: input.store,
        segment,
        temporal: input.temporal,
        parentWorkflowId: me,
        searchAttributes: input.searchAttributes,
      },
    ],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `segment ${plan.dataset}: ${acquired.rows} utterances into 16 kHz audio and ${sampling}`,
    staticDetails:
      `Cuts every utterance of the **${plan.dataset}** manifest \`${acquired.manifestKey}\` into 16 kHz mono audio and ` +
      `${sampling} of 224x224 (${segment.aspect}), in shards of ${segment.shardSize}, ${segment.parallelism} at a time.`,
    memo: { dataset: plan.dataset, stage: 'segment', configHash: input.configHash },
    ...(input.searchAttributes
      ? { typedSearchAttributes: childSearchAttributes(plan.dataset, 'segment', input.configHash) }
      : {}),
  });
}

function runExtract(
  input: PipelineInput,
  plan: DatasetPlan,
  acquired: DatasetAcquireResult,
  segmented: DatasetSegmentResult,
  me: string,
): Promise<DatasetExtractResult> {
  const extract = input.extract;
  if (!extract)
    throw ApplicationFailure.create({
      type: 'MerConfigInvalid',
      message: 'extract stage requested without extract parameters',
      nonRetryable: true,
    });
  return executeChild(ExtractDataset, {
    workflowId: extractWorkflowId(me, plan.dataset),
    taskQueue: input.temporal.taskQueues.cpu,
    args: [
      {
        dataset: plan.dataset,
        acquired,
        segmented,
        store: input.store,
        extract,
        parallelism: input.segment?.parallelism ?? 1,
        temporal: input.temporal,
        parentWorkflowId: me,
        searchAttributes: input.searchAttributes,
      },
    ],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `extract ${plan.dataset}: text, audio and visual features of ${segmented.ok} utterances`,
    staticDetails:
      `Encodes the **${plan.dataset}** segments \`${segmented.prefix}\` (${segmented.shardKeys.length} shards) with frozen encoders on the gpu queue: ` +
      `text \`${extract.text.model}\`, audio \`${extract.audio.model}\`, visual \`${extract.visual.model}\`.`,
    memo: { dataset: plan.dataset, stage: 'extract', configHash: input.configHash },
    ...(input.searchAttributes
      ? { typedSearchAttributes: childSearchAttributes(plan.dataset, 'extract', input.configHash) }
      : {}),
  });
}

function runCompress(
  input: PipelineInput,
  plan: DatasetPlan,
  features: DatasetExtractResult,
  me: string,
): Promise<DatasetCompressResult> {
  const compress = input.compress;
  if (!compress?.settings.length)
    throw ApplicationFailure.create({
      type: 'MerConfigInvalid',
      message: 'compress stage requested without compress parameters',
      nonRetryable: true,
    });
  const main = compress.settings[0];
  const what = compress.settings
    .map((p) =>
      p.enabled
        ? `VSC (top-${p.topK} tokens, ${p.maxFrames} frames, guidance ${p.guidance})`
        : `no VSC (${p.maxFrames} frames)`,
    )
    .join(' and ');
  return executeChild(CompressDataset, {
    workflowId: compressWorkflowId(me, plan.dataset),
    taskQueue: input.temporal.taskQueues.cpu,
    args: [
      {
        dataset: plan.dataset,
        features,
        store: input.store,
        settings: compress.settings,
        parallelism: input.segment?.parallelism ?? 1,
        temporal: input.temporal,
        parentWorkflowId: me,
        searchAttributes: input.searchAttributes,
      },
    ],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `compress ${plan.dataset}: ${what} of ${features.modalities.visual.ok} visual sequences`,
    staticDetails:
      `Visual sequence compression of **${plan.dataset}** features \`${features.modalities.visual.featuresPrefix}\` on the cpu queue: ` +
      `${what}; merge mode ${main.mergeMode}, temporal threshold ${main.temporalThreshold}.`,
    memo: { dataset: plan.dataset, stage: 'compress', configHash: input.configHash },
    ...(input.searchAttributes
      ? { typedSearchAttributes: childSearchAttributes(plan.dataset, 'compress', input.configHash) }
      : {}),
  });
}

function runTrain(
  input: PipelineInput,
  plan: DatasetPlan,
  acquired: DatasetAcquireResult,
  features: DatasetExtractResult,
  compressed: DatasetCompressResult,
  me: string,
): Promise<DatasetTrainResult> {
  const train = input.train;
  if (!train)
    throw ApplicationFailure.create({
      type: 'MerConfigInvalid',
      message: 'train stage requested without train parameters',
      nonRetryable: true,
    });
  const protocol = train.params.splits[plan.dataset].protocol;
  const names = train.variants.map((v) => v.name).join(', ');
  return executeChild(TrainDataset, {
    workflowId: trainWorkflowId(me, plan.dataset),
    taskQueue: input.temporal.taskQueues.cpu,
    args: [
      {
        dataset: plan.dataset,
        acquired,
        features,
        compressed,
        store: input.store,
        train,
        ...(input.segment && input.extract && input.compress?.settings[0]
          ? {
              inference: {
                dataset: plan.dataset,
                labelSet: plan.labels,
                segment: { ...input.segment },
                extract: { ...input.extract },
                vsc: { ...input.compress.settings[0] },
                encoders: {
                  text: features.modalities.text.modelSha256,
                  audio: features.modalities.audio.modelSha256,
                  visual: features.modalities.visual.modelSha256,
                },
              },
            }
          : {}),
        temporal: input.temporal,
        parentWorkflowId: me,
        searchAttributes: input.searchAttributes,
      },
    ],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `train ${plan.dataset}: ${train.params.preset} fusion model, ${protocol} protocol, ${train.variants.length} variant(s)`,
    staticDetails:
      `Trains the **${train.params.preset}** fusion model on every \`${protocol}\` fold of **${plan.dataset}** (\`${plan.labels}\`) on the gpu queue; ` +
      `variants: ${names}. Up to ${train.params.maxEpochs} epochs, batch ${train.params.batchSize}, seed ${train.params.seed}.`,
    memo: { dataset: plan.dataset, stage: 'train', configHash: input.configHash, protocol },
    ...(input.searchAttributes
      ? {
          typedSearchAttributes: [
            ...childSearchAttributes(plan.dataset, 'train', input.configHash),
            { key: SA_PROTOCOL, value: protocol },
          ],
        }
      : {}),
  });
}

function runEvaluate(
  input: PipelineInput,
  plan: DatasetPlan,
  done: Pick<EvaluateDatasetInput, 'acquired' | 'segmented' | 'features' | 'compressed' | 'trained' | 'timings'>,
  me: string,
): Promise<DatasetEvaluateResult> {
  const train = input.train;
  if (!train)
    throw ApplicationFailure.create({
      type: 'MerConfigInvalid',
      message: 'evaluate stage requested without train parameters',
      nonRetryable: true,
    });
  return executeChild(EvaluateDataset, {
    workflowId: evaluateWorkflowId(me, plan.dataset),
    taskQueue: input.temporal.taskQueues.cpu,
    args: [
      {
        dataset: plan.dataset,
        configHash: input.configHash,
        labels: plan.labels,
        ...done,
        variants: train.variants,
        settings: { train: train.params, vsc: input.compress!.settings[0] },
        store: input.store,
        temporal: input.temporal,
        parentWorkflowId: me,
        searchAttributes: input.searchAttributes,
      },
    ],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `evaluate ${plan.dataset}: ${done.trained.protocol} metrics, tables and figures of ${done.trained.runs.length} trainings`,
    staticDetails: `Per-fold and pooled metrics, the reference's per-class figures, confusion matrices, training curves and the ablation table of **${plan.dataset}**, written as metrics.json, report.md and report.html.`,
    memo: { dataset: plan.dataset, stage: 'evaluate', configHash: input.configHash, protocol: done.trained.protocol },
    ...(input.searchAttributes
      ? {
          typedSearchAttributes: [
            ...childSearchAttributes(plan.dataset, 'evaluate', input.configHash),
            { key: SA_PROTOCOL, value: done.trained.protocol },
          ],
        }
      : {}),
  });
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
