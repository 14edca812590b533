import { isFeatureShardFile, isVscShardFile, listingPrefix, modelKeys, modelPrefix } from '../../schemas/layout.ts';
import type { ManifestDataset } from '../../schemas/manifest.ts';
import { OnnxRuntimeSettingsSchema, type OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import {
  FoldTrainResultSchema,
  TrainParamsSchema,
  type FoldTrainResult,
  type InferenceRecipe,
  type ResolvedVariant,
  type TrainParams,
  type TrainParamsInput,
} from '../../schemas/train.ts';
import { cudaLibrariesMissing } from '../common/cuda.ts';
import { storedVscParams } from '../compress/key.ts';
import type { StepContext } from '../common/context.ts';
import { contentKey } from '../common/hash.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../model/checkpoint.ts';
import { defaultOptimizerConfig, presetModelConfig, type TrainerConfig } from '../model/config.ts';
import { classificationMetrics } from '../model/metrics.ts';
import { predict } from '../model/predict.ts';
import { train, TrainingDivergedError } from '../model/trainer.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { loadFeatureSets, type FeatureSources, type ShardRef } from './dataset.ts';
import { divergedError, divergenceRecord, readDivergence, writeDivergence } from './divergence.ts';
import { lossConfigFor } from './loss.ts';
import { predictionsToParquet } from './predictions.ts';
import { readSplitPlan } from './plan.ts';
import { checkModalityVariance } from './variance.ts';
import { readStoredJson } from '../common/stored-json.ts';

/** Bumped whenever the same inputs and configuration would train different weights. */
export const TRAIN_CODE_VERSION = 1;

/** Where a variant's features live: store prefixes, never file lists (they stay out of histories). */
export interface TrainFeatureRefs {
  /** `features/text/<key>`: pooled text vectors in `shards/<shard>/features.parquet`. */
  text: { prefix: string; dim: number };
  audio: { prefix: string; dim: number };
  /** `visual-vsc/<vscKey>`: the compress output this variant reads (with or without VSC). */
  visual: { prefix: string; dim: number; frames: number };
}

export interface TrainFoldInput {
  store: StoreSpec;
  dataset: ManifestDataset;
  splitsKey: string;
  foldIndex: number;
  variant: ResolvedVariant;
  params: TrainParams | TrainParamsInput;
  features: TrainFeatureRefs;
  /** Goes into the exported model's metadata (`mer_inference`); not part of the key (the feature keys already are). */
  inference?: InferenceRecipe;
  /** One of `train.seeds` (absent: `params.seed`); trains exactly as `params.seed` set to it, same key. */
  seed?: number;
}

export type TrainFoldResult = FoldTrainResult & { skipped: boolean };

/** Details of a training heartbeat; a retry resumes from `checkpointKey` (or a newer stored one). */
export interface TrainHeartbeat extends Record<string, unknown> {
  phase: 'load' | 'train' | 'export';
  trainKey: string;
  epoch?: number;
  step?: number;
  checkpointKey?: string;
}

/**
 * The trainer configuration of a variant on a fold (model-spec sections 3-5): `classes` is the label
 * set, `trainLabels` the fold's training labels (`train.loss.classWeights: inverse-frequency` is
 * computed from them).
 */
export function trainerConfigFor(
  input: Pick<TrainFoldInput, 'dataset' | 'variant' | 'params' | 'features' | 'seed'>,
  classes: readonly string[],
  trainLabels: ArrayLike<number>,
): TrainerConfig {
  const numClasses = classes.length;
  const p = TrainParamsSchema.parse(input.params);
  const f = input.features;
  const model = presetModelConfig(
    p.preset,
    { text: f.text.dim, audio: f.audio.dim, visual: f.visual.dim, frames: f.visual.frames },
    numClasses,
    {
      dataset: input.dataset,
      modalities: input.variant.modalities,
      summary: p.summary,
    },
  );
  const optimizer = {
    ...defaultOptimizerConfig(input.dataset),
    ...(p.lr !== undefined ? { lr: p.lr } : {}),
    ...(input.variant.lr !== undefined ? { lr: input.variant.lr } : {}),
    weightDecay: p.weightDecay,
  };
  return {
    model,
    loss: lossConfigFor(p, input.variant, classes, trainLabels),
    optimizer: p.clipGradNorm !== undefined ? { ...optimizer, clipGradNorm: p.clipGradNorm } : optimizer,
    batchSize: p.batchSize,
    maxEpochs: p.maxEpochs,
    patience: p.patience,
    seed: input.seed ?? p.seed,
    checkpointEverySteps: p.checkpointEverySteps,
  };
}

/**
 * Content address of one fold's training: the split plan and fold, the features the variant reads
 * (their prefixes are content addresses themselves) and the trainer configuration. The checkpoint
 * interval is left out: it changes no weight.
 */
export function trainKeyFor(
  input: Pick<TrainFoldInput, 'splitsKey' | 'variant' | 'features'>,
  foldName: string,
  cfg: TrainerConfig,
): string {
  const m = input.variant.modalities;
  return contentKey({
    stage: 'train/fold',
    code: TRAIN_CODE_VERSION,
    splits: input.splitsKey,
    fold: foldName,
    features: {
      ...(m.includes('t') ? { t: input.features.text.prefix } : {}),
      ...(m.includes('a') ? { a: input.features.audio.prefix } : {}),
      ...(m.includes('v') ? { v: input.features.visual.prefix } : {}),
    },
    trainer: { ...cfg, checkpointEverySteps: undefined },
  });
}

export async function listShards(
  store: ObjectStore,
  prefix: string,
  isShard: (prefix: string, key: string) => boolean,
): Promise<ShardRef[]> {
  const listed = await store.list(listingPrefix(prefix));
  return listed
    .map((o) => o.key)
    .filter((k) => isShard(prefix, k))
    .sort()
    .map((key) => ({ key }));
}

/** Stored checkpoints of a training, newest first (step numbers are zero-padded: names sort). */
async function checkpointsNewestFirst(store: ObjectStore, trainKey: string): Promise<string[]> {
  const keys = modelKeys(trainKey);
  return (await store.list(keys.checkpoints))
    .map((o) => o.key)
    .filter((k) => k.endsWith('.ckpt'))
    .sort()
    .reverse();
}

/**
 * Trains one variant on one fold (on a `mer-gpu` worker): loads the fold's partitions by streaming
 * feature shards, trains with a checkpoint every `checkpointEverySteps` steps and every epoch end
 * (each one's key goes into a heartbeat), and on a retry resumes from the newest readable checkpoint
 * instead of epoch 0. Then exports the selected weights as a standalone ONNX model, predicts the
 * test split and commits everything under `models/<trainKey>/`. A committed training is returned
 * as it is: a rerun trains nothing.
 */
export async function trainFoldStep(
  input: TrainFoldInput,
  ctx: StepContext,
  runtime: Partial<OnnxRuntimeSettings> = {},
): Promise<TrainFoldResult> {
  const started = performance.now();
  const rt = OnnxRuntimeSettingsSchema.parse(runtime);
  const store = createStore(input.store);
  const plan = await readSplitPlan(store, input.splitsKey);
  const fold = plan.folds[input.foldIndex];
  if (!fold)
    throw new Error(
      `train: split plan ${input.splitsKey} has no fold ${input.foldIndex} (it has ${plan.folds.length})`,
    );
  const cfg = trainerConfigFor(input, plan.classes, fold.train.labels);
  const trainKey = trainKeyFor(input, fold.name, cfg);
  const keys = modelKeys(trainKey);
  const done = await store.committed(modelPrefix(trainKey));
  // A variant that differs only by name (a deliberate duplicate) shares the key: the stored result is
  // returned under the name asked for, so each variant gets its own rows.
  if (done)
    return {
      ...(await readStoredJson(store, keys.result, FoldTrainResultSchema)),
      variant: input.variant.name,
      seed: cfg.seed,
      skipped: true,
    };
  // These settings diverged before: the same key would again (divergence.ts), so fail without training.
  const diverged = await readDivergence(store, trainKey);
  if (diverged) throw divergedError(diverged);

  const beat = (d: Omit<TrainHeartbeat, 'trainKey'>) => ctx.heartbeat({ trainKey, ...d });
  beat({ phase: 'load' });
  const m = input.variant.modalities;
  const sources: FeatureSources = {
    ...(m.includes('t') ? { text: await listShards(store, input.features.text.prefix, isFeatureShardFile) } : {}),
    ...(m.includes('a') ? { audio: await listShards(store, input.features.audio.prefix, isFeatureShardFile) } : {}),
    ...(m.includes('v') ? { visual: await listShards(store, input.features.visual.prefix, isVscShardFile) } : {}),
  };
  const loaded = await loadFeatureSets(
    store,
    sources,
    { train: fold.train, validation: fold.validation, test: fold.test },
    {
      signal: ctx.signal,
      onShard: (s) => beat({ phase: 'load', ...s }),
    },
  );
  const { train: trainSet, validation, test } = loaded.sets;
  const f = input.features;
  const variance = checkModalityVariance(trainSet, m, {
    text: f.text.dim,
    audio: f.audio.dim,
    visual: f.visual.dim,
    frames: f.visual.frames,
  });

  // Resume: the newest checkpoint in the store that decodes. Heartbeats announce checkpoint keys for
  // the UI, but the store decides: it may hold a newer one written just before the worker died.
  let resumeFrom: Uint8Array | undefined;
  let resumedFromStep = 0;
  let latest: string | undefined;
  // A final checkpoint means training finished and only the export was lost: nothing is retrained.
  const candidates = [
    ...((await store.exists(keys.final)) ? [keys.final] : []),
    ...(await checkpointsNewestFirst(store, trainKey)),
  ];
  for (const key of candidates) {
    try {
      const bytes = await store.get(key);
      resumedFromStep = decodeCheckpoint(bytes).header.progress.step;
      resumeFrom = bytes;
      latest = key;
      break;
    } catch {
      // A torn or foreign checkpoint: fall back to an older one.
    }
  }

  let device: 'cpu' | 'cuda' = rt.device;
  if (device === 'cuda') {
    const why = cudaLibrariesMissing();
    if (why) {
      process.emitWarning(`the CUDA execution provider is not installed (${why}); training on the CPU`, {
        code: 'MER_CUDA_FALLBACK',
      });
      device = 'cpu';
    }
  }
  const result = await train({ train: trainSet, ...(validation.n > 0 ? { validation } : {}) }, cfg, {
    runtime: {
      executionProvider: device,
      deviceId: rt.deviceId,
      ...(rt.threads > 0 ? { threads: rt.threads } : {}),
      optimizationLevel: rt.graphOptimization,
    },
    ...(resumeFrom ? { resumeFrom } : {}),
    signal: ctx.signal,
    onStep: (s) =>
      beat({
        phase: 'train',
        epoch: s.epoch,
        step: s.step,
        batch: s.batch,
        batches: s.batches,
        loss: s.loss,
        checkpointKey: latest,
      }),
    onCheckpoint: async (bytes, info) => {
      const key = info.final ? keys.final : keys.checkpoint(info.step);
      await store.put(key, bytes);
      // Older checkpoints are superseded once the new one is stored: at most one or two exist at a time.
      for (const old of await checkpointsNewestFirst(store, trainKey)) if (old !== key) await store.delete(old);
      latest = key;
      beat({ phase: 'train', epoch: info.epoch, step: info.step, checkpointKey: key });
    },
  }).catch(async (err: unknown) => {
    if (!(err instanceof TrainingDivergedError)) throw err;
    const record = divergenceRecord(
      err,
      { trainKey, dataset: input.dataset, variant: input.variant.name, fold: fold.name },
      cfg,
      input.variant.lr !== undefined ? 'variant' : 'train',
    );
    await writeDivergence(store, record);
    // Checkpoints before the divergence would only resume into it again.
    for (const old of await checkpointsNewestFirst(store, trainKey)) await store.delete(old);
    throw divergedError(record);
  });

  beat({ phase: 'export', checkpointKey: keys.final });
  const finalCk = decodeCheckpoint(await store.get(keys.final));
  const shapes = new Map(finalCk.header.tensors.map((t) => [`${t.group}/${t.name}`, t.shape]));
  const { format: _f, version: _v, tensors: _t, rng: _r, ...meta } = finalCk.header;
  const weights = encodeCheckpoint(
    meta,
    { params: result.weights.params, buffers: result.weights.buffers },
    {
      shapeOf: (group, name) => shapes.get(`${group}/${name}`) ?? shapes.get(`params/${name}`) ?? [],
    },
  );
  const onnx = result.exportInference({
    classes: plan.classes.join(','),
    dataset: input.dataset,
    fold: fold.name,
    variant: input.variant.name,
    trainKey,
    // The VSC recipe without its run settings (chunkUtterances): the model's bytes depend on its key only.
    ...(input.inference
      ? {
          mer_inference: JSON.stringify({
            ...input.inference,
            vsc: storedVscParams(input.inference.vsc),
            classes: plan.classes,
          }),
        }
      : {}),
  });
  const predicted = await predict(onnx, test, {
    executionProvider: device,
    ...(rt.threads > 0 ? { threads: rt.threads } : {}),
  });
  const testMetrics = classificationMetrics(test.labels, predicted.predicted, plan.classes.length);
  const bestRecord = result.best ? result.history[result.best.epoch] : undefined;

  const summary: FoldTrainResult = {
    trainKey,
    dataset: input.dataset,
    variant: input.variant.name,
    modalities: [...input.variant.modalities],
    vsc: input.variant.vsc,
    contrastive: input.variant.contrastive,
    fold: fold.name,
    foldIndex: fold.index,
    seed: cfg.seed,
    testGroup: fold.testGroup,
    classes: plan.classes,
    optimistic: fold.optimistic,
    bestEpoch: result.best?.epoch ?? null,
    validation: bestRecord?.validation ?? null,
    test: {
      accuracy: testMetrics.accuracy,
      weightedF1: testMetrics.weightedF1,
      macroF1: testMetrics.macroF1,
      n: testMetrics.n,
    },
    epochs: result.history.length,
    steps: result.steps,
    stoppedEarly: result.stoppedEarly,
    resumedFromStep,
    seconds: (performance.now() - started) / 1000,
    executionProvider: device,
    // ONNX Runtime's reductions depend on the thread count: a resume is bit-exact only with the same one.
    threads: rt.threads,
    modalityVariance: variance.modalityVariance,
    warnings: variance.warnings,
    keys: {
      onnx: keys.onnx,
      weights: keys.weights,
      final: keys.final,
      history: keys.history,
      predictions: keys.predictions,
    },
  };
  await store.put(keys.weights, weights);
  await store.put(keys.onnx, onnx);
  await store.put(
    keys.history,
    JSON.stringify(
      { trainKey, variant: input.variant.name, fold: fold.name, best: result.best, history: result.history },
      null,
      2,
    ),
  );
  await store.put(
    keys.predictions,
    predictionsToParquet(
      {
        utteranceIds: fold.test.utteranceIds,
        fold: fold.name,
        labels: test.labels,
        predicted: predicted.predicted,
        probabilities: predicted.probabilities,
        classes: plan.classes,
      },
      { 'mer.trainKey': trainKey, 'mer.variant': input.variant.name },
    ),
  );
  await store.put(keys.result, JSON.stringify(summary, null, 2));
  await store.commit(modelPrefix(trainKey), {
    stage: 'train/fold',
    summary: {
      variant: summary.variant,
      fold: summary.fold,
      bestEpoch: summary.bestEpoch,
      test: summary.test,
      steps: summary.steps,
      resumedFromStep,
    },
  });
  // The final checkpoint stays (continued training needs its optimiser state); mid-run ones go.
  for (const old of await checkpointsNewestFirst(store, trainKey)) await store.delete(old);
  return { ...summary, skipped: false };
}
