/**
 * Neural-network ops with fused backward rules: a fused rule emits far fewer nodes than letting
 * autodiff walk the primitive decomposition, and the normalisation rules reuse forward statistics.
 */
import { attr } from '../graph.ts';
import type { Value } from '../graph.ts';
import { normalizeAxis } from '../shape.ts';
import { add, mul, sub } from './arith.ts';
import { cast, int64s, unbroadcast } from './core.ts';
import { erfFloat64 } from './erf64.ts';

const SQRT1_2 = Math.SQRT1_2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Untaped erf in the graph's precision (see erf64.ts for why float64 is composed). */
function rawErf(x: Value): Value {
  if (x.dtype === 'float64') return erfFloat64(x);
  return x.graph.op('Erf', [x], {}, x.dtype, x.shape, 'erf');
}

function raw(type: string, ins: readonly Value[], like: Value, name: string, attrs = {}): Value {
  return like.graph.op(type, ins, attrs, like.dtype, like.shape, name);
}

export function erf(x: Value): Value {
  const g = x.graph;
  const out = rawErf(x);
  g.record({
    op: 'Erf',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => {
      if (!gy) return [null];
      const x2 = raw('Mul', [x, x], x, 'erf_x2');
      const e = raw('Exp', [raw('Neg', [x2], x, 'erf_nx2')], x, 'erf_e');
      return [mul(gy, mul(e, TWO_OVER_SQRT_PI))];
    },
  });
  return out;
}

/** GELU with the exact (erf) form, as torch.nn.GELU() by default. */
export function gelu(x: Value): Value {
  const g = x.graph;
  const c = (v: number): Value => g.constant(v, x.dtype);
  const cdf = raw(
    'Mul',
    [raw('Add', [rawErf(raw('Mul', [x, c(SQRT1_2)], x, 'gelu_s')), c(1)], x, 'gelu_1e'), c(0.5)],
    x,
    'gelu_cdf',
  );
  const out = raw('Mul', [x, cdf], x, 'gelu');
  g.record({
    op: 'Gelu',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => {
      if (!gy) return [null];
      // d/dx x*Phi(x) = Phi(x) + x*phi(x)
      const pdf = raw(
        'Mul',
        [
          raw('Exp', [raw('Mul', [raw('Mul', [x, x], x, 'gelu_x2'), c(-0.5)], x, 'gelu_e')], x, 'gelu_e'),
          c(INV_SQRT_2PI),
        ],
        x,
        'gelu_pdf',
      );
      return [mul(gy, add(cdf, mul(x, pdf)))];
    },
  });
  return out;
}

export function softmax(x: Value, axis = -1): Value {
  const g = x.graph;
  const a = normalizeAxis(axis, x.rank);
  const out = raw('Softmax', [x], x, 'softmax', { axis: attr.int(a) });
  g.record({
    op: 'Softmax',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => {
      if (!gy) return [null];
      const dot = g.op(
        'ReduceSum',
        [mul(gy, out), int64s(g, [a])],
        { keepdims: attr.int(1) },
        x.dtype,
        x.shape.map((d, i) => (i === a ? 1 : d)),
        'softmax_dot',
      );
      return [mul(out, sub(gy, dot))];
    },
  });
  return out;
}

export function logSoftmax(x: Value, axis = -1): Value {
  const g = x.graph;
  const a = normalizeAxis(axis, x.rank);
  const out = raw('LogSoftmax', [x], x, 'log_softmax', { axis: attr.int(a) });
  g.record({
    op: 'LogSoftmax',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => {
      if (!gy) return [null];
      const total = g.op(
        'ReduceSum',
        [gy, int64s(g, [a])],
        { keepdims: attr.int(1) },
        x.dtype,
        x.shape.map((d, i) => (i === a ? 1 : d)),
        'lsm_sum',
      );
      return [sub(gy, mul(raw('Exp', [out], x, 'lsm_p'), total))];
    },
  });
  return out;
}

export interface Normalized {
  readonly y: Value;
  /** Statistics over the normalised axes (kept as size-1 dims); not differentiated. */
  readonly mean: Value;
  /** Biased variance, as used for normalising. */
  readonly variance: Value;
}

/**
 * (x - mean) / sqrt(var + eps) * gamma + beta with statistics over `axes`: LayerNorm uses the
 * feature axis, training-mode BatchNorm the batch axis.
 */
