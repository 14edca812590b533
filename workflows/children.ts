/**
 * How the pipeline starts each stage's child workflow for one dataset: its id, input, and what the
 * Temporal UI shows of it (summary, details, memo, search attributes). Large data never passes
 * through here: children get and return store keys and small summaries.
 *
 * Workflow code: each child's id and type are recorded in the pipeline's history; the ids derive
 * from the parent's (`<parent>/<stage>/<dataset>`), so a replay finds them again.
 */
import { ApplicationFailure, executeChild, ParentClosePolicy, type ChildWorkflowOptions } from '@temporalio/workflow';
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
} from '../schemas/config.ts';
import type { StageWithActivities } from '../schemas/error-types.ts';
import { trainSeeds } from '../schemas/train.ts';
import { AcquireDataset, describeSource } from './acquire.ts';
import { CompressDataset } from './compress.ts';
import { EvaluateDataset, type EvaluateDatasetInput } from './evaluate.ts';
import { ExtractDataset } from './extract.ts';
import { SegmentDataset } from './segment.ts';
import { TrainDataset } from './train.ts';
import { SA_CONFIG_HASH, SA_DATASET, SA_PROTOCOL, SA_STAGE } from './search-attributes.ts';
import { childWorkflowId, type ChildInput } from './stage.ts';

/** Where a dataset's stage children start from: the run's input, the dataset's plan, the parent's id. */
export interface ChildContext {
  input: PipelineInput;
  plan: DatasetPlan;
  me: string;
}

/**
 * The options of one stage child: on the cpu queue, cancelled with the parent, its input being the
 * stage's own fields followed by the common ones, and the UI's summary, details, memo and search
 * attributes (the protocol too, for the stages that have one).
 */
function childOptions<A extends object>(
  { input, plan, me }: ChildContext,
  stage: StageWithActivities,
  o: { args: A; summary: string; details: string; protocol?: string },
): Omit<ChildWorkflowOptions, 'typeInfo'> & { workflowId: string; args: [A & Required<ChildInput>] } {
  const { dataset } = plan;
  const protocol = o.protocol === undefined ? {} : { protocol: o.protocol };
  return {
    workflowId: childWorkflowId(me, stage, dataset),
    taskQueue: input.temporal.taskQueues.cpu,
    args: [{ ...o.args, temporal: input.temporal, parentWorkflowId: me, searchAttributes: input.searchAttributes }],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: o.summary,
    staticDetails: o.details,
    memo: { dataset, stage, configHash: input.configHash, ...protocol },
    ...(input.searchAttributes
      ? {
          typedSearchAttributes: [
            { key: SA_DATASET, value: [dataset] },
            { key: SA_STAGE, value: stage },
            { key: SA_CONFIG_HASH, value: input.configHash },
            ...(o.protocol === undefined ? [] : [{ key: SA_PROTOCOL, value: o.protocol }]),
          ] as SearchAttributePair[],
        }
      : {}),
  };
}

/** A stage's parameters; their absence is a config error (`message`), not something a retry fixes. */
function required<T extends object>(params: T | undefined, message: string): T {
  if (!params) throw ApplicationFailure.create({ type: 'MerConfigInvalid', message, nonRetryable: true });
  return params;
}

export function runAcquire(ctx: ChildContext): Promise<DatasetAcquireResult> {
  const { input, plan } = ctx;
  return executeChild(
    AcquireDataset,
    childOptions(ctx, 'acquire', {
      args: { plan, store: input.store, acquire: input.acquire },
      summary: `acquire ${plan.dataset} from ${describeSource(plan)}`,
      details: `Downloads (if a URL), safely extracts and parses **${plan.dataset}** into a \`${plan.labels}\` manifest.`,
    }),
  );
}

export function runSegment(ctx: ChildContext, acquired: DatasetAcquireResult): Promise<DatasetSegmentResult> {
  const { input, plan } = ctx;
  const segment = required(input.segment, 'segment stage requested without segment parameters');
  const sampling = segment.fps ? `${segment.fps} fps (at most ${segment.frames} frames)` : `${segment.frames} frames`;
  return executeChild(
    SegmentDataset,
    childOptions(ctx, 'segment', {
      args: { dataset: plan.dataset, acquired, store: input.store, segment },
      summary: `segment ${plan.dataset}: ${acquired.rows} utterances into 16 kHz audio and ${sampling}`,
      details:
        `Cuts every utterance of the **${plan.dataset}** manifest \`${acquired.manifestKey}\` into 16 kHz mono audio and ` +
        `${sampling} of 224x224 (${segment.aspect}), in shards of ${segment.shardSize}, ${segment.parallelism} at a time.`,
    }),
  );
}

