/**
 * The ONNX graphs built from the fusion model:
 * - train step: forward (train mode), loss, gradients, Adam update and BatchNorm running
 *   statistics, all in one graph whose state (parameters, moments, buffers) goes in as inputs and
 *   comes out updated;
 * - gradient graph: forward + loss + gradients without the update (tests, parity checks);
 * - eval graph: eval-mode logits with parameters as inputs (validation during training);
 * - inference graph: eval-mode logits and probabilities with the weights as initializers, a
 *   standalone .onnx file.
 */
import { gradients } from '../engine/autodiff.ts';
import { Graph } from '../engine/graph.ts';
import type { FloatType, Value } from '../engine/graph.ts';
import { softmax } from '../engine/ops/index.ts';
import { serializeGraph } from '../engine/serialize.ts';
import { adamUpdate } from './adam.ts';
import type { LossConfig, ModelConfig, OptimizerConfig } from './config.ts';
import { BATCH, bufferInput, ModelContext, paramInput } from './context.ts';
import type { FloatArray, MaskSpec, TensorSpec } from './context.ts';
import { declareInputs, fusionForward } from './fusion.ts';
import { fusionLoss } from './loss.ts';

export const IO = {
  labels: 'labels',
  loss: 'loss',
  lossCe: 'loss_ce',
  lossCon: 'loss_con',
  logits: 'logits',
  probabilities: 'probabilities',
  gradNorm: 'grad_norm',
  updateScale: 'adam:update_scale',
  epsHat: 'adam:eps_hat',
  decay: 'adam:decay',
  adamM: (name: string): string => `adam_m:${name}`,
  adamV: (name: string): string => `adam_v:${name}`,
  grad: (name: string): string => `grad:${name}`,
  updated: (input: string): string => `new:${input}`,
} as const;

export interface ModelLayout {
  readonly params: readonly TensorSpec[];
  readonly buffers: readonly TensorSpec[];
  readonly masks: readonly MaskSpec[];
}

export interface BuiltGraph {
  readonly graph: Graph;
  readonly layout: ModelLayout;
  serialize(): Uint8Array;
}

function layoutOf(ctx: ModelContext): ModelLayout {
  return { params: [...ctx.params], buffers: [...ctx.buffers], masks: [...ctx.masks] };
}

function built(graph: Graph, ctx: ModelContext, metadata?: Record<string, string>): BuiltGraph {
  return {
    graph,
    layout: layoutOf(ctx),
    serialize: () => serializeGraph(graph, { graphName: 'deepmsi_fusion', metadata }),
  };
}

/** Parameter, buffer and dropout-site layout of a configuration (builds a throwaway graph). */
export function modelLayout(cfg: ModelConfig): ModelLayout {
  const g = new Graph('float32');
  const ctx = new ModelContext(g, 'train', { kind: 'inputs' });
  fusionForward(ctx, cfg, declareInputs(ctx, cfg));
  return layoutOf(ctx);
}

function forwardAndLoss(g: Graph, model: ModelConfig, loss: LossConfig) {
  const ctx = new ModelContext(g, 'train', { kind: 'inputs' });
  const inputs = declareInputs(ctx, model);
  const labels = g.input(IO.labels, 'int64', [BATCH]);
  const out = fusionForward(ctx, model, inputs);
  const losses = fusionLoss(out.logits, out.projections, labels, loss);
  const params = ctx.params.map((p) => ctx.paramValue(p.name));
  return { ctx, out, losses, params };
}

function outputCommon(g: Graph, ctx: ModelContext, losses: ReturnType<typeof fusionLoss>, logits: Value): void {
  g.output(losses.total, IO.loss);
  g.output(losses.ce, IO.lossCe);
  g.output(losses.contrastive, IO.lossCon);
  g.output(logits, IO.logits);
  for (const [name, value] of ctx.bufferUpdates) g.output(value, IO.updated(bufferInput(name)));
}

export function buildTrainStepGraph(
  model: ModelConfig,
  loss: LossConfig,
  optim: OptimizerConfig,
  dtype: FloatType = 'float32',
): BuiltGraph {
  const g = new Graph(dtype);
  const { ctx, out, losses, params } = forwardAndLoss(g, model, loss);
  const grads = gradients(losses.total, params);
  const scalars = {
    updateScale: g.input(IO.updateScale, dtype, []),
    epsHat: g.input(IO.epsHat, dtype, []),
    decay: g.input(IO.decay, dtype, []),
  };
  const slots = ctx.params.map((spec, i) => ({
    param: params[i],
    grad: grads[i],
    m: g.input(IO.adamM(spec.name), dtype, spec.shape),
    v: g.input(IO.adamV(spec.name), dtype, spec.shape),
  }));
  const { updates, gradNorm } = adamUpdate(optim, slots, scalars);
  outputCommon(g, ctx, losses, out.logits);
  g.output(gradNorm, IO.gradNorm);
  ctx.params.forEach((spec, i) => {
    const u = updates[i];
    g.output(u.param, IO.updated(paramInput(spec.name)));
    g.output(u.m, IO.updated(IO.adamM(spec.name)));
    g.output(u.v, IO.updated(IO.adamV(spec.name)));
  });
  return built(g, ctx);
}

export function buildGradientGraph(model: ModelConfig, loss: LossConfig, dtype: FloatType = 'float32'): BuiltGraph {
  const g = new Graph(dtype);
  const { ctx, out, losses, params } = forwardAndLoss(g, model, loss);
  const grads = gradients(losses.total, params);
  outputCommon(g, ctx, losses, out.logits);
  ctx.params.forEach((spec, i) => g.output(grads[i], IO.grad(spec.name)));
  return built(g, ctx);
}

export function buildEvalGraph(model: ModelConfig, dtype: FloatType = 'float32'): BuiltGraph {
  const g = new Graph(dtype);
  const ctx = new ModelContext(g, 'eval', { kind: 'inputs' });
  const out = fusionForward(ctx, model, declareInputs(ctx, model));
  g.output(out.logits, IO.logits);
  return built(g, ctx);
}

/**
 * Standalone inference model: inputs `t` [N, Dt], `a` [N, Da], `v` [N, F, Dv] float32 and `v_len`
 * [N] int64 (those of the variant's modalities); outputs `logits` and `probabilities` [N, C].
 */
export function buildInferenceGraph(
  model: ModelConfig,
  weights: ReadonlyMap<string, FloatArray>,
  metadata: Record<string, string> = {},
): BuiltGraph {
  const g = new Graph('float32');
  const ctx = new ModelContext(g, 'eval', { kind: 'constants', values: weights });
  const out = fusionForward(ctx, model, declareInputs(ctx, model));
  g.output(out.logits, IO.logits);
  g.output(softmax(out.logits, 1), IO.probabilities);
  return built(g, ctx, { model_config: JSON.stringify(model), ...metadata });
}