export function normalizeAffine(x: Value, axes: readonly number[], gamma: Value, beta: Value, eps: number): Normalized {
  const g = x.graph;
  const norm = axes.map((a) => normalizeAxis(a, x.rank)).sort((p, q) => p - q);
  const statShape = x.shape.map((d, i) => (norm.includes(i) ? 1 : d));
  const reduceMean = (v: Value, name: string): Value =>
    g.op('ReduceMean', [v], { axes: attr.ints(norm), keepdims: attr.int(1) }, x.dtype, statShape, name);
  const mean = reduceMean(x, 'norm_mean');
  const xc = raw('Sub', [x, mean], x, 'norm_xc');
  const variance = reduceMean(raw('Mul', [xc, xc], x, 'norm_sq'), 'norm_var');
  const rstd = g.op(
    'Reciprocal',
    [
      g.op(
        'Sqrt',
        [g.op('Add', [variance, g.constant(eps, x.dtype)], {}, x.dtype, statShape, 'norm_ve')],
        {},
        x.dtype,
        statShape,
        'norm_std',
      ),
    ],
    {},
    x.dtype,
    statShape,
    'norm_rstd',
  );
  const xhat = raw('Mul', [xc, rstd], x, 'norm_xhat');
  const y = raw('Add', [raw('Mul', [xhat, gamma], x, 'norm_scaled'), beta], x, 'norm_y');
  g.record({
    op: 'NormalizeAffine',
    inputs: [x, gamma, beta],
    outputs: [y],
    backward: ([gy], needs) => {
      if (!gy) return [null, null, null];
      let gx: Value | null = null;
      if (needs[0]) {
        const dxhat = mul(gy, gamma);
        const m1 = reduceMean(dxhat, 'norm_gm1');
        const m2 = reduceMean(mul(dxhat, xhat), 'norm_gm2');
        gx = mul(rstd, sub(sub(dxhat, m1), mul(xhat, m2)));
      }
      return [
        gx,
        needs[1] ? unbroadcast(mul(gy, xhat), gamma.shape) : null,
        needs[2] ? unbroadcast(gy, beta.shape) : null,
      ];
    },
  });
  return { y, mean, variance };
}

/** LayerNorm over the last axis (PyTorch nn.LayerNorm(C)). */
export function layerNorm(x: Value, gamma: Value, beta: Value, eps = 1e-5): Value {
  return normalizeAffine(x, [x.rank - 1], gamma, beta, eps).y;
}

/** Training-mode BatchNorm over the batch axis of x [N, C], returning the batch statistics too. */
export function batchNormTrain(x: Value, gamma: Value, beta: Value, eps = 1e-5): Normalized {
  if (x.rank !== 2) throw new Error(`ops: batchNormTrain wants [N, C], got [${String(x.shape)}]`);
  return normalizeAffine(x, [0], gamma, beta, eps);
}

/** Eval-mode BatchNorm of x [N, C] with running statistics (which receive no gradient). */
export function batchNormEval(
  x: Value,
  gamma: Value,
  beta: Value,
  runningMean: Value,
  runningVar: Value,
  eps = 1e-5,
): Value {
  if (x.rank !== 2) throw new Error(`ops: batchNormEval wants [N, C], got [${String(x.shape)}]`);
  const g = x.graph;
  const rstd = g.op(
    'Reciprocal',
    [
      g.op(
        'Sqrt',
        [g.op('Add', [runningVar, g.constant(eps, x.dtype)], {}, x.dtype, runningVar.shape, 'bn_ve')],
        {},
        x.dtype,
        runningVar.shape,
        'bn_std',
      ),
    ],
    {},
    x.dtype,
    runningVar.shape,
    'bn_rstd',
  );
  // float32 uses the ONNX op (fused by the runtime); float64 spells it out because its epsilon
  // attribute is 32-bit and would differ from the float64 epsilon of the training graph
  const y =
    x.dtype === 'float32'
      ? g.op(
          'BatchNormalization',
          [x, gamma, beta, runningMean, runningVar],
          { epsilon: attr.float(eps) },
          x.dtype,
          x.shape,
          'bn_eval',
        )
      : raw(
          'Add',
          [
            raw(
              'Mul',
              [
                raw('Sub', [x, runningMean], x, 'bn_xc'),
                g.op('Mul', [rstd, gamma], {}, x.dtype, gamma.shape, 'bn_scale'),
              ],
              x,
              'bn_scaled',
            ),
            beta,
          ],
          x,
          'bn_eval',
        );
  g.record({
    op: 'BatchNormEval',
    inputs: [x, gamma, beta, runningMean, runningVar],
    outputs: [y],
    backward: ([gy], needs) => {
      if (!gy) return [null, null, null, null, null];
      const xhat = needs[1] ? mul(sub(x, runningMean), rstd) : null;
      return [
        needs[0] ? mul(gy, mul(gamma, rstd)) : null,
        xhat ? unbroadcast(mul(gy, xhat), gamma.shape) : null,
        needs[2] ? unbroadcast(gy, beta.shape) : null,
        null,
        null,
      ];
    },
  });
  return y;
}

