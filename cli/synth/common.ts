import type { CueSettings } from './cues.ts';

/** What both synthetic corpora share: scale, generator version, writer options, the truth file's header. */

export type Rgb = readonly [number, number, number];
export type SynthScale = 'tiny' | 'small';

/** Anything media-related that depends on these bytes changes only with this number. */
export const GENERATOR_VERSION = 1;

/** What a corpus writer (synthIemocap, synthMeld) is given. */
export interface CorpusOptions {
  out: string;
  seed: number;
  scale: SynthScale;
  cue: CueSettings | null;
  ffmpeg: string;
  ffmpegVersion: string;
  concurrency: number;
  signal?: AbortSignal;
}

/** The fields every synth-truth.json starts with, after `dataset`. */
export interface TruthHeader {
  generatorVersion: number;
  seed: number;
  scale: SynthScale;
  ffmpegVersion: string;
  corpusDir: string;
  /** Set by synthesize() when it also packs the archive. */
  archive: string | null;
  cue: CueSettings | null;
}

export function truthHeader(opts: CorpusOptions, corpusDir: string): TruthHeader {
  return {
    generatorVersion: GENERATOR_VERSION,
    seed: opts.seed,
    scale: opts.scale,
    ffmpegVersion: opts.ffmpegVersion,
    corpusDir,
    archive: null,
    cue: opts.cue,
  };
}
