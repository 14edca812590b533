/**
 * The training loss of model-spec section 4: L = CE + w * L_con.
 *
 * L_con sums, over the configured cross-modal pairs (A, B), a supervised contrastive term on
 * L2-normalised projections with temperature tau. With s_ij = <zA_i, zB_j> / tau, positives
 * P(i) = { j != i : y_j = y_i } and negatives Q(i) = { k : y_k != y_i }:
 *   l_ij = -log( exp(s_ij) / (exp(s_ij) + sum_{k in Q(i)} exp(s_ik)) )
 *   L_pair = (1/N) sum_i (1/n_i) sum_{j in P(i)} l_ij
 * where n_i = |P(i)| (`positives`, anchors without positives add 0) or N - 1 (`reference`).
 * Since |s| <= 1/tau, exp cannot overflow for any sensible tau and no max-shift is needed.
 */
import type { Value } from '../engine/graph.ts';
import {
  add,
  cast,
  countAlong,
  div,
  equal,
  exp,
  log,
  logSoftmax,
  matmul,
  max,
  mul,
  neg,
  reduceMean,
  reduceSum,
  sqrt,
  sub,
  transpose,
  unsqueeze,
} from '../engine/ops/index.ts';
import type { LossConfig, Modality } from './config.ts';

export interface LossOutputs {
  readonly total: Value;
  readonly ce: Value;
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
  const contrastive = terms.length === 0 ? g.constant(0, logits.dtype) : terms.reduce((p, t) => add(p, t));
  const total =
    terms.length === 0 || cfg.contrastiveWeight === 0 ? ce : add(ce, mul(contrastive, cfg.contrastiveWeight));
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

/** z / max(||z||, 1e-12) row-wise, as torch.nn.functional.normalize. */
export function l2Normalize(z: Value): Value {
  return div(z, max(sqrt(reduceSum(mul(z, z), [1], true)), 1e-12));
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
  const s = div(matmul(l2Normalize(anchor), transpose(l2Normalize(other), [1, 0])), temperature);
  const same = cast(equal(unsqueeze(labels, [1]), unsqueeze(labels, [0])), dt);
  const eye = g.op('EyeLike', [same], {}, dt, same.shape, 'eye');
  const positives = sub(same, mul(same, eye));
  const negatives = sub(1, same);
  const e = exp(s);
  const negSum = reduceSum(mul(e, negatives), [1], true);
  const l = sub(log(add(e, negSum)), s);
  const perAnchor = reduceSum(mul(l, positives), [1]);
  const count =
    normalization === 'positives' ? max(reduceSum(positives, [1]), 1) : max(sub(countAlong(labels, [0], dt), 1), 1);
  return reduceMean(div(perAnchor, count), [0]);
}