/**
 * Inverted dropout with a mask supplied by the caller (bool, true = keep). Masks come from the
 * trainer's counter-based RNG so a resumed run reproduces them exactly and a reference
 * implementation can be fed the very same masks.
 */
export function dropout(x: Value, keep: Value, p: number): Value {
  if (p <= 0) return x;
  if (p >= 1) throw new Error(`ops: dropout probability ${p} must be < 1`);
  const g = x.graph;
  const scale = g.op(
    'Mul',
    [cast(keep, x.dtype), g.constant(1 / (1 - p), x.dtype)],
    {},
    x.dtype,
    keep.shape,
    'dropout_scale',
  );
  return mul(x, scale);
}

/**
 * Weight normalisation w = g * v / ||v|| with the norm over rows of v [R, C] (one norm per output
 * column), as torch.nn.utils.weight_norm(dim=0) for our [in, out] weight layout. A fused rule
 * because the unfused chain walks the whole weight matrix about twice as often, and weight norm
 * runs on the largest tensors of the model (the TCN convolutions) at every step:
 *   dg = <gw, v>_col / ||v||,   dv = (g / ||v||) (gw - v <gw, v>_col / ||v||^2).
 * No epsilon, as PyTorch's weight_norm: an all-zero column has no direction and gives NaN in both.
 * It cannot arise in training (v starts random and no update zeroes a whole column exactly), and
 * an epsilon would either shift every output (inside the sqrt) or trade the NaN for a w of 0 with
 * a ~g/eps gradient (a floor), neither of which means anything; the trainer stops on a NaN loss.
 */
export function weightNorm(v: Value, g: Value): Value {
  const graph = v.graph;
  const c = v.shape[1];
  if (v.rank !== 2 || g.rank !== 1 || g.shape[0] !== c)
    throw new Error(`ops: weightNorm wants v [R, C] and g [C], got [${String(v.shape)}] and [${String(g.shape)}]`);
  const col = [1, c];
  // Mul + ReduceSum rather than ReduceSumSquare: onnxruntime's ReduceSum has a fast path for
  // reducing the leading axis, ReduceSumSquare does not (measured 5x slower on [2304, 256])
  const sq = graph.op(
    'ReduceSum',
    [raw('Mul', [v, v], v, 'wn_v2'), int64s(graph, [0])],
    { keepdims: attr.int(1) },
    v.dtype,
    col,
    'wn_sq',
  );
  const norm = graph.op('Sqrt', [sq], {}, v.dtype, col, 'wn_norm');
  const scale = graph.op('Div', [g, norm], {}, v.dtype, col, 'wn_scale');
  const w = raw('Mul', [v, scale], v, 'wn_w');
  graph.record({
    op: 'WeightNorm',
    inputs: [v, g],
    outputs: [w],
    backward: ([gw], needs) => {
      if (!gw) return [null, null];
      const dot = graph.op(
        'ReduceSum',
        [raw('Mul', [gw, v], v, 'wn_gv'), int64s(graph, [0])],
        { keepdims: attr.int(1) },
        v.dtype,
        col,
        'wn_dot',
      );
      const dv = needs[0]
        ? mul(sub(gw, mul(v, graph.op('Div', [dot, sq], {}, v.dtype, col, 'wn_ratio'))), scale)
        : null;
      const dg = needs[1]
        ? graph.op(
            'Reshape',
            [graph.op('Div', [dot, norm], {}, v.dtype, col, 'wn_dg'), int64s(graph, [c as number])],
            {},
            v.dtype,
            [c],
            'wn_dg',
          )
        : null;
      return [dv, dg];
    },
  });
  return w;
}
