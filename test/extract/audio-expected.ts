/**
 * The references scripts/extract/tiny_audio.py wrote for the speech families beyond wav2vec2
 * (test/fixtures/models/audio-expected.json): summaries of the processed inputs, hidden states and
 * pooled vectors of PyTorch for the generated audio of inputs.ts.
 */
import { readFileSync } from 'node:fs';
import { MODELS } from './inputs.ts';

export interface ValuesSummary {
  length: number;
  stride: number;
  strided: number[];
  head: number[];
  tail: number[];
  sum: number;
  sumSquares: number;
}

export interface RawCase {
  name: string;
  samples: number;
  seed: number;
  values: ValuesSummary;
  shape: number[];
  sequence: number[];
  pooled: number[];
}

export interface RawFamily {
  modelType: string;
  folder: string;
  receptiveField: number;
  doNormalize: boolean;
  returnAttentionMask: boolean;
  cases: RawCase[];
  /** transformers' own padded batch against each utterance alone (mask models only). */
  paddedBatch?: { cases: string[]; maxDiffToAlone: number };
}

export interface WhisperCase {
  name: string;
  samples: number;
  seed: number;
  melFrames: number[];
  /** Log-mel columns at melFrames, row-major [melFrames.length, mel]. */
  mel: number[];
  melMean: number;
  shape: number[];
  sequenceFrames: number[];
  sequence: number[];
  pooled: number[];
}

export interface WhisperFamily {
  modelType: 'whisper';
  folder: string;
  melBins: number;
  cases: WhisperCase[];
}

export const audioExpected = JSON.parse(readFileSync(`${MODELS}audio-expected.json`, 'utf8')) as {
  torch: string;
  raw: RawFamily[];
  whisper: WhisperFamily[];
};

export const modelDir = (folder: string): string => `${MODELS}${folder}`;
