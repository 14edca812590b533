/**
 * Adam as graph nodes appended after the gradients, so one session run does forward, backward and
 * update. Matches torch.optim.Adam (L2 weight decay added to the gradient; `decoupled`: AdamW)
 * and torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6), capped at 1).
 *
 * The update is memory-bound (each elementwise op is one pass over every parameter), so it is
 * arranged for few passes: the moments are kept pre-divided by their constant EMA weights,
 *   M = m / (1 - beta1),  V = v / (1 - beta2),  so  M' = beta1 M + g,  V' = beta2 V + g^2,
 * and the step p' = p - lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps) becomes
 *   p' = p - k M' / (sqrt(V') + eps_hat),  k = lr (1-beta1) sqrt(1-beta2^t) / ((1-beta1^t) sqrt(1-beta2)),
 *   eps_hat = eps sqrt(1-beta2^t) / sqrt(1-beta2).
 * The scalars depend on the step only; the host computes them in double precision and feeds them.
 * Checkpoints store M and V as they are (see checkpoint.ts).
 */
import type { Value } from '../engine/graph.ts';
import { attr } from '../engine/graph.ts';
import { add, div, min, mul, sqrt, sub } from '../engine/ops/index.ts';
import type { OptimizerConfig } from './config.ts';

export interface AdamScalars {
  /** k above. */
  readonly updateScale: Value;
  /** eps_hat above. */
  readonly epsHat: Value;
  /** 1 - lr * weight_decay (AdamW's decay factor). */
  readonly decay: Value;
}

export interface AdamSlot {
  readonly param: Value;
  readonly grad: Value;
  /** m / (1 - beta1) */
  readonly m: Value;
  /** v / (1 - beta2) */
  readonly v: Value;
}

export interface AdamResult {
  readonly updates: readonly { readonly param: Value; readonly m: Value; readonly v: Value }[];
  /** Global L2 norm of the gradients before clipping. */
  readonly gradNorm: Value;
}

export function adamUpdate(cfg: OptimizerConfig, slots: readonly AdamSlot[], scalars: AdamScalars): AdamResult {
  if (slots.length === 0) throw new Error('adam: nothing to optimise');
  const g = slots[0].param.graph;
  return g.untaped(() =>
    g.scope('adam', () => {
      const squares = slots.map((s) =>
        g.op('ReduceSumSquare', [s.grad], { keepdims: attr.int(0) }, s.grad.dtype, [], 'grad_sq'),
      );
      const gradNorm = sqrt(squares.reduce((p, q) => add(p, q)));
      const clip = cfg.clipGradNorm === undefined ? null : min(div(cfg.clipGradNorm, add(gradNorm, 1e-6)), 1);
      const updates = slots.map((s) => {
        let grad = clip ? mul(s.grad, clip) : s.grad;
        let param = s.param;
        if (cfg.weightDecay > 0) {
          if (cfg.decoupledWeightDecay) param = mul(param, scalars.decay);
          else grad = add(grad, mul(param, cfg.weightDecay));
        }
        const m = add(mul(s.m, cfg.beta1), grad);
        const v = add(mul(s.v, cfg.beta2), mul(grad, grad));
        const step = div(m, add(sqrt(v), scalars.epsHat));
        return { param: sub(param, mul(step, scalars.updateScale)), m, v };
      });
      return { updates, gradNorm };
    }),
  );
}

/** Host-side scalars for step t (1-based). */
export function adamScalars(
  cfg: OptimizerConfig,
  step: number,
  lr = cfg.lr,
): { updateScale: number; epsHat: number; decay: number } {
  const bc1 = 1 - Math.pow(cfg.beta1, step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(cfg.beta2, step));
  const emaSqrt = Math.sqrt(1 - cfg.beta2);
  return {
    updateScale: (lr * (1 - cfg.beta1) * bc2Sqrt) / (bc1 * emaSqrt),
    epsHat: (cfg.eps * bc2Sqrt) / emaSqrt,
    decay: 1 - lr * cfg.weightDecay,
  };
}
