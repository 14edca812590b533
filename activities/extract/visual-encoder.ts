/**
 * A vision encoder over the utterance's frames, for every family of schemas/encoder-families.ts
 * (Swin, ViT, CLIP vision tower, DINOv2 with or without registers): transformers' PIL-based image
 * processing from preprocessor_config.json (image-processing.ts), one onnxruntime call per chunk of
 * frames, and per frame the patch grid of last_hidden_state (visual-layout.ts). Special tokens (CLS,
 * registers) are kept out of the cached sequence; the CLS token feeds `pooling: cls`.
 *
 * CLIP: a CLIPVisionModel export's last_hidden_state is what transformers returns as
 * last_hidden_state, the encoder output before `post_layernorm` (which transformers applies only to
 * its pooler_output); the CLS row used by `pooling: cls` is therefore not layer-normed either.
 */
import type { VisualEncoderParams } from '../../schemas/extract.ts';
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ort } from '../engine/session.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import { processFrames } from './image-processing.ts';
import type { ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';
import { poolPatchGrid, visualLayout, type VisualLayout } from './visual-layout.ts';

export interface VisualInput {
  /** [frames, 3, height, width] normalised pixels. */
  pixels: Float32Array;
  frames: number;
  flags: string[];
}

const OUTPUT = 'last_hidden_state';

export type VisualOptions = Pick<VisualEncoderParams, 'pooling' | 'poolGrid'>;

export class VisualEncoder {
  private constructor(
    readonly folder: ModelFolder,
    private readonly session: ort.InferenceSession,
    readonly layout: VisualLayout,
  ) {}

  get dim(): number {
    return this.layout.dim;
  }

  /** Tokens cached per frame: the patch grid (7x7 = 49 for Swin at 224, 14x14 = 196 for a /16 ViT) or poolGrid^2. */
  get tokens(): number {
    return this.layout.tokens;
  }

  static async open(
    folder: ModelFolder,
    runtime: OnnxRuntimeSettings,
    options: VisualOptions = {},
  ): Promise<VisualEncoder> {
    const layout = visualLayout(folder, options);
    const { session } = await encoderSession(folder, runtime);
    const { height, width } = layout.processing;
    validateIo(session, folder, [{ name: 'pixel_values', type: 'float32', dims: [null, 3, height, width] }], {
      name: OUTPUT,
      type: 'float32',
      dims: [null, layout.outputTokens, layout.dim],
    });
    return new VisualEncoder(folder, session, layout);
  }

  /** Frames [F, 224, 224, 3] uint8 -> the model's normalised [F, 3, H, W] float32; no frames means quarantine. */
  prepare(rgb: Uint8Array, frames: number): VisualInput | Quarantine {
    if (frames === 0) return { quarantine: 'no_frames: the utterance has no frames' };
    return { pixels: processFrames(this.layout.processing, rgb, frames), frames, flags: [] };
  }

  /** Runs the frames of whole utterances in chunks of at most `batchFrames` frames. */
  async encode(batch: readonly VisualInput[], batchFrames: number): Promise<Encoded[]> {
    const { height, width } = this.layout.processing;
    const { outputTokens: T, dim: D } = this.layout;
    const total = batch.reduce((n, x) => n + x.frames, 0);
    const per = 3 * height * width;
    const all = new Float32Array(total * T * D);
    const frames: Float32Array[] = [];
    for (const x of batch) for (let f = 0; f < x.frames; f++) frames.push(x.pixels.subarray(f * per, (f + 1) * per));
    for (let start = 0; start < total; start += batchFrames) {
      const n = Math.min(batchFrames, total - start);
      const input = new Float32Array(n * per);
      for (let k = 0; k < n; k++) input.set(frames[start + k], k * per);
      const result = await this.session.run({ pixel_values: new ort.Tensor('float32', input, [n, 3, height, width]) }, [
        OUTPUT,
      ]);
      all.set(outputData(result, this.folder, OUTPUT, [n, T, D]), start * T * D);
    }
    let first = 0;
    return batch.map((x) => {
      const e = this.utterance(all, first, x.frames);
      first += x.frames;
      return e;
    });
  }

  /** One utterance's rows of the model output: patch grid (pooled to poolGrid if set) and pooled vector. */
  private utterance(all: Float32Array, firstFrame: number, frames: number): Encoded {
    const { outputTokens: T, dim: D, specialTokens: S, gridH, gridW, pooledGrid, tokens, pooling } = this.layout;
    const patches = gridH * gridW;
    const sequence = new Float32Array(frames * tokens * D);
    // pooled in float64 over the family's own patch tokens (or CLS rows), before any poolGrid
    const acc = new Float64Array(D);
    for (let f = 0; f < frames; f++) {
      const frameOff = (firstFrame + f) * T * D;
      const patchOff = frameOff + S * D;
      if (pooledGrid === null) sequence.set(all.subarray(patchOff, patchOff + patches * D), f * tokens * D);
      else poolPatchGrid(all, patchOff, gridH, gridW, D, pooledGrid, sequence, f * tokens * D);
      if (pooling === 'cls') for (let d = 0; d < D; d++) acc[d] += all[frameOff + d];
      else for (let p = 0; p < patches * D; p += D) for (let d = 0; d < D; d++) acc[d] += all[patchOff + p + d];
    }
    const n = pooling === 'cls' ? frames : frames * patches;
    const pooled = new Float32Array(D);
    for (let d = 0; d < D; d++) pooled[d] = acc[d] / n;
    return { sequence, steps: frames, tokens, dim: D, pooled, utteranceTokenStart: null };
  }
}
