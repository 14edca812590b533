/**
 * The Whisper encoder (WhisperEncoder exported alone; the decoder is not needed): input_features
 * [batch, mel, 3000], the log-mel of a 30 s window (whisper-features.ts), last_hidden_state
 * [batch, 1500, d_model], one frame per 320 samples (20 ms).
 *
 * Decision: every input is the full window, so any utterances share a batch and give exactly what
 * they give alone. Of the 1500 frames only those that cover the utterance's real audio are stored and
 * pooled, ceil(samples / 320) and at least one: a 3 s utterance keeps 150 frames instead of carrying
 * 27 s of padding into the cache and the mean. The encoder itself still attends over the whole
 * window, as Whisper was trained. Longer utterances are cut at the window (maxSeconds is capped by
 * it) and flagged audio_truncated.
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
import { configInt, type ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';
import { WhisperFeatures } from './whisper-features.ts';

const OUTPUT = 'last_hidden_state';
/** The encoder's second convolution halves the mel frames. */
const CONV_STRIDE = 2;

const posInt = z.int().positive();
/** The fields of WhisperFeatureExtractor this stage reads, with its defaults. */
const PreprocessorSchema = z.object({
  feature_size: posInt.default(80),
  sampling_rate: sampleRate16k,
  hop_length: posInt.default(160),
  chunk_length: posInt.default(30),
  n_fft: posInt.default(400),
  n_samples: posInt.optional(),
  padding_value: z.number().default(0),
  dither: z.literal(0, { error: 'must be 0 (random dither would make features irreproducible)' }).default(0),
});

export class WhisperAudioEncoder implements AudioEncoder {
  readonly modelType = 'whisper';
  readonly batching = 'padded';
  readonly receptiveField: number;

  private constructor(
    readonly folder: ModelFolder,
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly sampleRate: number,
    readonly features: WhisperFeatures,
    /** Output frames of the window (max_source_positions, 1500). */
    private readonly positions: number,
  ) {
    // one STFT window (25 ms): the shortest audio that fills one log-mel frame
    this.receptiveField = features.p.nFft;
  }

  static async open(folder: ModelFolder, runtime: OnnxRuntimeSettings): Promise<WhisperAudioEncoder> {
    const dim = configInt(folder, 'd_model');
    const mel = configInt(folder, 'num_mel_bins');
    const positions = configInt(folder, 'max_source_positions');
    const pre = parsePreprocessor(folder, PreprocessorSchema);
    const nSamples = pre.n_samples ?? pre.chunk_length * pre.sampling_rate;
    const frames = Math.floor(nSamples / pre.hop_length);
    const mismatch = (msg: string) =>
      new MerError(ErrorTypes.ModelMismatch, `${folder.dir}: ${msg}`, { folder: folder.dir });
    if (pre.feature_size !== mel)
      throw mismatch(
        `preprocessor_config.json feature_size ${pre.feature_size} differs from config.json num_mel_bins ${mel}`,
      );
    if (frames !== positions * CONV_STRIDE)
      throw mismatch(
        `a ${nSamples}-sample window gives ${frames} mel frames, config.json max_source_positions ${positions} needs ${positions * CONV_STRIDE}`,
      );
    const { session } = await encoderSession(folder, runtime, { cpuMemArena: false });
    validateIo(session, folder, [{ name: 'input_features', type: 'float32', dims: [null, mel, frames] }], {
      name: OUTPUT,
      type: 'float32',
      dims: [null, positions, dim],
    });
    const features = new WhisperFeatures({
      melBins: mel,
      nFft: pre.n_fft,
      hopLength: pre.hop_length,
      nSamples,
      sampleRate: pre.sampling_rate,
      paddingValue: pre.padding_value,
    });
    return new WhisperAudioEncoder(folder, session, dim, pre.sampling_rate, features, positions);
  }

  maxSamples(maxSeconds: number): number {
    return Math.min(Math.floor(maxSeconds * this.sampleRate), this.features.p.nSamples);
  }

  tooShort(samples: number): string {
    return tooShortReason(samples, this.receptiveField, this.sampleRate);
  }

  /** Frames covering the real audio: ceil(samples / 320), at least 1, at most the window's 1500. */
  framesFor(samples: number): number {
    const perFrame = this.features.p.hopLength * CONV_STRIDE;
    return Math.min(this.positions, Math.max(1, Math.ceil(samples / perFrame)));
  }

  prepare(pcm: Int16Array, sampleRate: number, maxSeconds: number): AudioInput | Quarantine {
    const w = toWave(this, pcm, sampleRate, this.maxSamples(maxSeconds));
    if (isQuarantine(w)) return w;
    return { values: this.features.logMel(w.wave), samples: w.wave.length, flags: w.flags };
  }

  feeds(batch: readonly AudioInput[]): Record<string, InputTensor> {
    const size = this.features.p.melBins * this.features.frames;
    const data = new Float32Array(batch.length * size);
    batch.forEach((x, i) => {
      if (x.values.length !== size) throw new Error(`a Whisper input must be a log-mel window of ${size} values`);
      data.set(x.values, i * size);
    });
    return {
      input_features: { data, dtype: 'float32', shape: [batch.length, this.features.p.melBins, this.features.frames] },
    };
  }

  async encode(batch: readonly AudioInput[]): Promise<Encoded[]> {
    const t = this.feeds(batch).input_features;
    const result = await this.session.run({ input_features: new ort.Tensor('float32', t.data, t.shape) }, [OUTPUT]);
    const h = outputData(result, this.folder, OUTPUT, [batch.length, this.positions, this.dim]);
    return batch.map((x, i) => {
      const own = this.framesFor(x.samples);
      const start = i * this.positions * this.dim;
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
