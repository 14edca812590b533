import type { Rgb } from './common.ts';
import type { Rng } from './random.ts';

/** Cues: each label can leave a learnable trace per modality, each present only in part of the samples. */

export interface CueSettings {
  /** Probability that a given modality carries the label's cue in a given utterance (independently). */
  presence: number;
}

export type CueOption = boolean | Partial<CueSettings> | undefined;

export function cueSettings(opt: CueOption): CueSettings | null {
  if (!opt) return null;
  const presence = typeof opt === 'object' && opt.presence !== undefined ? opt.presence : 0.6;
  if (!(presence >= 0 && presence <= 1)) throw new Error(`cue presence must be in [0, 1], got ${presence}`);
  return { presence };
}

export interface LabelCue {
  word: string;
  pitchHz: number;
  rgb: Rgb;
}

export interface CueTruth {
  text: boolean;
  audio: boolean;
  video: boolean;
  word: string;
  pitchHz: number;
  rgb: Rgb;
}

/**
 * One saturated colour per cue word, the same in both corpora ("furious" is red in IEMOCAP and in MELD),
 * as `word=RRGGBB`: the hex form ffmpeg's filters take.
 */
const CUE_RGB: Record<string, Rgb> = Object.fromEntries(
  (
    'meh=808080 ugh=ff8000 furious=ff0000 sorrow=0000ff awesome=ff00ff glad=ffff00 yay=ffff00 whoa=00ffff ' +
    'scared=00ff00 anyway=ffffff gross=800080 hmm=008080'
  )
    .split(' ')
    .map((entry) => {
      const [word, rrggbb] = entry.split('=');
      const byte = (at: number) => parseInt(rrggbb.slice(at, at + 2), 16);
      return [word, [byte(0), byte(2), byte(4)] as const];
    }),
);

/** The lowest cue pitch: above every speaker's voice. */
const CUE_BASE_HZ = 320;

/**
 * Cues for `labels` in order: the i-th label says the i-th of the space-separated `words`, in that
 * word's colour, at CUE_BASE_HZ + i * stepHz, so no two labels of a corpus share a pitch.
 */
export function cueLadder<L extends string>(labels: readonly L[], words: string, stepHz: number): Record<L, LabelCue> {
  const list = words.split(' ');
  if (list.length !== labels.length) throw new Error(`${labels.length} labels but ${list.length} cue words`);
  return Object.fromEntries(
    labels.map((label, i) => [label, { word: list[i], pitchHz: CUE_BASE_HZ + i * stepHz, rgb: CUE_RGB[list[i]] }]),
  ) as Record<L, LabelCue>;
}

/** What one utterance's media is made of; the cue, when drawn, overrides parts of the neutral render. */
export interface UttRender {
  words: string[];
  pitchHz: number;
  /** Patch drawn over the speaker's picture while the utterance lasts; null = no patch. */
  patchRgb: Rgb | null;
  cue: CueTruth | null;
}

export function renderUtterance(
  base: { words: string[]; pitchHz: number },
  cue: LabelCue | null,
  settings: CueSettings | null,
  rng: Rng,
): UttRender {
  if (!settings || !cue) return { words: base.words, pitchHz: base.pitchHz, patchRgb: null, cue: null };
  const text = rng.chance(settings.presence);
  const audio = rng.chance(settings.presence);
  const video = rng.chance(settings.presence);
  const words = [...base.words];
  if (text) words.splice(rng.int(0, words.length), 0, cue.word);
  return {
    words,
    pitchHz: audio ? cue.pitchHz : base.pitchHz,
    patchRgb: video ? cue.rgb : null,
    cue: { text, audio, video, word: cue.word, pitchHz: cue.pitchHz, rgb: cue.rgb },
  };
}
