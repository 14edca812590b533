import type { SynthScale } from '../common.ts';
import { cueLadder, renderUtterance } from '../cues.ts';
import type { CueSettings, UttRender } from '../cues.ts';
import { Rng } from '../random.ts';
import { FRAME_SEC, MELD_EMOTIONS, SPEAKERS, framesFor } from './corpus.ts';
import type { MeldEmotion, MeldQuirk, MeldSentiment, MeldSplit } from './corpus.ts';
import { formatMeldTime } from './csv.ts';

/**
 * What a synthetic MELD corpus says: per split, dialogues, rows with emotion, speaker, words and times,
 * the rows that carry the real files' quirks, and the clips to encode, all drawn from the seed. The
 * draws' order is part of the corpus: reorder nothing.
 */

const EMOTION_WEIGHTS: readonly (readonly [MeldEmotion, number])[] = [
  ['neutral', 4710],
  ['joy', 1743],
  ['surprise', 1205],
  ['anger', 1109],
  ['sadness', 683],
  ['disgust', 271],
  ['fear', 268],
];

/** Label cues for the `cue` option. */
export const MELD_CUES = cueLadder(MELD_EMOTIONS, 'meh yay whoa furious sorrow gross scared', 60);

const MAIN_SPEAKERS = ['Chandler', 'Joey', 'Monica', 'Phoebe', 'Rachel', 'Ross'];
const GUESTS = ['Gunther', 'Mrs. Geller'];

// Curly punctuation throughout, as in the source the old copies were made from.
const PHRASES = [
  'Oh my God!',
  'I\u2019m fine.',
  'You\u2019re kidding.',
  'What?',
  'Okay.',
  'Yeah.',
  'No way!',
  'Hey!',
  'I don\u2019t know\u2026',
  'We have to talk.',
  'It\u2019s not a big deal.',
  'Are you serious?',
  'Come on!',
  'That\u2019s great.',
  'I can\u2019t believe this.',
  'Wait, what?',
  'Hi.',
  'So\u2026 how was it?',
  'Fine.',
  'I thought you\u2019d never ask.',
  'Let\u2019s go.',
  'Why would you do that?',
  'Whatever you want.',
  'This is the best day ever!',
  'I\u2019m not going.',
  'Really?',
  'Listen to me.',
  'Uh, sure.',
];

interface SplitScale {
  dialogues: Record<MeldSplit, number>;
  utts: readonly [number, number];
  durMs: readonly [number, number];
}
const SCALE: Record<SynthScale, SplitScale> = {
  tiny: { dialogues: { train: 10, dev: 4, test: 4 }, utts: [2, 4], durMs: [500, 1100] },
  small: { dialogues: { train: 40, dev: 10, test: 12 }, utts: [3, 6], durMs: [800, 2000] },
};

function sentimentOf(emotion: MeldEmotion, rng: Rng): MeldSentiment {
  if (emotion === 'neutral') return 'neutral';
  if (emotion === 'joy') return 'positive';
  if (emotion === 'surprise') return rng.chance(0.6) ? 'positive' : 'negative';
  return 'negative';
}

export type ClipKind = 'normal' | 'missing' | 'corrupt' | 'overlong' | 'two-frame';

export interface Row {
  split: MeldSplit;
  dialogueId: number;
  utteranceId: number;
  srNo: number;
  speaker: string;
  source: string;
  emotion: MeldEmotion;
  sentiment: MeldSentiment;
  season: number;
  episode: number;
  startMs: number;
  endMs: number;
  startTime: string;
  endTime: string;
  eol: '\r\n' | '\n';
  quirks: MeldQuirk[];
  clipKind: ClipKind;
  render: UttRender;
}

export interface ClipJob {
  split: MeldSplit;
  name: string;
  speaker: string;
  render: UttRender;
  durationSec: number;
  frames: number;
  kind: ClipKind;
  seedKey: string;
}

/** Quirks each placed on one row of a split (`special` below): in every split, then per split. */
const EVERY_SPLIT_ROLES = ['c1', 'quoted', 'double-space', 'nbsp', 'two-digit', 'one-digit-hour', 'lf'];
const SPLIT_ROLES: Record<MeldSplit, string[]> = {
  train: ['corrupt', 'two-frame', 'zero-duration', 'overlong', 'dup-sr-no', 'utf8-curly'],
  dev: ['missing'],
  test: ['overlong'],
};

