/**
 * The DeepMSI-MER fusion model (model-spec section 3) as an engine graph.
 *
 * Choices the spec leaves open, fixed here and mirrored by scripts/engine/torch_reference.py:
 * - `guided` summary: q = Linear(e -> C)(e); score_t = <h_t, q> / sqrt(C) over valid timesteps
 *   (t < length), softmax over time, summary = sum_t alpha_t h_t. Without text and audio there is
 *   no e, and q is a learned vector.
 * - The early-fusion MLP only exists where its output is used: a guided visual summary with text
 *   or audio present. It concatenates the available pooled vectors of [t; a].
 * - Projection-head inputs: the TCN summary (visual), the pooled text and audio vectors.
 * - Visual frames are left-aligned: frames at t >= length are padding. Causal convolutions never
 *   look ahead, so padding cannot leak into valid timesteps; a length of 0 yields a summary of the
 *   (zero) padding rather than NaN.
 */
import type { Value } from '../engine/graph.ts';
import { cast, concat, div, equal, less, mul, reduceSum, softmax, sub, unsqueeze, where } from '../engine/ops/index.ts';
import type { Modality, ModelConfig } from './config.ts';
import { hasModality } from './config.ts';
import { BATCH } from './context.ts';
import type { ModelContext } from './context.ts';
import { denseBlock, linear, projectionHead, tcnBlock } from './layers.ts';

export interface FusionInputs {
  /** [N, Dt] */
  readonly t?: Value;
  /** [N, Da] */
  readonly a?: Value;
  /** [N, F, Dv] */
  readonly v?: Value;
  /** [N] int64: valid frames of v. */
  readonly vLen?: Value;
}

export interface FusionOutputs {
  readonly logits: Value;
  /** LayerNormed head outputs [N, headDim] per modality, for the contrastive loss. */
  readonly projections: Partial<Record<Modality, Value>>;
}

/** Declares the graph inputs the variant needs, with the symbolic batch dimension. */
export function declareInputs(ctx: ModelContext, cfg: ModelConfig): FusionInputs {
  const g = ctx.g;
  const dt = ctx.dtype;
  return {
    ...(hasModality(cfg, 't') ? { t: g.input('t', dt, [BATCH, cfg.inputs.text]) } : {}),
    ...(hasModality(cfg, 'a') ? { a: g.input('a', dt, [BATCH, cfg.inputs.audio]) } : {}),
    ...(hasModality(cfg, 'v')
      ? { v: g.input('v', dt, [BATCH, cfg.inputs.frames, cfg.inputs.visual]), vLen: g.input('v_len', 'int64', [BATCH]) }
      : {}),
  };
}

export function fusionForward(ctx: ModelContext, cfg: ModelConfig, inputs: FusionInputs): FusionOutputs {
  const bn = cfg.batchNorm;
  const pOther = cfg.dropout.other;
  const projections: Partial<Record<Modality, Value>> = {};

  if (inputs.v && inputs.vLen) {
    const { v, vLen } = inputs;
    let h = v;
    cfg.tcn.dilations.forEach((d, i) => {
      h = ctx.g.scope(`tcn${i}`, () => tcnBlock(ctx, `tcn.${i}`, h, cfg.tcn.channels, cfg.tcn.kernel, d, pOther));
    });
    const early = cfg.summary === 'guided' ? earlyFusion(ctx, cfg, inputs) : null;
    const summary =
      cfg.summary === 'last' ? lastValid(h, vLen, cfg.inputs.frames) : guidedPool(ctx, cfg, h, vLen, early);
    projections.v = projectionHead(ctx, 'head_v', summary, cfg.headDim, cfg.dropout.heads, cfg.layerNormEps);
  }
  if (inputs.t)
    projections.t = projectionHead(ctx, 'head_t', inputs.t, cfg.headDim, cfg.dropout.heads, cfg.layerNormEps);
  if (inputs.a)
    projections.a = projectionHead(ctx, 'head_a', inputs.a, cfg.headDim, cfg.dropout.heads, cfg.layerNormEps);

  const fused = (['v', 't', 'a'] as const).map((m) => projections[m]).filter((p): p is Value => p !== undefined);
  let x = fused.length === 1 ? fused[0] : concat(fused, 1);
  cfg.classifierHidden.forEach((width, i) => {
    x = denseBlock(ctx, `classifier.${i}`, x, width, cfg.leakySlope, pOther, bn);
  });
  return { logits: linear(ctx, 'classifier.out', x, cfg.numClasses), projections };
}

function earlyFusion(ctx: ModelContext, cfg: ModelConfig, inputs: FusionInputs): Value | null {
  const parts = [inputs.t, inputs.a].filter((p): p is Value => p !== undefined);
  if (parts.length === 0) return null;
  const x = parts.length === 1 ? parts[0] : concat(parts, 1);
  const h = denseBlock(ctx, 'early.0', x, cfg.earlyFusion.hidden, cfg.leakySlope, cfg.dropout.other, cfg.batchNorm);
  return linear(ctx, 'early.out', h, cfg.earlyFusion.out);
}

/** [N, T] bool: t < length. */
/** [1, T] int64: 0..T-1. */
function timeIndex(like: Value, frames: number): Value {
  return like.graph.constant(
    Array.from({ length: frames }, (_, i) => i),
    'int64',
    [1, frames],
  );
}

function validSteps(vLen: Value, frames: number): Value {
  return less(timeIndex(vLen, frames), unsqueeze(vLen, [1]));
}

function lastValid(h: Value, vLen: Value, frames: number): Value {
  const pick = cast(equal(timeIndex(vLen, frames), unsqueeze(sub(vLen, 1), [1])), h.dtype);
  return reduceSum(mul(h, unsqueeze(pick, [2])), [1]);
}

function guidedPool(ctx: ModelContext, cfg: ModelConfig, h: Value, vLen: Value, early: Value | null): Value {
  const c = cfg.tcn.channels;
  const query = early
    ? linear(ctx, 'attention.query', early, c)
    : unsqueeze(ctx.param('attention.query_vector', [c], { kind: 'normal', std: 1 / Math.sqrt(c) }), [0]);
  const scores = div(reduceSum(mul(h, unsqueeze(query, [1])), [2]), Math.sqrt(c));
  // a large finite negative rather than -inf keeps an all-padding row finite (uniform weights)
  const masked = where(validSteps(vLen, cfg.inputs.frames), scores, -1e9);
  const alpha = softmax(masked, 1);
  return reduceSum(mul(h, unsqueeze(alpha, [2])), [1]);
}
