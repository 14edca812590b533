/** Synthetic manifest rows with the real corpora's structure (sessions, speakers, dialogues, splits). */
import type { ManifestRow } from '../../schemas/manifest.ts';
import { Rng } from '../../activities/model/rng.ts';

/** The fields every synthetic row shares unless it says otherwise. */
export const manifestRowBase = {
  speaker: '',
  gender: null,
  interaction: null,
  startSec: 0,
  endSec: 1,
  text: 'text',
  labelNative: 'neu',
  sentiment: null,
  valence: null,
  arousal: null,
  dominance: null,
  audioKey: null,
  videoKey: null,
  dialogAudioKey: null,
  videoHalf: null,
  season: null,
  episode: null,
  srNo: null,
  flags: [],
} satisfies Partial<ManifestRow>;

export interface IemocapShape {
  /** Dialogues per session (session 4 gets `session4Dialogues`). */
  dialogues: number;
  session4Dialogues: number;
  turns: number;
  classes: number;
  /** Share of turns outside the label set. */
  unlabelled: number;
  seed: number;
}

/**
 * IEMOCAP-like rows: dialogues `Ses0<s>F_impro<n>` (unpadded numbers, so natural and lexical order
 * differ), turns alternating between the session's F and M actors.
 */
export function iemocapRows(shape: IemocapShape): ManifestRow[] {
  const rng = new Rng(shape.seed, 1);
  const rows: ManifestRow[] = [];
  for (let s = 1; s <= 5; s++) {
    const n = s === 4 ? shape.session4Dialogues : shape.dialogues;
    for (let d = 1; d <= n; d++) {
      const dialogueId = `Ses0${s}F_impro${d}`;
      for (let t = 0; t < shape.turns; t++) {
        const speaker = t % 2 === 0 ? 'F' : 'M';
        const labelled = rng.uniform() >= shape.unlabelled;
        const labelIndex = labelled ? Math.floor(rng.uniform() * shape.classes) : -1;
        rows.push({
          ...manifestRowBase,
          utteranceId: `${dialogueId}_${speaker}${String(t).padStart(3, '0')}`,
          dataset: 'iemocap',
          split: `Session${s}`,
          session: s,
          dialogueId,
          speaker,
          gender: speaker,
          interaction: 'improvised',
          videoHalf: speaker === 'F' ? 'left' : 'right',
          labelSet: '6class',
          labelIndex,
          labelName: labelled ? `c${labelIndex}` : null,
          utteranceIndex: t,
        });
      }
    }
  }
  return rows;
}

export function meldRows(perSplit: Record<'train' | 'dev' | 'test', number>, seed: number): ManifestRow[] {
  const rng = new Rng(seed, 2);
  const rows: ManifestRow[] = [];
  for (const split of ['train', 'dev', 'test'] as const) {
    for (let i = 0; i < perSplit[split]; i++) {
      const dia = Math.floor(i / 5);
      const labelIndex = Math.floor(rng.uniform() * 7);
      rows.push({
        ...manifestRowBase,
        utteranceId: `meld_${split}_dia${dia}_utt${i % 5}`,
        dataset: 'meld',
        split,
        session: null,
        dialogueId: `${split}_dia${dia}`,
        speaker: 'Joey',
        labelSet: 'meld7',
        labelIndex,
        labelName: `c${labelIndex}`,
        sentiment: 'neutral',
        utteranceIndex: i % 5,
      });
    }
  }
  return rows;
}
