/**
 * The training loop: shuffled mini-batches, one fused ONNX step per batch, validation weighted F1
 * after every epoch, early stopping, checkpoints as bytes, exact resume.
 *
 * Exactness of resume rests on three things: every random draw is a pure function of (seed,
 * epoch) or (seed, step) (see rng.ts); the checkpoint stores the complete optimiser state in the
 * precision it is computed in (float32) plus the partial-epoch sums; and onnxruntime's CPU kernels
 * are deterministic for a fixed graph and thread count. A resumed run therefore replays the same
 * batches, masks and arithmetic and ends with bit-identical weights.
 */
import type { RuntimeOptions } from '../engine/session.ts';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.ts';
import type { Accumulator, CheckpointMeta, EpochRecord, TensorGroup, TensorGroups } from './checkpoint.ts';
import { TrainerConfigSchema } from './config.ts';
import type { TrainerConfig } from './config.ts';
import type { FloatArray } from './context.ts';
import { dataFingerprint, gatherBatch, validateFeatureSet } from './data.ts';
import type { FeatureSet } from './data.ts';
import { stepMasks } from './feeds.ts';
import { buildInferenceGraph } from './graphs.ts';
import type { ModelLayout } from './graphs.ts';
import { argmaxRows, classificationMetrics } from './metrics.ts';
import type { ClassificationMetrics } from './metrics.ts';
import { Rng, Stream } from './rng.ts';
import { Evaluator, TrainStepRunner } from './runtime.ts';
import { initialWeights } from './state.ts';

export interface TrainData {
  readonly train: FeatureSet;
  /** Model selection and early stopping use this split; without it the last epoch is kept. */
  readonly validation?: FeatureSet;
}

export interface CheckpointInfo {
  readonly epoch: number;
  readonly step: number;
  /** True for the checkpoint written when training has finished. */
  readonly final: boolean;
}

export interface StepInfo {
  readonly epoch: number;
  /** Batch index within the epoch (0-based) and batches per epoch. */
  readonly batch: number;
  readonly batches: number;
  /** Optimiser steps taken so far, this one included. */
  readonly step: number;
  readonly loss: number;
}

