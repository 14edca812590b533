/** Layers of the fusion model, each a few engine ops over parameters from the model context. */
import type { Value } from '../engine/graph.ts';
import { add, concat, gelu, layerNorm, leakyRelu, matmul, pad, relu, slice, weightNorm } from '../engine/ops/index.ts';
import type { ModelContext } from './context.ts';

/** PyTorch nn.Linear initialisation (kaiming_uniform with a = sqrt(5)): U(+-1/sqrt(fan_in)).
 * Weights are stored [in, out] so the forward is x W without a transpose. */
export function linear(ctx: ModelContext, name: string, x: Value, out: number, bias = true): Value {
  const inDim = x.shape[x.rank - 1];
  if (typeof inDim !== 'number') throw new Error(`model: linear ${name} needs a static input width`);
  const bound = 1 / Math.sqrt(inDim);
  const w = ctx.param(`${name}.weight`, [inDim, out], { kind: 'uniform', bound });
  const y = matmul(x, w);
  return bias ? add(y, ctx.param(`${name}.bias`, [out], { kind: 'uniform', bound })) : y;
}

/** Linear -> BatchNorm -> LeakyReLU -> Dropout, the block of the early-fusion MLP and classifier. */
export function denseBlock(
  ctx: ModelContext,
  name: string,
  x: Value,
  out: number,
  slope: number,
  p: number,
  bn: { eps: number; momentum: number },
): Value {
  const h = linear(ctx, `${name}.linear`, x, out);
  const n = ctx.batchNorm(`${name}.bn`, h, bn.eps, bn.momentum);
  return ctx.dropout(`${name}.dropout`, leakyRelu(n, slope), p);
}

/**
 * Causal dilated 1-D convolution over x [N, T, Cin] as one matrix product: the k taps are
 * time-shifted copies of x concatenated on the channel axis, so the weight is [k * Cin, Cout] and
 * row j * Cin + c equals PyTorch Conv1d weight[:, c, j] with left padding (k - 1) * dilation.
 * With weight norm (Salimans & Kingma), w = g * v / ||v|| per output channel, as
 * torch.nn.utils.weight_norm(conv, dim=0).
 */
export function causalConv(
  ctx: ModelContext,
  name: string,
  x: Value,
  out: number,
  kernel: number,
  dilation: number,
  withWeightNorm: boolean,
): Value {
  const [, t, cin] = x.shape;
  if (typeof t !== 'number' || typeof cin !== 'number')
    throw new Error(`model: conv ${name} needs static [N, T, C], got [${String(x.shape)}]`);
  const fanIn = kernel * cin;
  let w: Value;
  if (withWeightNorm) {
    // locuslab TCN initialisation: v ~ N(0, 0.01) and g = ||v|| so the initial weight is v itself
    const v = ctx.param(`${name}.weight_v`, [fanIn, out], { kind: 'normal', std: 0.01 });
    const g = ctx.param(`${name}.weight_g`, [out], { kind: 'column-norm', of: `${name}.weight_v` });
    w = weightNorm(v, g);
  } else {
    w = ctx.param(`${name}.weight`, [fanIn, out], { kind: 'normal', std: 0.01 });
  }
  const bias = ctx.param(`${name}.bias`, [out], { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) });
  let taps: Value;
  if (kernel === 1) {
    taps = x;
  } else {
    const shift = (kernel - 1) * dilation;
    const padded = pad(x, 1, shift, 0);
    const parts: Value[] = [];
    for (let j = 0; j < kernel; j++) parts.push(slice(padded, 1, j * dilation, j * dilation + t));
    taps = concat(parts, 2);
  }
  return add(matmul(taps, w), bias);
}

/** TCN residual block (Bai et al. 2018): two weight-normed causal convolutions with ReLU and
 * dropout, a 1x1 convolution on the skip path when the width changes, ReLU after the sum. */
export function tcnBlock(
  ctx: ModelContext,
  name: string,
  x: Value,
  channels: number,
  kernel: number,
  dilation: number,
  p: number,
): Value {
  const h1 = ctx.dropout(
    `${name}.dropout1`,
    relu(causalConv(ctx, `${name}.conv1`, x, channels, kernel, dilation, true)),
    p,
  );
  const h2 = ctx.dropout(
    `${name}.dropout2`,
    relu(causalConv(ctx, `${name}.conv2`, h1, channels, kernel, dilation, true)),
    p,
  );
  const skip = x.shape[2] === channels ? x : causalConv(ctx, `${name}.downsample`, x, channels, 1, 1, false);
  return relu(add(h2, skip));
}

/** Projection head: Linear -> GELU -> Linear -> Dropout, plus the first projection as residual,
 * then LayerNorm. */
export function projectionHead(
  ctx: ModelContext,
  name: string,
  x: Value,
  dim: number,
  p: number,
  lnEps: number,
): Value {
  const projected = linear(ctx, `${name}.projection`, x, dim);
  const h = ctx.dropout(`${name}.dropout`, linear(ctx, `${name}.fc`, gelu(projected), dim), p);
  const gamma = ctx.param(`${name}.layer_norm.weight`, [dim], { kind: 'const', value: 1 });
  const beta = ctx.param(`${name}.layer_norm.bias`, [dim], { kind: 'const', value: 0 });
  return layerNorm(add(h, projected), gamma, beta, lnEps);
}
