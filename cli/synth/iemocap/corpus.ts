import type { CueTruth } from '../cues.ts';
import type { Rgb, TruthHeader } from '../common.ts';

/**
 * Synthetic IEMOCAP_full_release: the real folder layout and annotation formats (see
 * docs/datasets.md), with media made of coloured panels and tones. Annotation bytes depend only on
 * the seed and scale; media bytes additionally on the ffmpeg build.
 *
 * This module holds what the corpus is (names, sizes, labels, the ground truth's shape); plan.ts draws
 * its content, annotations.ts and media.ts render it, write.ts lays it out on disk.
 */

export const IEMOCAP_DIR = 'IEMOCAP_full_release';
export const IEMOCAP_ARCHIVE = 'IEMOCAP_full_release.tar.gz';
export const IEMOCAP_SAMPLE_RATE = 16000;
export const IEMOCAP_FPS = '30000/1001';
export const IEMOCAP_SIZE = { width: 720, height: 480 } as const;

/** Panel rectangles inside the 720x480 frame (rows 0-121 and 360-479 are letterbox black). */
export const IEMOCAP_PANELS = {
  left: { x: 6, y: 122, w: 349, h: 238 },
  right: { x: 362, y: 122, w: 349, h: 238 },
} as const;

export const IEMOCAP_LABELS = ['neu', 'fru', 'ang', 'sad', 'exc', 'hap', 'sur', 'fea', 'oth', 'dis', 'xxx'] as const;
export type IemocapLabel = (typeof IEMOCAP_LABELS)[number];
export type VotedLabel = Exclude<IemocapLabel, 'xxx'>;

export type Gender = 'F' | 'M';
export type Side = 'left' | 'right';

export interface IemocapTruthUtterance {
  /** Turn id, e.g. `Ses01M_script02_1_F012`. */
  id: string;
  dialog: string;
  session: number;
  scripted: boolean;
  speaker: Gender;
  /** Panel of the speaking actor in the dialog video (the actor named in the dialog id is on the left). */
  side: Side;
  label: IemocapLabel;
  vad: [number, number, number];
  /** Seconds, exactly as written (4 decimals). */
  start: number;
  end: number;
  startText: string;
  endText: string;
  text: string;
  /** Relative to the corpus folder; listed even when the file was deliberately left out. */
  sentenceWav: string;
  /** Sample count of the sentence wav (= its cut from the dialog wav). */
  samples: number;
  /** First sample of the cut in the dialog wav. */
  dialogOffsetSamples: number;
  flags: { missingWav: boolean };
  cue: CueTruth | null;
}

export interface IemocapTruthDialog {
  id: string;
  session: number;
  scripted: boolean;
  /** Gender of the marker-wearing actor named in the id; that actor is on the left panel. */
  leftSpeaker: Gender;
  left: { speaker: Gender; rgb: Rgb };
  right: { speaker: Gender; rgb: Rgb };
  durationSec: number;
  avi: string;
  wav: string;
  transcription: string;
  evaluation: string;
  /** Channel 0 carries the left actor's microphone, channel 1 the right actor's (with a little crosstalk). */
  wavChannels: 2;
  turns: string[];
  /** Transcription lines that are not evaluated turns (XX ids and other shapes), verbatim. */
  unevaluatedLines: string[];
}

export interface IemocapTruth extends TruthHeader {
  dataset: 'iemocap';
  dialogs: IemocapTruthDialog[];
  utterances: IemocapTruthUtterance[];
  /** macOS `._*` files, relative to the corpus folder. */
  residue: string[];
  notes: string[];
}

/** Seconds in 1/10000 s units → `12.3400`. Integer arithmetic avoids toFixed's binary rounding. */
export function fmt4(t: number, intDigits = 1): string {
  return `${String(Math.floor(t / 10000)).padStart(intDigits, '0')}.${String(t % 10000).padStart(4, '0')}`;
}

/** 1/10000 s → sample index at 16 kHz (exactly 1.6 samples per unit). */
export function toSample(t: number): number {
  return Math.round((t * 8) / 5);
}
