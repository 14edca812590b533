/**
 * Swin over the utterance's frames: transformers' ViT image processing (resize to 224, rescale,
 * ImageNet mean/std, NCHW) and the last stage's 7x7 token grid per frame. The segment stage already
 * writes 224x224 frames, so the resize is the identity; a model wanting another size is refused
 * rather than fed resampled pixels that differ from Python's.
 */
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { SEGMENT_FRAME_SIZE } from '../../schemas/segment.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { ort } from '../engine/session.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import { meanRows } from './encoder.ts';
import { configInt, configIntList, type JsonObject, type ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';

export interface VisualInput {
  /** [frames, 3, size, size] normalised pixels. */
  pixels: Float32Array;
  frames: number;
  flags: string[];
}

const OUTPUT = 'last_hidden_state';

interface ImageProcessing {
  size: number;
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

function imageProcessing(folder: ModelFolder): ImageProcessing {
  const pre: JsonObject = folder.preprocessor ?? {};
  const bad = (msg: string): never => {
    throw new MerError(ErrorTypes.ModelMismatch, `${folder.dir}/preprocessor_config.json: ${msg}`, {
      folder: folder.dir,
    });
  };
  const sz = pre.size as number | { height?: number; width?: number; shortest_edge?: number } | undefined;
  const h = typeof sz === 'number' ? sz : (sz?.height ?? sz?.shortest_edge);
  const w = typeof sz === 'number' ? sz : (sz?.width ?? sz?.shortest_edge);
  if (pre.do_resize !== false && (h !== SEGMENT_FRAME_SIZE || w !== SEGMENT_FRAME_SIZE)) {
    bad(
      `resizes to ${JSON.stringify(sz)}; segment frames are ${SEGMENT_FRAME_SIZE}x${SEGMENT_FRAME_SIZE} and resampling is not implemented`,
    );
  }
  const triple = (v: unknown, name: string, dflt: [number, number, number]): [number, number, number] => {
    if (v === undefined) return dflt;
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number'))
      return v as [number, number, number];
    return bad(`${name} must be three numbers, got ${JSON.stringify(v)}`);
  };
  const normalize = pre.do_normalize !== false;
  return {
    size: SEGMENT_FRAME_SIZE,
    rescale: pre.do_rescale === false ? 1 : typeof pre.rescale_factor === 'number' ? pre.rescale_factor : 1 / 255,
    mean: normalize ? triple(pre.image_mean, 'image_mean', [0.485, 0.456, 0.406]) : [0, 0, 0],
    std: normalize ? triple(pre.image_std, 'image_std', [0.229, 0.224, 0.225]) : [1, 1, 1],
  };
}

export class SwinVisualEncoder {
  private constructor(
    readonly folder: ModelFolder,
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    /** Tokens of the last stage per frame (7x7 = 49 for Swin at 224). */
    readonly tokens: number,
    private readonly proc: ImageProcessing,
  ) {}

  static async open(folder: ModelFolder, runtime: OnnxRuntimeSettings): Promise<SwinVisualEncoder> {
    const proc = imageProcessing(folder);
    const image = configInt(folder, 'image_size');
    const patch = configInt(folder, 'patch_size');
    const stages = configIntList(folder, 'depths').length;
    const dim = configInt(folder, 'hidden_size');
    if (image !== proc.size || configInt(folder, 'num_channels') !== 3) {
      throw new MerError(
        ErrorTypes.ModelMismatch,
        `${folder.dir}/config.json: image_size ${image}, num_channels ${String(folder.config.num_channels)}; frames are ${proc.size}x${proc.size} RGB`,
        { folder: folder.dir },
      );
    }
    const grid = image / patch / 2 ** (stages - 1);
    if (!Number.isInteger(grid))
      throw new MerError(
        ErrorTypes.ModelMismatch,
        `${folder.dir}/config.json: image_size ${image} does not tile into patches of ${patch} over ${stages} stages`,
        { folder: folder.dir },
      );
    const tokens = grid * grid;
    const { session } = await encoderSession(folder, runtime);
    validateIo(session, folder, [{ name: 'pixel_values', type: 'float32', dims: [null, 3, image, image] }], {
      name: OUTPUT,
      type: 'float32',
      dims: [null, tokens, dim],
    });
    return new SwinVisualEncoder(folder, session, dim, tokens, proc);
  }

  /** Frames [F, H, W, 3] uint8 -> normalised [F, 3, H, W] float32; no frames means quarantine. */
  prepare(rgb: Uint8Array, frames: number): VisualInput | Quarantine {
    if (frames === 0) return { quarantine: 'no_frames: the utterance has no frames' };
    const { size, rescale, mean, std } = this.proc;
    const plane = size * size;
    if (rgb.length !== frames * plane * 3)
      throw new Error(`frames buffer holds ${rgb.length} bytes, expected ${frames * plane * 3}`);
    const pixels = new Float32Array(frames * 3 * plane);
    // a 256-entry table per channel with transformers' rounding: rescale in float64 then cast to
    // float32, normalise in float32
    const lut = [0, 1, 2].map((c) =>
      Float32Array.from({ length: 256 }, (_, v) =>
        Math.fround(Math.fround(Math.fround(v * rescale) - Math.fround(mean[c])) / Math.fround(std[c])),
      ),
    );
    for (let f = 0; f < frames; f++) {
      const src = f * plane * 3;
      const dst = f * 3 * plane;
      for (let p = 0; p < plane; p++) {
        pixels[dst + p] = lut[0][rgb[src + p * 3]];
        pixels[dst + plane + p] = lut[1][rgb[src + p * 3 + 1]];
        pixels[dst + 2 * plane + p] = lut[2][rgb[src + p * 3 + 2]];
      }
    }
    return { pixels, frames, flags: [] };
  }

  /** Runs the frames of whole utterances in chunks of at most `batchFrames` frames. */
  async encode(batch: readonly VisualInput[], batchFrames: number): Promise<Encoded[]> {
    const total = batch.reduce((n, x) => n + x.frames, 0);
    const per = 3 * this.proc.size * this.proc.size;
    const all = new Float32Array(total * this.tokens * this.dim);
    const frames: Float32Array[] = [];
    for (const x of batch) for (let f = 0; f < x.frames; f++) frames.push(x.pixels.subarray(f * per, (f + 1) * per));
    for (let start = 0; start < total; start += batchFrames) {
      const n = Math.min(batchFrames, total - start);
      const input = new Float32Array(n * per);
      for (let k = 0; k < n; k++) input.set(frames[start + k], k * per);
      const result = await this.session.run(
        { pixel_values: new ort.Tensor('float32', input, [n, 3, this.proc.size, this.proc.size]) },
        [OUTPUT],
      );
      all.set(outputData(result, this.folder, OUTPUT, [n, this.tokens, this.dim]), start * this.tokens * this.dim);
    }
    let offset = 0;
    return batch.map((x) => {
      const rows = x.frames * this.tokens;
      const sequence = all.slice(offset * this.dim, (offset + rows) * this.dim);
      offset += rows;
      return {
        sequence,
        steps: x.frames,
        tokens: this.tokens,
        dim: this.dim,
        pooled: meanRows(sequence, 0, rows, this.dim),
        utteranceTokenStart: null,
      };
    });
  }
}
