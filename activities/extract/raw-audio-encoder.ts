/**
 * The raw-waveform speech encoders: wav2vec2, HuBERT, WavLM and data2vec-audio. Input as
 * transformers' Wav2Vec2FeatureExtractor makes it from preprocessor_config.json: 16 kHz samples,
 * zero-mean unit-variance per utterance when `do_normalize` (over the real samples only, as it does
 * for a padded batch), `attention_mask` fed when `return_attention_mask`. Frames from config.json's
 * conv_kernel/conv_stride.
 *
 * Batching (features must not depend on the batch: batch size is not in the cache key). Padding is
 * used only where it provably changes nothing, which transformers' own padded batch shows
 * (scripts/extract/tiny_audio.py records it): the feature extractor returns a mask, the conv stack
 * normalises per frame (`feat_extract_norm: layer`; `group` norm runs over time and so over the
 * padding) and one positional convolution reads the zeroed padding (data2vec-audio stacks several,
 * the second reads the first's output at padded frames). wavlm-base-plus (mask, group norm) and
 * data2vec-audio therefore get the mask but batch equal lengths only, like wav2vec2-base.
 */
import { z } from 'zod';
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { ort } from '../engine/session.ts';
import {
  parsePreprocessor,
  sampleRate16k,
  toWave,
  tooShortReason,
  type AudioEncoder,
  type AudioInput,
  type InputTensor,
} from './audio-input.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import { isQuarantine, meanRows } from './encoder.ts';
import { configInt, configIntList, type ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';

const OUTPUT = 'last_hidden_state';
/** transformers' zero_mean_unit_var_norm adds this to the variance. */
const VARIANCE_EPS = 1e-7;

/** The fields of Wav2Vec2FeatureExtractor this stage reads, with its defaults. */
const PreprocessorSchema = z.object({
  feature_size: z.literal(1, { error: 'must be 1 (mono waveform input)' }).default(1),
  sampling_rate: sampleRate16k,
  padding_value: z.number().default(0),
  do_normalize: z.boolean().default(true),
  return_attention_mask: z.boolean().default(false),
});

/** Why padding would change this model's frames, or null when a masked padded batch is exact. */
function paddingChanges(folder: ModelFolder, modelType: string): string | null {
  const norm = modelType === 'data2vec-audio' ? 'layer' : (folder.config.feat_extract_norm ?? 'group');
  if (norm !== 'layer') return `feat_extract_norm ${JSON.stringify(norm)} normalises over time`;
  const posLayers = modelType === 'data2vec-audio' ? (folder.config.num_conv_pos_embeddings ?? 5) : 1;
  if (posLayers !== 1) return `${JSON.stringify(posLayers)} stacked positional convolutions read the padding`;
  return null;
}

export class RawAudioEncoder implements AudioEncoder {
  readonly receptiveField: number;

  private constructor(
    readonly folder: ModelFolder,
    readonly modelType: string,
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly sampleRate: number,
    readonly normalize: boolean,
    /** The feature extractor returns an attention mask; the graph gets one. */
    readonly attentionMask: boolean,
    private readonly feedMask: boolean,
    private readonly paddingValue: number,
    readonly batching: 'padded' | 'equal',
    /** Why this model batches equal lengths only (null when padded batches are exact). */
    readonly equalLengthsBecause: string | null,
    private readonly kernels: number[],
    private readonly strides: number[],
  ) {
    let rf = 1;
    let jump = 1;
    kernels.forEach((k, i) => {
      rf += (k - 1) * jump;
      jump *= strides[i];
    });
    this.receptiveField = rf;
  }

  static async open(folder: ModelFolder, runtime: OnnxRuntimeSettings, modelType: string): Promise<RawAudioEncoder> {
    const dim = configInt(folder, 'hidden_size');
    const kernels = configIntList(folder, 'conv_kernel');
    const strides = configIntList(folder, 'conv_stride');
    if (kernels.length !== strides.length) {
      throw new MerError(
        ErrorTypes.ModelMismatch,
        `${folder.dir}/config.json: conv_kernel and conv_stride differ in length`,
        { folder: folder.dir },
      );
    }
    const pre = parsePreprocessor(folder, PreprocessorSchema);
    const { session } = await encoderSession(folder, runtime, { cpuMemArena: false });
    // a model whose feature extractor returns no mask was trained without one (wav2vec2-base); a graph
    // that has the input anyway gets all ones, which is the same as none
    validateIo(
      session,
      folder,
      [
        { name: 'input_values', type: 'float32', dims: [null, null] },
        { name: 'attention_mask', type: 'int64', dims: [null, null], optional: !pre.return_attention_mask },
      ],
      { name: OUTPUT, type: 'float32', dims: [null, null, dim] },
    );
    const feedMask = session.inputNames.includes('attention_mask');
    const because = pre.return_attention_mask
      ? paddingChanges(folder, modelType)
      : 'its feature extractor returns no attention mask';
    return new RawAudioEncoder(
      folder,
      modelType,
      session,
      dim,
      pre.sampling_rate,
      pre.do_normalize,
      pre.return_attention_mask,
      feedMask,
      pre.padding_value,
      because === null ? 'padded' : 'equal',
      because,
      kernels,
      strides,
    );
  }

  maxSamples(maxSeconds: number): number {
    return Math.floor(maxSeconds * this.sampleRate);
  }

  tooShort(samples: number): string {
    return tooShortReason(samples, this.receptiveField, this.sampleRate);
  }

  /** Output frames for `samples` input samples (about 50 per second). */
  framesFor(samples: number): number {
    let n = samples;
    this.kernels.forEach((k, i) => {
      n = Math.floor((n - k) / this.strides[i]) + 1;
    });
    return n;
  }

  prepare(pcm: Int16Array, sampleRate: number, maxSeconds: number): AudioInput | Quarantine {
    const w = toWave(this, pcm, sampleRate, this.maxSamples(maxSeconds));
    if (isQuarantine(w)) return w;
    const values = w.wave;
    const n = values.length;
    if (this.normalize) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += values[i];
      const mean = sum / n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
      const scale = 1 / Math.sqrt(ss / n + VARIANCE_EPS);
      for (let i = 0; i < n; i++) values[i] = (values[i] - mean) * scale;
    }
    return { values, samples: n, flags: w.flags };
  }

  feeds(batch: readonly AudioInput[]): Record<string, InputTensor> {
    const n = Math.max(...batch.map((x) => x.values.length));
    if (this.batching === 'equal' && batch.some((x) => x.values.length !== n)) {
      throw new Error(
        `${this.modelType} batches of ${this.folder.dir} must hold utterances of equal length (${this.equalLengthsBecause}: padding would change their frames)`,
      );
    }
    const values = new Float32Array(batch.length * n).fill(this.paddingValue);
    batch.forEach((x, i) => values.set(x.values, i * n));
    const out: Record<string, InputTensor> = {
      input_values: { data: values, dtype: 'float32', shape: [batch.length, n] },
    };
    if (this.feedMask) {
      const mask = new BigInt64Array(batch.length * n);
      batch.forEach((x, i) => mask.fill(1n, i * n, i * n + x.values.length));
      out.attention_mask = { data: mask, dtype: 'int64', shape: [batch.length, n] };
    }
    return out;
  }

  async encode(batch: readonly AudioInput[]): Promise<Encoded[]> {
    const feeds = this.feeds(batch);
    const n = feeds.input_values.shape[1];
    const frames = this.framesFor(n);
    const result = await this.session.run(
      Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype, t.data, t.shape)])),
      [OUTPUT],
    );
    const h = outputData(result, this.folder, OUTPUT, [batch.length, frames, this.dim]);
    return batch.map((x, i) => {
      // frames past the utterance's own come from padding (masked): not stored, not pooled
      const own = this.framesFor(x.values.length);
      const start = i * frames * this.dim;
      const sequence = h.slice(start, start + own * this.dim);
      return {
        sequence,
        steps: own,
        tokens: 1,
        dim: this.dim,
        pooled: meanRows(sequence, 0, own, this.dim),
        utteranceTokenStart: null,
      };
    });
  }
}
