/** The op library: differentiable ops record backward rules on the graph's tape. */
export {
  add,
  div,
  exp,
  leakyRelu,
  log,
  max,
  min,
  mul,
  neg,
  reciprocal,
  relu,
  sigmoid,
  sqrt,
  square,
  sub,
  tanh,
  where,
} from './arith.ts';
export { cast, countAlong, equal, expandAs, greater, greaterOrEqual, less, not, shapeOf, unbroadcast } from './core.ts';
export type { Operand } from './core.ts';
export { matmul, transpose } from './linalg.ts';
export { concat, pad, reshape, reshapeLike, slice, squeeze, unsqueeze } from './layout.ts';
export { reduceMean, reduceSum } from './reduce.ts';
export {
  batchNormEval,
  batchNormTrain,
  dropout,
  erf,
  gelu,
  layerNorm,
  logSoftmax,
  normalizeAffine,
  softmax,
  weightNorm,
} from './nn.ts';
export type { Normalized } from './nn.ts';