export function runExtract(
  ctx: ChildContext,
  acquired: DatasetAcquireResult,
  segmented: DatasetSegmentResult,
): Promise<DatasetExtractResult> {
  const { input, plan } = ctx;
  const extract = required(input.extract, 'extract stage requested without extract parameters');
  return executeChild(
    ExtractDataset,
    childOptions(ctx, 'extract', {
      args: {
        dataset: plan.dataset,
        acquired,
        segmented,
        store: input.store,
        extract,
        parallelism: input.segment?.parallelism ?? 1,
      },
      summary: `extract ${plan.dataset}: text, audio and visual features of ${segmented.ok} utterances`,
      details:
        `Encodes the **${plan.dataset}** segments \`${segmented.prefix}\` (${segmented.shardKeys.length} shards) with frozen encoders on the gpu queue: ` +
        `text \`${extract.text.model}\`, audio \`${extract.audio.model}\`, visual \`${extract.visual.model}\`.`,
    }),
  );
}

export function runCompress(ctx: ChildContext, features: DatasetExtractResult): Promise<DatasetCompressResult> {
  const { input, plan } = ctx;
  const compress = required(
    input.compress?.settings.length ? input.compress : undefined,
    'compress stage requested without compress parameters',
  );
  const main = compress.settings[0];
  const what = compress.settings
    .map((p) =>
      p.enabled
        ? `VSC (top-${p.topK} tokens, ${p.maxFrames} frames, guidance ${p.guidance})`
        : `no VSC (${p.maxFrames} frames)`,
    )
    .join(' and ');
  return executeChild(
    CompressDataset,
    childOptions(ctx, 'compress', {
      args: {
        dataset: plan.dataset,
        features,
        store: input.store,
        settings: compress.settings,
        parallelism: input.segment?.parallelism ?? 1,
      },
      summary: `compress ${plan.dataset}: ${what} of ${features.modalities.visual.ok} visual sequences`,
      details:
        `Visual sequence compression of **${plan.dataset}** features \`${features.modalities.visual.featuresPrefix}\` on the cpu queue: ` +
        `${what}; merge mode ${main.mergeMode}, temporal threshold ${main.temporalThreshold}.`,
    }),
  );
}

export function runTrain(
  ctx: ChildContext,
  acquired: DatasetAcquireResult,
  features: DatasetExtractResult,
  compressed: DatasetCompressResult,
): Promise<DatasetTrainResult> {
  const { input, plan } = ctx;
  const train = required(input.train, 'train stage requested without train parameters');
  const protocol = train.params.splits[plan.dataset].protocol;
  const names = train.variants.map((v) => v.name).join(', ');
  return executeChild(
    TrainDataset,
    childOptions(ctx, 'train', {
      args: {
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
      },
      summary: `train ${plan.dataset}: ${train.params.preset} fusion model, ${protocol} protocol, ${train.variants.length} variant(s)`,
      details:
        `Trains the **${train.params.preset}** fusion model on every \`${protocol}\` fold of **${plan.dataset}** (\`${plan.labels}\`) on the gpu queue; ` +
        `variants: ${names}. Up to ${train.params.maxEpochs} epochs, batch ${train.params.batchSize}, ${train.params.seeds !== undefined ? `seeds ${trainSeeds(train.params).join(', ')}` : `seed ${train.params.seed}`}.`,
      protocol,
    }),
  );
}

export function runEvaluate(
  ctx: ChildContext,
  done: Pick<EvaluateDatasetInput, 'acquired' | 'segmented' | 'features' | 'compressed' | 'trained' | 'timings'>,
): Promise<DatasetEvaluateResult> {
  const { input, plan } = ctx;
  const train = required(input.train, 'evaluate stage requested without train parameters');
  return executeChild(
    EvaluateDataset,
    childOptions(ctx, 'evaluate', {
      args: {
        dataset: plan.dataset,
        configHash: input.configHash,
        labels: plan.labels,
        ...done,
        variants: train.variants,
        settings: { train: train.params, vsc: input.compress!.settings[0] },
        store: input.store,
      },
      summary: `evaluate ${plan.dataset}: ${done.trained.protocol} metrics, tables and figures of ${done.trained.runs.length} trainings`,
      details: `Per-fold and pooled metrics, the reference's per-class figures, confusion matrices, training curves and the ablation table of **${plan.dataset}**, written as metrics.json, report.md and report.html.`,
      protocol: done.trained.protocol,
    }),
  );
}
