/**
 * The training loss of model-spec section 4: L = CE + w * L_con.
 *
 * L_con reduces, over the active cross-modal pairs (A, B) (configured pairs whose two modalities
 * the variant has), a supervised contrastive term on L2-normalised projections with temperature
 * tau: their mean (`pairReduction: 'mean'`, as the reference, which averages its visual-text and
 * visual-audio terms) or their sum. With s_ij = <zA_i, zB_j> / tau, positives
 * P(i) = { j != i : y_j = y_i } and negatives Q(i) = { k : y_k != y_i }:
 *   l_ij = -log( exp(s_ij) / (exp(s_ij) + sum_{k in Q(i)} exp(s_ik)) )
 *   L_pair = (1/N) sum_i (1/n_i) sum_{j in P(i)} l_ij
 * where n_i = |P(i)| (`positives`, anchors without positives add 0) or N - 1 (`reference`).
 *
 * Numerics (PyTorch-stable for any temperature and degenerate inputs): |s| <= 1/tau, so exp(s)
 * overflows float32 once tau < ~0.011. l_ij is therefore computed as softplus(b_i - s_ij) with
 * b_i = log sum_{k in Q(i)} exp(s_ik), a log-sum-exp shifted by the row's largest negative (the
 * shift cancels exactly, so it takes no gradient), and softplus in its overflow-free form. An
 * anchor without negatives has l_ij = 0, as in the definition. l2Normalize keeps the gradient of
 * a zero row finite and equal to torch.nn.functional.normalize's (see there).
 */
import { attr } from '../engine/graph.ts';
import type { Value } from '../engine/graph.ts';
import {
  add,
  cast,
  countAlong,
  div,
  equal,
  exp,
  greater,
  log,
  logSoftmax,
  matmul,
  max,
  mul,
  neg,
  not,
  reduceMean,
  reduceSum,
  sqrt,
  sub,
  transpose,
  unsqueeze,
  where,
} from '../engine/ops/index.ts';
import type { LossConfig, Modality } from './config.ts';

export interface LossOutputs {
  readonly total: Value;
  readonly ce: Value;
  /** The reduced contrastive term (mean or sum over the active pairs; 0 without any). */
  readonly contrastive: Value;
}

export function fusionLoss(
  logits: Value,
  projections: Partial<Record<Modality, Value>>,
  labels: Value,
  cfg: LossConfig,
): LossOutputs {
  const ce = crossEntropy(logits, labels, cfg.classWeights);
  const terms: Value[] = [];
  for (const pair of cfg.pairs) {
    const a = projections[pair[0] as Modality];
    const b = projections[pair[1] as Modality];
    if (a && b) terms.push(supervisedContrastive(a, b, labels, cfg.temperature, cfg.normalization));
  }
  const g = logits.graph;
  if (terms.length === 0) return { total: ce, ce, contrastive: g.constant(0, logits.dtype) };
  const sum = terms.reduce((p, t) => add(p, t));
  const contrastive = cfg.pairReduction === 'mean' && terms.length > 1 ? div(sum, terms.length) : sum;
  const total = cfg.contrastiveWeight === 0 ? ce : add(ce, mul(contrastive, cfg.contrastiveWeight));
  return { total, ce, contrastive };
}

/** [N, C] one-hot of int64 labels in the logits' float type. */
export function oneHot(labels: Value, classes: number, dtype: Value['dtype']): Value {
  const idx = labels.graph.constant(
    Array.from({ length: classes }, (_, i) => i),
    'int64',
    [1, classes],
  );
  return cast(equal(unsqueeze(labels, [1]), idx), dtype);
}

export function crossEntropy(logits: Value, labels: Value, classWeights?: readonly number[]): Value {
  const classes = logits.shape[1];
  if (typeof classes !== 'number') throw new Error('loss: logits need a static class dimension');
  const hot = oneHot(labels, classes, logits.dtype);
  const nll = neg(reduceSum(mul(hot, logSoftmax(logits, 1)), [1]));
  if (!classWeights) return reduceMean(nll, [0]);
  if (classWeights.length !== classes)
    throw new Error(`loss: ${classWeights.length} class weights for ${classes} classes`);
  const w = reduceSum(mul(hot, logits.graph.constant(classWeights, logits.dtype)), [1]);
  return div(reduceSum(mul(w, nll), [0]), reduceSum(w, [0]));
}