export interface TrainOptions {
  readonly runtime?: RuntimeOptions;
  /** Bytes of a checkpoint written by a run with the same configuration. */
  readonly resumeFrom?: Uint8Array;
  readonly onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /** After every optimiser step (e.g. to heartbeat a long epoch); awaited. */
  readonly onStep?: (info: StepInfo) => void | Promise<void>;
  /** Called at every epoch end (and every `checkpointEverySteps` steps); awaited before going on. */
  readonly onCheckpoint?: (bytes: Uint8Array, info: CheckpointInfo) => void | Promise<void>;
  /** Checked between steps; an aborted run throws the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * The loss became non-finite (NaN or infinite): the weights are lost from this step on. Thrown before
 * the step is counted, so nothing after it (step callback, checkpoint) sees the broken weights.
 */
export class TrainingDivergedError extends Error {
  constructor(
    /** 0-based epoch and the 1-based optimiser step whose loss was non-finite. */
    readonly epoch: number,
    readonly step: number,
    readonly loss: number,
  ) {
    super(
      `trainer: loss became ${loss} at step ${step} (epoch ${epoch}); lower the learning rate or enable gradient clipping`,
    );
    this.name = 'TrainingDivergedError';
  }
}

export interface ModelWeights {
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly buffers: ReadonlyMap<string, Float32Array>;
}

export interface TrainResult {
  readonly config: TrainerConfig;
  readonly layout: ModelLayout;
  readonly history: readonly EpochRecord[];
  /** Epoch (0-based) and validation weighted F1 of the selected weights; null without validation. */
  readonly best: { readonly epoch: number; readonly weightedF1: number } | null;
  /** Selected weights: the best validation epoch, else the last one. */
  readonly weights: ModelWeights;
  /** Weights after the last step taken. */
  readonly lastWeights: ModelWeights;
  readonly steps: number;
  readonly stoppedEarly: boolean;
  /** Standalone ONNX inference model of the selected weights (see buildInferenceGraph). */
  exportInference(metadata?: Record<string, string>): Uint8Array;
}

const EMPTY_ACCUMULATOR: Accumulator = {
  steps: 0,
  samples: 0,
  loss: 0,
  ce: 0,
  contrastive: 0,
  gradNorm: 0,
  seconds: 0,
};

export function batchesPerEpoch(n: number, batchSize: number): number {
  const full = Math.floor(n / batchSize);
  // a trailing single sample cannot be batch-normalised (zero variance; PyTorch raises)
  return n % batchSize >= 2 ? full + 1 : full;
}

export async function train(data: TrainData, config: TrainerConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const cfg = TrainerConfigSchema.parse(config);
  validateFeatureSet('train', data.train, cfg.model);
  if (data.validation) validateFeatureSet('validation', data.validation, cfg.model);
  if (batchesPerEpoch(data.train.n, cfg.batchSize) === 0)
    throw new Error('trainer: the training set needs at least two samples');

  const fingerprint = dataFingerprint(data.validation ? [data.train, data.validation] : [data.train]);
  const runner = await TrainStepRunner.create(cfg.model, cfg.loss, cfg.optimizer, options.runtime);
  const evaluator = data.validation ? await Evaluator.create(cfg.model, options.runtime) : null;
  try {
    const layout = runner.layout;
    let meta: CheckpointMeta;
    let best: { params: Map<string, FloatArray>; buffers: Map<string, FloatArray> } | null = null;
    if (options.resumeFrom) {
      const ck = decodeCheckpoint(options.resumeFrom);
      // How often checkpoints are written changes no weight: a resume may use another interval.
      const comparable = (c: TrainerConfig) => stableJson({ ...c, checkpointEverySteps: 0 });
      if (comparable(ck.header.config) !== comparable(cfg)) {
        throw new Error(
          'trainer: the checkpoint was written with a different configuration; exact resume needs the same one',
        );
      }
      if (ck.header.data !== fingerprint)
        throw new Error('trainer: the checkpoint was written for different training or validation features');
      runner.load(ck.tensors);
      if (ck.header.best) best = { params: ck.tensors.bestParams, buffers: ck.tensors.bestBuffers };
      const { format: _f, version: _v, tensors: _t, rng: _r, ...rest } = ck.header;
      meta = rest;
    } else {
      runner.load(initialWeights(layout, cfg.seed));
      meta = {
        config: cfg,
        data: fingerprint,
        progress: { epoch: 0, batchInEpoch: 0, step: 0, finished: false },
        accumulator: EMPTY_ACCUMULATOR,
        history: [],
        best: null,
        badEpochs: 0,
      };
    }

    const emit = async (final: boolean): Promise<void> => {
      if (!options.onCheckpoint) return;
      const full = runner.snapshot();
      const groups: TensorGroups = { params: full.params, buffers: full.buffers, adamM: full.adamM, adamV: full.adamV };
      if (best) Object.assign(groups, { bestParams: best.params, bestBuffers: best.buffers });
      const bytes = encodeCheckpoint(meta, groups, { shapeOf: (group, name) => shapeIn(layout, group, name) });
      await options.onCheckpoint(bytes, { epoch: meta.progress.epoch, step: meta.progress.step, final });
    };

    const n = data.train.n;
    const nBatches = batchesPerEpoch(n, cfg.batchSize);
    while (!meta.progress.finished) {
      const epoch = meta.progress.epoch;
      const order = new Rng(cfg.seed, Stream.Shuffle, epoch).permutation(n);
      let acc = meta.accumulator;
      for (let b = meta.progress.batchInEpoch; b < nBatches; b++) {
        options.signal?.throwIfAborted();
        const started = performance.now();
        const rows = order.subarray(b * cfg.batchSize, Math.min(n, (b + 1) * cfg.batchSize));
        const batch = gatherBatch(data.train, cfg.model, rows);
        const step = meta.progress.step + 1;
        const stats = await runner.step(batch, stepMasks(layout.masks, batch.n, cfg.seed, step), step);
        if (!Number.isFinite(stats.loss)) throw new TrainingDivergedError(epoch, step, stats.loss);
        const confusion = addToConfusion(
          acc.confusion,
          cfg.model.numClasses,
          batch.labels!,
          argmaxRows(stats.logits, cfg.model.numClasses),
        );
        acc = {
          steps: acc.steps + 1,
          samples: acc.samples + batch.n,
          loss: acc.loss + stats.loss * batch.n,
          ce: acc.ce + stats.ce * batch.n,
          contrastive: acc.contrastive + stats.contrastive * batch.n,
          gradNorm: acc.gradNorm + stats.gradNorm,
          seconds: acc.seconds + (performance.now() - started) / 1000,
          // Last: the checkpoint header is compared byte for byte after a schema round trip.
          confusion,
        };
        meta = { ...meta, accumulator: acc, progress: { ...meta.progress, step, batchInEpoch: b + 1 } };
        await options.onStep?.({ epoch, batch: b, batches: nBatches, step, loss: stats.loss });
        if (cfg.checkpointEverySteps > 0 && step % cfg.checkpointEverySteps === 0 && b + 1 < nBatches)
          await emit(false);
      }

      const validation = evaluator && data.validation ? await evaluate(evaluator, runner, data.validation, cfg) : null;
      const improved = validation ? validation.weightedF1 > (meta.best?.weightedF1 ?? -Infinity) : true;
      if (validation && improved) {
        const snap = runner.snapshot();
        best = { params: snap.params, buffers: snap.buffers };
      }
      const badEpochs = improved ? 0 : meta.badEpochs + 1;
      const record: EpochRecord = {
        epoch,
        steps: acc.steps,
        samples: acc.samples,
        loss: acc.loss / acc.samples,
        ce: acc.ce / acc.samples,
        contrastive: acc.contrastive / acc.samples,
        gradNorm: acc.gradNorm / acc.steps,
        validation: validation
          ? {
              accuracy: validation.accuracy,
              weightedF1: validation.weightedF1,
              macroF1: validation.macroF1,
              n: validation.n,
            }
          : null,
        train: acc.confusion ? confusionSummary(acc.confusion) : null,
        improved,
        seconds: acc.seconds,
      };
      const stop = epoch + 1 >= cfg.maxEpochs || (validation !== null && badEpochs >= cfg.patience);
      meta = {
        ...meta,
        history: [...meta.history, record],
        best: validation && improved ? { epoch, weightedF1: validation.weightedF1 } : meta.best,
        badEpochs,
        accumulator: EMPTY_ACCUMULATOR,
        progress: { epoch: epoch + 1, batchInEpoch: 0, step: meta.progress.step, finished: stop },
      };
      await options.onEpoch?.(record);
      await emit(stop);
    }

    const last = runner.snapshot();
    const toF32 = (m: ReadonlyMap<string, FloatArray>): Map<string, Float32Array> =>
      new Map([...m].map(([k, v]) => [k, v instanceof Float32Array ? v : Float32Array.from(v)]));
    const lastWeights = { params: toF32(last.params), buffers: toF32(last.buffers) };
    const weights = best && meta.best ? { params: toF32(best.params), buffers: toF32(best.buffers) } : lastWeights;
    const lastRecord = meta.history[meta.history.length - 1];
    return {
      config: cfg,
      layout,
      history: meta.history,
      best: meta.best,
      weights,
      lastWeights,
      steps: meta.progress.step,
      stoppedEarly: lastRecord !== undefined && lastRecord.epoch + 1 < cfg.maxEpochs,
      exportInference: (metadata = {}) =>
        buildInferenceGraph(cfg.model, new Map([...weights.params, ...weights.buffers]), {
          best_epoch: String(meta.best?.epoch ?? lastRecord?.epoch ?? -1),
          ...metadata,
        }).serialize(),
    };
  } finally {
    await runner.release();
    await evaluator?.release();
  }
}

/** Eval-mode metrics of the runner's current weights on a feature set. */
export async function evaluate(
  evaluator: Evaluator,
  runner: TrainStepRunner,
  set: FeatureSet,
  cfg: TrainerConfig,
  chunk = 256,
): Promise<ClassificationMetrics> {
  const weights = runner.weightFeeds();
  const predictions = new Int32Array(set.n);
  for (let start = 0; start < set.n; start += chunk) {
    const rows = Int32Array.from({ length: Math.min(chunk, set.n - start) }, (_, i) => start + i);
    const logits = await evaluator.logits(gatherBatch(set, cfg.model, rows, false), weights);
    predictions.set(argmaxRows(logits, cfg.model.numClasses), start);
  }
  return classificationMetrics(set.labels, predictions, cfg.model.numClasses);
}

function shapeIn(layout: ModelLayout, group: TensorGroup, name: string): readonly number[] {
  const specs = group === 'buffers' || group === 'bestBuffers' ? layout.buffers : layout.params;
  const spec = specs.find((s) => s.name === name);
  if (!spec) throw new Error(`trainer: no tensor ${name} in the layout`);
  return spec.shape;
}

/** JSON with sorted keys, so configurations compare by content. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function addToConfusion(
  prev: readonly (readonly number[])[] | undefined,
  classes: number,
  labels: BigInt64Array,
  predicted: Int32Array,
): number[][] {
  const m = prev ? prev.map((r) => [...r]) : Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) m[Number(labels[i])][predicted[i]]++;
  return m;
}

/** Accuracy and F1 of a confusion matrix, through the one metrics implementation. */
function confusionSummary(confusion: readonly (readonly number[])[]): {
  accuracy: number;
  weightedF1: number;
  macroF1: number;
  n: number;
} {
  const labels: number[] = [];
  const predicted: number[] = [];
  confusion.forEach((row, t) =>
    row.forEach((count, p) => {
      for (let k = 0; k < count; k++) {
        labels.push(t);
        predicted.push(p);
      }
    }),
  );
  const m = classificationMetrics(labels, predicted, confusion.length);
  return { accuracy: m.accuracy, weightedF1: m.weightedF1, macroF1: m.macroF1, n: m.n };
}