export function planSplit(
  split: MeldSplit,
  seed: number,
  scale: SynthScale,
  cue: CueSettings | null,
): { rows: Row[]; extras: ClipJob[]; prefixed: string[] } {
  const sc = SCALE[scale];
  const r = new Rng(seed).fork('meld', split);
  const nDia = sc.dialogues[split];

  // Dialogue skeletons first, so special rows can be chosen among all rows of the split.
  const dialogues = Array.from({ length: nDia }, (_, d) => {
    const dr = r.fork('dialogue', d);
    const n = dr.int(sc.utts[0], sc.utts[1]);
    const cast = dr.shuffle([...MAIN_SPEAKERS]).slice(0, dr.int(2, 3));
    if (dr.chance(0.15)) cast.push(dr.pick(GUESTS));
    return { d, n, cast, season: dr.int(1, 9), episode: dr.int(1, 24), startMs: dr.int(30_000, 1_300_000) };
  });
  const total = dialogues.reduce((s, x) => s + x.n, 0);

  // Emotions: every one of the 7 at least once per split, the rest drawn with the real train mix.
  const emotions: MeldEmotion[] = [...MELD_EMOTIONS];
  const er = r.fork('emotions');
  while (emotions.length < total) emotions.push(er.weighted(EMOTION_WEIGHTS));
  er.shuffle(emotions);

  // Row positions (0-based over the split) that carry one deliberate quirk each, all distinct.
  const special = r.fork('special').sample(total, 13);
  const at = (k: number) => special[k % special.length];
  const roles = new Map<number, string[]>();
  const assign = (row: number, role: string) => roles.set(row, [...(roles.get(row) ?? []), role]);
  [...EVERY_SPLIT_ROLES, ...SPLIT_ROLES[split]].forEach((role, k) => assign(at(k), role));

  // Utterance_ID gaps in train: two dialogues skip an id (never the first), as 72 real ones do.
  const gapDialogues = split === 'train' ? new Set(r.fork('gaps').sample(nDia, 2)) : new Set<number>();

  const rows: Row[] = [];
  let srNo = 0;
  let index = 0;
  for (const dia of dialogues) {
    const dr = r.fork('rows', dia.d);
    let t = dia.startMs;
    let uid = 0;
    for (let i = 0; i < dia.n; i++) {
      const role = roles.get(index) ?? [];
      const has = (x: string) => role.includes(x);
      const quirks: MeldQuirk[] = [];
      if (gapDialogues.has(dia.d) && i === Math.max(1, Math.floor(dia.n / 2))) {
        uid++;
        quirks.push('id-gap-before');
      }
      const twoDigit = has('two-digit');
      const oneDigitHour = has('one-digit-hour') || dr.chance(0.25);
      if (twoDigit) quirks.push('two-digit-fraction');
      if (oneDigitHour) quirks.push('one-digit-hour');

      // Turns start a little before or after the previous end: overlaps happen, as in the real CSVs.
      let start = Math.max(dia.startMs, t + dr.int(-300, 800));
      let end = has('zero-duration') ? start : start + dr.int(sc.durMs[0], sc.durMs[1]);
      if (twoDigit) {
        start = Math.round(start / 10) * 10;
        end = Math.round(end / 10) * 10;
      }
      if (has('zero-duration')) quirks.push('zero-duration');
      t = Math.max(t, end);

      const emotion = emotions[index];
      const speaker = dr.pick(dia.cast);
      let phrases = [dr.pick(PHRASES)];
      if (dr.chance(0.4)) phrases.push(dr.pick(PHRASES));
      if (has('c1')) phrases = ['I don\u2019t know\u2026', '\u201cFine\u201d \u2014 she said.'];
      if (has('quoted')) phrases = ['He said, "no way," and left.', ...phrases.slice(0, 1)];
      if (has('utf8-curly')) phrases = ['I\u2019m fine.', 'It\u2019s not a big deal\u2026'];
      const render = renderUtterance(
        { words: phrases, pitchHz: SPEAKERS[speaker].pitchHz },
        MELD_CUES[emotion],
        cue,
        new Rng(seed).fork('meld-cue', split, dia.d, uid),
      );
      let source = render.words.join(has('double-space') ? '  ' : ' ');
      if (has('double-space') && !source.includes('  ')) source = `${source}  Yeah.`;
      if (has('nbsp')) source = source.includes(' ') ? source.replace(' ', '\u00a0') : `${source}\u00a0Okay.`;
      if (/[\u2018\u2019\u201c\u201d\u2026\u2013\u2014]/.test(source) && !has('utf8-curly')) quirks.push('c1-chars');
      if (has('utf8-curly')) quirks.push('utf8-curly');
      if (/[",]/.test(source)) quirks.push('quoted');
      if (source.includes('  ')) quirks.push('double-space');
      if (source.includes('\u00a0')) quirks.push('nbsp');

      if (has('dup-sr-no') && srNo > 0) quirks.push('dup-sr-no');
      else srNo++;
      const eol = has('lf') || dr.chance(0.2) ? '\n' : '\r\n';
      if (eol === '\n') quirks.push('lf-ending');

      const clipKind: ClipKind = has('missing')
        ? 'missing'
        : has('corrupt')
          ? 'corrupt'
          : has('overlong')
            ? 'overlong'
            : has('two-frame')
              ? 'two-frame'
              : 'normal';
      rows.push({
        split,
        dialogueId: dia.d,
        utteranceId: uid,
        srNo,
        speaker,
        source,
        emotion,
        sentiment: sentimentOf(emotion, dr),
        season: dia.season,
        episode: dia.episode,
        startMs: start,
        endMs: end,
        startTime: formatMeldTime(start, oneDigitHour, twoDigit),
        endTime: formatMeldTime(end, oneDigitHour, twoDigit),
        eol,
        quirks: [...new Set(quirks)].sort(),
        clipKind,
        render,
      });
      uid++;
      index++;
    }
  }

  // Clips with no CSV row: one for a dialogue the CSV lacks, one past the last utterance of dialogue 0.
  const extras: ClipJob[] = [];
  const prefixed: string[] = [];
  if (split === 'train') {
    const last0 = Math.max(...rows.filter((x) => x.dialogueId === 0).map((x) => x.utteranceId));
    for (const name of [`dia${nDia}_utt0.mp4`, `dia0_utt${last0 + 2}.mp4`]) {
      const speaker = 'Joey';
      extras.push({
        split,
        name,
        speaker,
        render: { words: [], pitchHz: SPEAKERS[speaker].pitchHz, patchRgb: null, cue: null },
        durationSec: framesFor(1) * FRAME_SEC,
        frames: framesFor(1),
        kind: 'normal',
        seedKey: `orphan/${name}`,
      });
    }
  }
  if (split === 'test') {
    for (const x of rows.filter((x) => x.clipKind === 'normal').slice(0, 2))
      prefixed.push(`dia${x.dialogueId}_utt${x.utteranceId}.mp4`);
  }
  return { rows, extras, prefixed };
}

export function clipJob(row: Row): ClipJob | null {
  const csvSec = (row.endMs - row.startMs) / 1000;
  const name = `dia${row.dialogueId}_utt${row.utteranceId}.mp4`;
  const base = {
    split: row.split,
    name,
    speaker: row.speaker,
    render: row.render,
    kind: row.clipKind,
    seedKey: `${row.split}/${name}`,
  };
  switch (row.clipKind) {
    case 'missing':
      return null;
    case 'two-frame':
      return { ...base, frames: 2, durationSec: 2 * FRAME_SEC };
    case 'overlong': {
      // Like test dia38_utt4: the clip runs on far past its utterance.
      const frames = framesFor(3 * Math.max(csvSec, 0.5) + 1.5);
      return { ...base, frames, durationSec: frames * FRAME_SEC };
    }
    default: {
      const frames = framesFor(csvSec > 0 ? csvSec : 1);
      return { ...base, frames, durationSec: frames * FRAME_SEC };
    }
  }
}