/** torch.nn.functional.normalize's eps. */
const NORM_EPS = 1e-12;
/** Floor under the squared norm: below NORM_EPS^2, so the forward is unchanged. */
const SQUARED_NORM_FLOOR = 1e-30;

/**
 * z / max(||z||, 1e-12) row-wise, as torch.nn.functional.normalize, forward and backward. The
 * squared norm is floored before the square root: a zero row then sends the (zero) gradient of the
 * clamped norm through sqrt(1e-30) instead of 0 * 1/(2 sqrt(0)) = NaN, and its gradient is the
 * direct term gy / 1e-12, as PyTorch's (whose norm backward masks zero norms).
 */
export function l2Normalize(z: Value): Value {
  return div(z, clampedNorm(z));
}

/** max(||z||, 1e-12) row-wise [N, 1], with the floored square root of l2Normalize. */
function clampedNorm(z: Value): Value {
  const squared = reduceSum(mul(z, z), [1], true);
  return max(sqrt(max(squared, SQUARED_NORM_FLOOR)), NORM_EPS);
}

/** log(1 + exp(x)) without overflow: max(x, 0) + log(1 + exp(-|x|)), exact gradient at 0. */
function softplus(x: Value): Value {
  const positive = greater(x, 0);
  return add(where(positive, x, 0), log(add(exp(where(positive, neg(x), x)), 1)));
}

export function supervisedContrastive(
  anchor: Value,
  other: Value,
  labels: Value,
  temperature: number,
  normalization: LossConfig['normalization'],
): Value {
  const g = anchor.graph;
  const dt = anchor.dtype;
  // 1/tau scales the anchor's normaliser rather than the product: onnxruntime's MatMulScaleFusion
  // folds a constant divisor of a MatMul into its 32-bit float alpha attribute, which would cost a
  // float64 graph ~5e-8 relative precision in s (e.g. tau = 0.002 becomes 1/499.99997)
  const s = matmul(div(anchor, mul(clampedNorm(anchor), temperature)), transpose(l2Normalize(other), [1, 0]));
  const sameMask = equal(unsqueeze(labels, [1]), unsqueeze(labels, [0]));
  const negMask = not(sameMask);
  const same = cast(sameMask, dt);
  const eye = g.op('EyeLike', [same], {}, dt, same.shape, 'eye');
  const positives = sub(same, mul(same, eye));
  const negatives = cast(negMask, dt);
  // Row shift m_i = max_{k in Q(i)} s_ik (0 without negatives) and the without-negatives indicator:
  // constants for autodiff, since the shift cancels from b_i exactly.
  const { shift, hasNeg, noNeg } = g.untaped(() => {
    const rowMax = (x: Value, name: string): Value =>
      g.op('ReduceMax', [x], { axes: attr.ints([1]), keepdims: attr.int(1) }, dt, [x.shape[0], 1], name);
    const lowest = dt === 'float64' ? -Number.MAX_VALUE : -3.4028234663852886e38;
    const has = rowMax(negatives, 'con_has_neg');
    const m = where(greater(has, 0), rowMax(where(negMask, s, lowest), 'con_neg_max'), 0);
    return { shift: m, hasNeg: has, noNeg: sub(1, has) };
  });
  // b_i = m_i + log sum_{k in Q(i)} exp(s_ik - m_i); the masked entries are zeroed before exp so
  // a large s_ik outside Q(i) cannot overflow, and a row without negatives sums to 1 (b_i = 0)
  // instead of taking log(0); its l_ij is zeroed by hasNeg below.
  const shifted = exp(where(negMask, sub(s, shift), 0));
  const b = add(shift, log(add(reduceSum(mul(shifted, negatives), [1], true), noNeg)));
  const l = softplus(sub(b, s));
  const perAnchor = reduceSum(mul(l, mul(positives, hasNeg)), [1]);
  const count =
    normalization === 'positives' ? max(reduceSum(positives, [1]), 1) : max(sub(countAlong(labels, [0], dt), 1), 1);
  return reduceMean(div(perAnchor, count), [0]);
}
