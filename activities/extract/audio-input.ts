/**
 * What every speech encoder family offers the audio runner and `mer predict`, and the steps they
 * share: the sample-rate check, the too-short quarantine and the cut at maxSeconds.
 *
 * Decision: one interface, one class per input kind (raw waveform: wav2vec2, HuBERT, WavLM,
 * data2vec-audio; log-mel: Whisper), chosen by config.json's model_type in audio-encoder.ts. The
 * runner only sees the batching rule, so a new family cannot change how batches are planned behind
 * its back.
 */
import { z } from 'zod';
import { describeZodError } from '../../schemas/issues.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import type { ModelFolder } from './model-folder.ts';

export interface AudioInput {
  /** Raw families: the (normalised) samples; Whisper: the log-mel window, row-major [mel, frames]. */
  values: Float32Array;
  /** Samples of the utterance actually used (after the cut at maxSeconds). */
  samples: number;
  flags: string[];
}

/** A graph input as fed to onnxruntime (the benchmarks hand the same tensors to Python). */
export interface InputTensor {
  data: Float32Array | BigInt64Array;
  dtype: 'float32' | 'int64';
  shape: number[];
}

export interface AudioEncoder {
  readonly folder: ModelFolder;
  /** config.json's model_type (schemas/encoder-families.ts). */
  readonly modelType: string;
  readonly dim: number;
  readonly sampleRate: number;
  /** Fewest samples that give one output frame; shorter utterances are quarantined. */
  readonly receptiveField: number;
  /**
   * 'padded': utterances of any length share a batch and give exactly what they give alone (the model
   * masks the padding, or every input is a fixed window); 'equal': only exactly equal lengths do.
   */
  readonly batching: 'padded' | 'equal';
  /** Samples kept of an utterance: maxSeconds, capped by the family's input window. */
  maxSamples(maxSeconds: number): number;
  tooShort(samples: number): string;
  /** Frames stored for an utterance of `samples` samples (after the cut). */
  framesFor(samples: number): number;
  /** Converts one utterance; too short means quarantine, never padding. */
  prepare(pcm: Int16Array, sampleRate: number, maxSeconds: number): AudioInput | Quarantine;
  /** The graph's inputs for a batch. */
  feeds(batch: readonly AudioInput[]): Record<string, InputTensor>;
  encode(batch: readonly AudioInput[]): Promise<Encoded[]>;
}

/** The utterance as float samples in [-1, 1), cut at `maxSamples` (flagged), or a quarantine reason. */
export function toWave(
  enc: Pick<AudioEncoder, 'sampleRate' | 'receptiveField' | 'tooShort'>,
  pcm: Int16Array,
  sampleRate: number,
  maxSamples: number,
): { wave: Float32Array; flags: string[] } | Quarantine {
  if (sampleRate !== enc.sampleRate)
    return { quarantine: `audio_sample_rate: audio is ${sampleRate} Hz, the encoder needs ${enc.sampleRate} Hz` };
  if (pcm.length < enc.receptiveField) return { quarantine: enc.tooShort(pcm.length) };
  const flags: string[] = [];
  const n = Math.min(pcm.length, maxSamples);
  if (pcm.length > maxSamples) flags.push('audio_truncated');
  const wave = new Float32Array(n);
  for (let i = 0; i < n; i++) wave[i] = pcm[i] / 32768;
  return { wave, flags };
}

export function tooShortReason(samples: number, receptiveField: number, sampleRate: number): string {
  const ms = ((receptiveField / sampleRate) * 1000).toFixed(0);
  return `audio_too_short: ${samples} samples, shorter than the encoder's receptive field of ${receptiveField} (${ms} ms)`;
}

/** preprocessor_config.json through a schema, errors naming the file and the field. */
export function parsePreprocessor<S extends z.ZodType>(folder: ModelFolder, schema: S): z.infer<S> {
  const r = schema.safeParse(folder.preprocessor ?? {});
  if (!r.success) {
    throw new MerError(ErrorTypes.ModelMismatch, describeZodError(`${folder.dir}/preprocessor_config.json`, r.error), {
      folder: folder.dir,
    });
  }
  return r.data;
}

/** Every audio family reads 16 kHz mono, which is what the segment stage writes. */
export const sampleRate16k = z
  .literal(16000, { error: (i) => `is ${JSON.stringify(i.input)}; segments are 16 kHz` })
  .default(16000);
