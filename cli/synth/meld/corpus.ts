import type { CueTruth } from '../cues.ts';
import type { Rgb, TruthHeader } from '../common.ts';

/**
 * Synthetic MELD.Raw: the three split archives and the CSV copies, with the quirks of the real files
 * (docs/datasets.md). Clips are solid-colour frames with a tone; every quirk is placed deterministically
 * from the seed and recorded in the truth so tests can check that the pipeline reports it.
 *
 * This module holds what the corpus is (names, formats, speakers, the ground truth's shape); plan.ts
 * draws its rows and quirks, csv.ts and media.ts render them, write.ts lays it out on disk.
 */

export const MELD_DIR = 'MELD.Raw';
export const MELD_ARCHIVE = 'MELD.Raw.tar.gz';
export const MELD_HEADER =
  'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime';
export const MELD_FPS = '24000/1001';
export const MELD_SIZE = { width: 1280, height: 720 } as const;
export const MELD_AUDIO_RATE = 48000;

export const MELD_SPLITS = ['train', 'dev', 'test'] as const;
export type MeldSplit = (typeof MELD_SPLITS)[number];

export const MELD_SPLIT_FILES: Record<MeldSplit, { archive: string; folder: string; csv: string }> = {
  train: { archive: 'train.tar.gz', folder: 'train_splits', csv: 'train_sent_emo.csv' },
  dev: { archive: 'dev.tar.gz', folder: 'dev_splits_complete', csv: 'dev_sent_emo.csv' },
  test: { archive: 'test.tar.gz', folder: 'output_repeated_splits_test', csv: 'test_sent_emo.csv' },
};

export const MELD_EMOTIONS = ['neutral', 'joy', 'surprise', 'anger', 'sadness', 'disgust', 'fear'] as const;
export type MeldEmotion = (typeof MELD_EMOTIONS)[number];
export type MeldSentiment = 'neutral' | 'positive' | 'negative';

/** Byte form of a CSV copy: UTF-8 holding cp1252 bytes decoded as Latin-1 (C1 controls), or raw cp1252. */
export type MeldCsvEncoding = 'utf8-c1' | 'cp1252';

/**
 * Per-row quirks. c1-chars: the utterance has characters whose cp1252 byte is 0x80-0x9F (C1 controls
 * once decoded as Latin-1); utf8-curly: the same characters written as proper UTF-8 instead.
 */
export type MeldQuirk =
  | 'c1-chars'
  | 'utf8-curly'
  | 'quoted'
  | 'double-space'
  | 'nbsp'
  | 'one-digit-hour'
  | 'two-digit-fraction'
  | 'lf-ending'
  | 'dup-sr-no'
  | 'id-gap-before'
  | 'zero-duration';

export interface MeldTruthUtterance {
  /** `<split>/dia<D>_utt<U>`: Dialogue_ID is local to its split. */
  id: string;
  split: MeldSplit;
  dialogueId: number;
  utteranceId: number;
  srNo: number;
  speaker: string;
  /** The utterance as the parser should end up with it: C1 characters mapped back, NBSP as space, double spaces kept. */
  text: string;
  emotion: MeldEmotion;
  /** Same as emotion: the field name shared with the IEMOCAP truth. */
  label: MeldEmotion;
  sentiment: MeldSentiment;
  season: number;
  episode: number;
  /** As written in the CSV. */
  startTime: string;
  endTime: string;
  /** Seconds, the 2-digit fractions read as decimals. */
  start: number;
  end: number;
  /** Split archive (relative to MELD.Raw/) and the clip's entry inside it. */
  clipArchive: string;
  clip: string;
  /** Nominal duration of the encoded clip; null when the clip is missing. */
  clipDurationSec: number | null;
  clipFrames: number | null;
  flags: {
    missing: boolean;
    corrupt: boolean;
    /** Clip longer than 3x the CSV duration (rows with a positive CSV duration only). */
    overlong: boolean;
    twoFrame: boolean;
    /** StartTime == EndTime in the CSV. */
    zeroDuration: boolean;
  };
  quirks: MeldQuirk[];
  cue: CueTruth | null;
}

export interface MeldTruthExtraClip {
  split: MeldSplit;
  entry: string;
  kind: 'orphan' | 'prefixed-duplicate';
  /** For prefixed duplicates: the entry they copy byte for byte. */
  duplicateOf: string | null;
}

export interface MeldTruthCsv {
  split: MeldSplit;
  file: string;
  encoding: MeldCsvEncoding;
  rows: number;
  crlfLines: number;
  lfLines: number;
}

export interface MeldTruth extends TruthHeader {
  dataset: 'meld';
  splits: { split: MeldSplit; archive: string; folder: string; csv: string }[];
  csv: MeldTruthCsv[];
  speakers: Record<string, { rgb: Rgb; pitchHz: number }>;
  utterances: MeldTruthUtterance[];
  extraClips: MeldTruthExtraClip[];
  notes: string[];
}

export const SPEAKERS: Record<string, { rgb: Rgb; pitchHz: number }> = {
  Chandler: { rgb: [70, 90, 160], pitchHz: 120 },
  Joey: { rgb: [150, 80, 50], pitchHz: 110 },
  Monica: { rgb: [170, 60, 90], pitchHz: 215 },
  Phoebe: { rgb: [90, 150, 70], pitchHz: 235 },
  Rachel: { rgb: [180, 140, 60], pitchHz: 225 },
  Ross: { rgb: [60, 120, 130], pitchHz: 130 },
  Gunther: { rgb: [110, 110, 110], pitchHz: 105 },
  'Mrs. Geller': { rgb: [130, 70, 140], pitchHz: 200 },
};

export const FRAME_SEC = 1001 / 24000;

export function framesFor(durationSec: number): number {
  return Math.max(2, Math.round(durationSec / FRAME_SEC));
}
