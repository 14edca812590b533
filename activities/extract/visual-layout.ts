/**
 * What each vision family's last_hidden_state holds per frame, read from config.json and the image
 * processing alone (no onnxruntime, so the plan step can state sizes and refuse options early):
 *
 * | model_type            | special tokens (first rows)          | patch grid at input S          |
 * |-----------------------|--------------------------------------|--------------------------------|
 * | swin                  | none                                 | S/patch/2^(stages-1), e.g. 7x7 |
 * | vit                   | CLS                                  | S/patch, e.g. 14x14 at /16     |
 * | clip_vision_model     | CLS (class embedding)                | S/patch, e.g. 7x7 at /32       |
 * | dinov2                | CLS (+ num_register_tokens, if any)  | S/14, 16x16 at 224             |
 * | dinov2_with_registers | CLS + num_register_tokens registers  | S/14                           |
 *
 * Decision record: special tokens never enter the cached sequence, which holds only the patch grid
 * in row-major order, so compression selects among spatial tokens only; the CLS token is available
 * as `pooling: cls`. ViT, CLIP and Swin use fixed position embeddings: their input must be the
 * config's image_size. DINOv2 interpolates its embeddings to any multiple of the patch size (its
 * processors crop 224 from a model trained at 518).
 */
import { encoderFamily, type VisualModelType } from '../../schemas/encoder-families.ts';
import type { VisualEncoderParams } from '../../schemas/extract.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { imageProcessing, type ImageProcessing } from './image-processing.ts';
import { configInt, configIntList, type ModelFolder } from './model-folder.ts';

export interface VisualLayout {
  modelType: VisualModelType;
  family: string;
  processing: ImageProcessing;
  dim: number;
  /** Rows before the patch grid in last_hidden_state (CLS, registers). */
  specialTokens: number;
  gridH: number;
  gridW: number;
  /** Rows of last_hidden_state per frame: specialTokens + gridH x gridW. */
  outputTokens: number;
  /** Side of the cached grid: poolGrid, or null for the family's own grid. */
  pooledGrid: number | null;
  /** Tokens cached per frame. */
  tokens: number;
  pooling: 'mean' | 'cls';
}

export function visualLayout(folder: ModelFolder, params: Pick<VisualEncoderParams, 'pooling' | 'poolGrid'> = {}) {
  const mismatch = (msg: string): never => {
    throw new MerError(ErrorTypes.ModelMismatch, `${folder.dir}/config.json: ${msg}`, { folder: folder.dir });
  };
  const modelType = String(folder.config.model_type) as VisualModelType;
  const family = encoderFamily('visual', modelType) ?? mismatch(`model_type ${modelType} is not a vision family`);
  const processing = imageProcessing(folder);
  const { height, width } = processing;
  if (configInt(folder, 'num_channels') !== 3)
    mismatch(`num_channels ${String(folder.config.num_channels)}; frames are RGB`);
  const patch = configInt(folder, 'patch_size');
  const dim = configInt(folder, 'hidden_size');
  const fixedSize = () => {
    const image = configInt(folder, 'image_size');
    if (image !== height || image !== width)
      mismatch(
        `image_size ${image}, but preprocessor_config.json gives ${height}x${width} inputs; ${family} position embeddings are fixed at image_size`,
      );
  };
  let specialTokens: number;
  let stride = patch;
  switch (modelType) {
    case 'swin':
      fixedSize();
      specialTokens = 0;
      stride = patch * 2 ** (configIntList(folder, 'depths').length - 1);
      break;
    case 'vit':
    case 'clip_vision_model':
      fixedSize();
      specialTokens = 1;
      break;
    case 'dinov2':
    case 'dinov2_with_registers': {
      const r = folder.config.num_register_tokens ?? 0;
      if (typeof r !== 'number' || !Number.isInteger(r) || r < 0)
        mismatch(`num_register_tokens is ${JSON.stringify(r)}`);
      specialTokens = 1 + (r as number);
      break;
    }
  }
  if (height % stride !== 0 || width % stride !== 0)
    mismatch(`${height}x${width} inputs do not tile into ${stride}-pixel tokens (patch_size ${patch})`);
  const gridH = height / stride;
  const gridW = width / stride;
  const pooling = params.pooling ?? 'mean';
  if (pooling === 'cls' && specialTokens === 0)
    mismatch(`extract.visual.pooling 'cls': ${family} (model_type ${modelType}) has no CLS token; use 'mean'`);
  const g = params.poolGrid ?? null;
  if (g !== null && (g > gridH || g > gridW))
    mismatch(`extract.visual.poolGrid ${g} is finer than ${family}'s ${gridH}x${gridW} patch grid`);
  return {
    modelType,
    family,
    processing,
    dim,
    specialTokens,
    gridH,
    gridW,
    outputTokens: specialTokens + gridH * gridW,
    pooledGrid: g,
    tokens: g === null ? gridH * gridW : g * g,
    pooling,
  } satisfies VisualLayout;
}

/**
 * Adaptive average pooling of one frame's [gridH x gridW x dim] patch tokens (row-major) to a g x g
 * grid, as torch.nn.AdaptiveAvgPool2d: output cell i covers rows floor(i H / g) to ceil((i+1) H / g)
 * (overlapping when g does not divide H). Sums in float64.
 */
export function poolPatchGrid(
  tokens: Float32Array,
  off: number,
  gridH: number,
  gridW: number,
  dim: number,
  g: number,
  out: Float32Array,
  outOff: number,
): void {
  const acc = new Float64Array(dim);
  for (let i = 0; i < g; i++) {
    const y0 = Math.floor((i * gridH) / g);
    const y1 = Math.ceil(((i + 1) * gridH) / g);
    for (let j = 0; j < g; j++) {
      const x0 = Math.floor((j * gridW) / g);
      const x1 = Math.ceil(((j + 1) * gridW) / g);
      acc.fill(0);
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const base = off + (y * gridW + x) * dim;
          for (let d = 0; d < dim; d++) acc[d] += tokens[base + d];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = outOff + (i * g + j) * dim;
      for (let d = 0; d < dim; d++) out[o + d] = acc[d] / n;
    }
  }
}
