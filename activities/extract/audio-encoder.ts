/**
 * wav2vec2 over utterance audio: per-utterance zero-mean unit-variance normalisation at 16 kHz as in
 * transformers' Wav2Vec2FeatureExtractor, then the frame sequence and its mean. wav2vec2-base's group
 * norm runs over time, so a padded batch changes every frame: batches hold equal lengths only.
 */
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { ort } from '../engine/session.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import { meanRows } from './encoder.ts';
import { configInt, configIntList, type ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';

export interface AudioInput {
  values: Float32Array;
  flags: string[];
}

const OUTPUT = 'last_hidden_state';
/** transformers' zero_mean_unit_var_norm adds this to the variance. */
const VARIANCE_EPS = 1e-7;

export class Wav2Vec2AudioEncoder {
  private constructor(
    readonly folder: ModelFolder,
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly sampleRate: number,
    readonly normalize: boolean,
    private readonly kernels: number[],
    private readonly strides: number[],
  ) {}

  static async open(folder: ModelFolder, runtime: OnnxRuntimeSettings): Promise<Wav2Vec2AudioEncoder> {
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
    const pre = folder.preprocessor ?? {};
    const sampleRate = configInt(folder, 'sampling_rate', pre);
    if (sampleRate !== 16000) {
      throw new MerError(
        ErrorTypes.ModelMismatch,
        `${folder.dir}/preprocessor_config.json: sampling_rate ${sampleRate}; segments are 16 kHz`,
        { folder: folder.dir },
      );
    }
    const { session } = await encoderSession(folder, runtime, { cpuMemArena: false });
    // the feature extractor of wav2vec2-base returns no attention mask, so none is fed
    validateIo(session, folder, [{ name: 'input_values', type: 'float32', dims: [null, null] }], {
      name: OUTPUT,
      type: 'float32',
      dims: [null, null, dim],
    });
    return new Wav2Vec2AudioEncoder(folder, session, dim, sampleRate, pre.do_normalize !== false, kernels, strides);
  }

  /** Samples the convolutional feature encoder needs for one output frame (400 = 25 ms for wav2vec2-base). */
  get receptiveField(): number {
    let rf = 1;
    let jump = 1;
    this.kernels.forEach((k, i) => {
      rf += (k - 1) * jump;
      jump *= this.strides[i];
    });
    return rf;
  }

  tooShort(samples: number): string {
    const rf = this.receptiveField;
    return `audio_too_short: ${samples} samples, shorter than the encoder's receptive field of ${rf} (${((rf / this.sampleRate) * 1000).toFixed(0)} ms)`;
  }

  /** Output frames for `samples` input samples (about 50 per second). */
  framesFor(samples: number): number {
    let n = samples;
    this.kernels.forEach((k, i) => {
      n = Math.floor((n - k) / this.strides[i]) + 1;
    });
    return n;
  }

  /** Converts and normalises one utterance; too short for one frame means quarantine, never padding. */
  prepare(pcm: Int16Array, sampleRate: number, maxSeconds: number): AudioInput | Quarantine {
    if (sampleRate !== this.sampleRate)
      return { quarantine: `audio_sample_rate: audio is ${sampleRate} Hz, the encoder needs ${this.sampleRate} Hz` };
    const rf = this.receptiveField;
    if (pcm.length < rf) {
      return { quarantine: this.tooShort(pcm.length) };
    }
    const flags: string[] = [];
    const max = Math.floor(maxSeconds * sampleRate);
    const n = Math.min(pcm.length, max);
    if (pcm.length > max) flags.push('audio_truncated');
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = pcm[i] / 32768;
    if (this.normalize) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += values[i];
      const mean = sum / n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
      const scale = 1 / Math.sqrt(ss / n + VARIANCE_EPS);
      for (let i = 0; i < n; i++) values[i] = (values[i] - mean) * scale;
    }
    return { values, flags };
  }

  async encode(batch: readonly AudioInput[]): Promise<Encoded[]> {
    const n = batch[0].values.length;
    if (batch.some((x) => x.values.length !== n))
      throw new Error('wav2vec2 batches must hold utterances of equal length (group norm over time)');
    const input = new Float32Array(batch.length * n);
    batch.forEach((x, i) => input.set(x.values, i * n));
    const frames = this.framesFor(n);
    const result = await this.session.run({ input_values: new ort.Tensor('float32', input, [batch.length, n]) }, [
      OUTPUT,
    ]);
    const h = outputData(result, this.folder, OUTPUT, [batch.length, frames, this.dim]);
    return batch.map((_, i) => {
      const sequence = h.slice(i * frames * this.dim, (i + 1) * frames * this.dim);
      return {
        sequence,
        steps: frames,
        tokens: 1,
        dim: this.dim,
        pooled: meanRows(sequence, 0, frames, this.dim),
        utteranceTokenStart: null,
      };
    });
  }
}
