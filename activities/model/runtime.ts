/**
 * Sessions for the training-step and eval graphs. The model state lives as onnxruntime tensors:
 * each step's outputs are fed straight back as the next step's inputs, so parameters and Adam
 * moments are never copied on the JavaScript side between steps.
 */
import type { FloatType } from '../engine/graph.ts';
import { floatData, openSession, tensor } from '../engine/session.ts';
import type { Feeds, ort, RuntimeOptions } from '../engine/session.ts';
import type { LossConfig, ModelConfig, OptimizerConfig } from './config.ts';
import { bufferInput, paramInput } from './context.ts';
import type { FloatArray, TensorSpec } from './context.ts';
import { adamScalars } from './adam.ts';
import { featureFeeds, maskFeeds } from './feeds.ts';
import type { Batch } from './feeds.ts';
import { buildEvalGraph, buildTrainStepGraph, IO } from './graphs.ts';
import type { ModelLayout } from './graphs.ts';
import { checkAgainstLayout } from './state.ts';

export interface StepStats {
  readonly loss: number;
  readonly ce: number;
  readonly contrastive: number;
  readonly gradNorm: number;
  /** [n, C] logits of the step's forward pass (train mode: dropout on), for running training metrics. */
  readonly logits: FloatArray;
}

/** Host copy of the full optimiser state. */
export interface TrainingTensors {
  readonly params: Map<string, FloatArray>;
  readonly buffers: Map<string, FloatArray>;
  readonly adamM: Map<string, FloatArray>;
  readonly adamV: Map<string, FloatArray>;
}

type Group = 'params' | 'buffers' | 'adamM' | 'adamV';

const groupInput: Record<Group, (name: string) => string> = {
  params: paramInput,
  buffers: bufferInput,
  adamM: IO.adamM,
  adamV: IO.adamV,
};

export class TrainStepRunner {
  private readonly state = new Map<string, ort.Tensor>();

  private constructor(
    readonly model: ModelConfig,
    readonly optimizer: OptimizerConfig,
    readonly layout: ModelLayout,
    readonly dtype: FloatType,
    private readonly session: ort.InferenceSession,
    /** Matrix-product FLOPs of one step as a function of the batch size. */
    readonly flopsPerStep: (batch: number) => number,
  ) {}

  static async create(
    model: ModelConfig,
    loss: LossConfig,
    optimizer: OptimizerConfig,
    runtime: RuntimeOptions = {},
    dtype: FloatType = 'float32',
  ): Promise<TrainStepRunner> {
    const built = buildTrainStepGraph(model, loss, optimizer, dtype);
    const session = await openSession(built.serialize(), runtime);
    return new TrainStepRunner(model, optimizer, built.layout, dtype, session, (n) => built.graph.totalFlops({ N: n }));
  }

  private specs(group: Group): readonly TensorSpec[] {
    return group === 'buffers' ? this.layout.buffers : this.layout.params;
  }

  /** Loads a full state; missing Adam moments start at zero (a fresh optimiser). */
  load(tensors: {
    params: ReadonlyMap<string, FloatArray>;
    buffers: ReadonlyMap<string, FloatArray>;
    adamM?: ReadonlyMap<string, FloatArray>;
    adamV?: ReadonlyMap<string, FloatArray>;
  }): void {
    checkAgainstLayout('params', this.layout.params, tensors.params);
    checkAgainstLayout('buffers', this.layout.buffers, tensors.buffers);
    for (const group of ['params', 'buffers', 'adamM', 'adamV'] as const) {
      const values = tensors[group];
      if (values) checkAgainstLayout(group, this.specs(group), values);
      for (const spec of this.specs(group)) {
        const src = values?.get(spec.name);
        const data = this.dtype === 'float64' ? new Float64Array(sizeOf(spec)) : new Float32Array(sizeOf(spec));
        if (src) data.set(src);
        this.state.set(groupInput[group](spec.name), tensor(this.dtype, data, spec.shape));
      }
    }
  }

  /** One optimiser step (1-based `step` drives Adam's bias correction). */
  async step(
    batch: Batch,
    masks: ReadonlyMap<string, Uint8Array>,
    step: number,
    lr = this.optimizer.lr,
  ): Promise<StepStats> {
    if (this.state.size === 0) throw new Error('runtime: load a state before stepping');
    const s = adamScalars(this.optimizer, step, lr);
    const feeds: Feeds = {
      ...featureFeeds(this.model, batch, this.dtype),
      ...maskFeeds(this.layout.masks, batch.n, masks),
      [IO.updateScale]: tensor(this.dtype, this.scalar(s.updateScale), []),
      [IO.epsHat]: tensor(this.dtype, this.scalar(s.epsHat), []),
      [IO.decay]: tensor(this.dtype, this.scalar(s.decay), []),
    };
    for (const [name, t] of this.state) feeds[name] = t;
    const out = await this.session.run(feeds);
    for (const name of this.state.keys()) {
      const next = out[IO.updated(name)];
      if (next) this.state.set(name, next);
    }
    const read = (k: string): number => floatData(out[k])[0];
    return {
      loss: read(IO.loss),
      ce: read(IO.lossCe),
      contrastive: read(IO.lossCon),
      gradNorm: read(IO.gradNorm),
      logits: floatData(out[IO.logits]),
    };
  }

  private scalar(v: number): FloatArray {
    return this.dtype === 'float64' ? Float64Array.of(v) : Float32Array.of(v);
  }

  /** Current parameters and buffers as onnxruntime tensors (no copy), keyed by graph input name. */
  weightFeeds(): Feeds {
    const feeds: Feeds = {};
    for (const spec of this.layout.params) feeds[paramInput(spec.name)] = this.state.get(paramInput(spec.name))!;
    for (const spec of this.layout.buffers) feeds[bufferInput(spec.name)] = this.state.get(bufferInput(spec.name))!;
    return feeds;
  }

  /** Copies the state out (for checkpoints and the best-model snapshot). */
  snapshot(): TrainingTensors {
    const take = (group: Group): Map<string, FloatArray> =>
      new Map(
        this.specs(group).map((spec) => [spec.name, floatData(this.state.get(groupInput[group](spec.name))!).slice()]),
      );
    return { params: take('params'), buffers: take('buffers'), adamM: take('adamM'), adamV: take('adamV') };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export class Evaluator {
  private constructor(
    readonly model: ModelConfig,
    readonly dtype: FloatType,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(
    model: ModelConfig,
    runtime: RuntimeOptions = {},
    dtype: FloatType = 'float32',
  ): Promise<Evaluator> {
    const built = buildEvalGraph(model, dtype);
    return new Evaluator(model, dtype, await openSession(built.serialize(), runtime));
  }

  /** Eval-mode logits [n, C] of one batch with the given weights (graph-input feeds). */
  async logits(batch: Batch, weights: Feeds): Promise<FloatArray> {
    const { labels: _unused, ...features } = batch;
    const out = await this.session.run({ ...featureFeeds(this.model, features, this.dtype), ...weights });
    return floatData(out[IO.logits]);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function sizeOf(spec: TensorSpec): number {
  return spec.shape.reduce((p, d) => p * d, 1);
}
