/**
 * Multiply-add FLOPs (2 per MAC) of one encoder forward pass, from its config.json: matrix products
 * and convolutions only (softmax, norms and activations are a few percent and not counted). Used to
 * express measured throughput as achieved GFLOP/s.
 */
type Config = Record<string, unknown>;
const n = (c: Config, k: string): number => Number(c[k]);

function transformerFlops(
  layers: number,
  tokens: number,
  hidden: number,
  inter: number,
  attendedTokens = tokens,
): number {
  const projections = 4 * 2 * tokens * hidden * hidden;
  const scores = 2 * 2 * tokens * attendedTokens * hidden;
  const mlp = 2 * 2 * tokens * hidden * inter;
  return layers * (projections + scores + mlp);
}

/** BERT over a padded [batch, seq] input (padding is computed too, so it counts). */
export function bertFlops(c: Config, batch: number, seq: number): number {
  return batch * transformerFlops(n(c, 'num_hidden_layers'), seq, n(c, 'hidden_size'), n(c, 'intermediate_size'));
}

/** wav2vec2 (conv feature encoder, projection, positional conv, transformer) over [batch, samples]. */
export function wav2vec2Flops(c: Config, batch: number, samples: number): number {
  const dims = c.conv_dim as number[];
  const kernels = c.conv_kernel as number[];
  const strides = c.conv_stride as number[];
  let len = samples;
  let inCh = 1;
  let total = 0;
  dims.forEach((out, i) => {
    len = Math.floor((len - kernels[i]) / strides[i]) + 1;
    total += 2 * len * out * inCh * kernels[i];
    inCh = out;
  });
  const h = n(c, 'hidden_size');
  total += 2 * len * inCh * h;
  total += 2 * len * h * (h / n(c, 'num_conv_pos_embedding_groups')) * n(c, 'num_conv_pos_embeddings');
  total += transformerFlops(n(c, 'num_hidden_layers'), len, h, n(c, 'intermediate_size'));
  return batch * total;
}

/** Swin (patch embedding, windowed attention blocks, patch merging) over [frames, 3, size, size]. */
export function swinFlops(c: Config, frames: number): number {
  const size = n(c, 'image_size');
  const patch = n(c, 'patch_size');
  const window = n(c, 'window_size') ** 2;
  const depths = c.depths as number[];
  const ratio = n(c, 'mlp_ratio');
  let dim = n(c, 'embed_dim');
  let side = size / patch;
  let total = 2 * side * side * dim * 3 * patch * patch;
  depths.forEach((d, s) => {
    const tokens = side * side;
    // attention stays within a window, capped by the grid itself in the last stage (7x7)
    total += transformerFlops(d, tokens, dim, ratio * dim, Math.min(window, tokens));
    if (s < depths.length - 1) {
      side /= 2;
      total += 2 * side * side * 4 * dim * 2 * dim;
      dim *= 2;
    }
  });
  return frames * total;
}
