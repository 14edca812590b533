import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../activities/common/ffmpeg.ts';
import {
  BITEXACT_OUTPUT_ARGS,
  GENERATOR_VERSION,
  Rng,
  addNoise,
  drawbox,
  hex,
  mapLimit,
  mixInto,
  packTarGz,
  pcmBytes,
  renderUtterance,
  voice,
} from './common.ts';
import type { CueSettings, CueTruth, LabelCue, Rgb, SynthScale, UttRender } from './common.ts';

/**
 * Synthetic MELD.Raw: the three split archives and the CSV copies, with the quirks of the real files
 * (docs/datasets.md). Clips are solid-colour frames with a tone; every quirk is placed deterministically
 * from the seed and recorded in the truth so tests can check that the pipeline reports it.
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

export interface MeldTruth {
  dataset: 'meld';
  generatorVersion: number;
  seed: number;
  scale: SynthScale;
  ffmpegVersion: string;
  corpusDir: string;
  archive: string | null;
  cue: CueSettings | null;
  splits: { split: MeldSplit; archive: string; folder: string; csv: string }[];
  csv: MeldTruthCsv[];
  speakers: Record<string, { rgb: Rgb; pitchHz: number }>;
  utterances: MeldTruthUtterance[];
  extraClips: MeldTruthExtraClip[];
  notes: string[];
}

const EMOTION_WEIGHTS: readonly (readonly [MeldEmotion, number])[] = [
  ['neutral', 4710],
  ['joy', 1743],
  ['surprise', 1205],
  ['anger', 1109],
  ['sadness', 683],
  ['disgust', 271],
  ['fear', 268],
];

export const MELD_CUES: Record<MeldEmotion, LabelCue> = {
  neutral: { word: 'meh', pitchHz: 320, rgb: [128, 128, 128] },
  joy: { word: 'yay', pitchHz: 380, rgb: [255, 255, 0] },
  surprise: { word: 'whoa', pitchHz: 440, rgb: [0, 255, 255] },
  anger: { word: 'furious', pitchHz: 500, rgb: [255, 0, 0] },
  sadness: { word: 'sorrow', pitchHz: 560, rgb: [0, 0, 255] },
  disgust: { word: 'gross', pitchHz: 620, rgb: [128, 0, 128] },
  fear: { word: 'scared', pitchHz: 680, rgb: [0, 255, 0] },
};

const SPEAKERS: Record<string, { rgb: Rgb; pitchHz: number }> = {
  Chandler: { rgb: [70, 90, 160], pitchHz: 120 },
  Joey: { rgb: [150, 80, 50], pitchHz: 110 },
  Monica: { rgb: [170, 60, 90], pitchHz: 215 },
  Phoebe: { rgb: [90, 150, 70], pitchHz: 235 },
  Rachel: { rgb: [180, 140, 60], pitchHz: 225 },
  Ross: { rgb: [60, 120, 130], pitchHz: 130 },
  Gunther: { rgb: [110, 110, 110], pitchHz: 105 },
  'Mrs. Geller': { rgb: [130, 70, 140], pitchHz: 200 },
};
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

const CP1252_HIGH: Record<string, number> = {
  '\u20ac': 0x80,
  '\u201a': 0x82,
  '\u0192': 0x83,
  '\u201e': 0x84,
  '\u2026': 0x85,
  '\u2020': 0x86,
  '\u2021': 0x87,
  '\u02c6': 0x88,
  '\u2030': 0x89,
  '\u0160': 0x8a,
  '\u2039': 0x8b,
  '\u0152': 0x8c,
  '\u017d': 0x8e,
  '\u2018': 0x91,
  '\u2019': 0x92,
  '\u201c': 0x93,
  '\u201d': 0x94,
  '\u2022': 0x95,
  '\u2013': 0x96,
  '\u2014': 0x97,
  '\u02dc': 0x98,
  '\u2122': 0x99,
  '\u0161': 0x9a,
  '\u203a': 0x9b,
  '\u0153': 0x9c,
  '\u017e': 0x9e,
  '\u0178': 0x9f,
};

export function encodeCp1252(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80 || (c >= 0xa0 && c <= 0xff)) out[n++] = c;
    else if (CP1252_HIGH[ch] !== undefined) out[n++] = CP1252_HIGH[ch];
    else throw new Error(`character U+${c.toString(16).padStart(4, '0')} has no cp1252 byte`);
  }
  return out.subarray(0, n);
}

/** What the old MELD copies contain: cp1252 bytes read as Latin-1 (’ → U+0092). */
export function c1Mojibake(text: string): string {
  return encodeCp1252(text).toString('latin1');
}

function sentimentOf(emotion: MeldEmotion, rng: Rng): MeldSentiment {
  if (emotion === 'neutral') return 'neutral';
  if (emotion === 'joy') return 'positive';
  if (emotion === 'surprise') return rng.chance(0.6) ? 'positive' : 'negative';
  return 'negative';
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `H:MM:SS,mmm`-style time; oneDigitHour drops the hour's leading zero, twoDigits writes centiseconds. */
export function formatMeldTime(ms: number, oneDigitHour: boolean, twoDigits: boolean): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const frac = ms % 1000;
  const hh = oneDigitHour ? String(h) : String(h).padStart(2, '0');
  const ff = twoDigits ? String(Math.round(frac / 10)).padStart(2, '0') : String(frac).padStart(3, '0');
  return `${hh}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')},${ff}`;
}

type ClipKind = 'normal' | 'missing' | 'corrupt' | 'overlong' | 'two-frame';

interface Row {
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

interface ClipJob {
  split: MeldSplit;
  name: string;
  speaker: string;
  render: UttRender;
  durationSec: number;
  frames: number;
  kind: ClipKind;
  seedKey: string;
}

const FRAME_SEC = 1001 / 24000;

function framesFor(durationSec: number): number {
  return Math.max(2, Math.round(durationSec / FRAME_SEC));
}

function planSplit(
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
  assign(at(0), 'c1');
  assign(at(1), 'quoted');
  assign(at(2), 'double-space');
  assign(at(3), 'nbsp');
  assign(at(4), 'two-digit');
  assign(at(5), 'one-digit-hour');
  assign(at(6), 'lf');
  if (split === 'train') {
    assign(at(7), 'corrupt');
    assign(at(8), 'two-frame');
    assign(at(9), 'zero-duration');
    assign(at(10), 'overlong');
    assign(at(11), 'dup-sr-no');
    assign(at(12), 'utf8-curly');
  }
  if (split === 'dev') assign(at(7), 'missing');
  if (split === 'test') assign(at(7), 'overlong');

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

function clipJob(row: Row): ClipJob | null {
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

async function encodeClip(
  ffmpeg: string,
  job: ClipJob,
  outPath: string,
  seed: number,
  signal?: AbortSignal,
): Promise<void> {
  const sr = MELD_AUDIO_RATE;
  const n = Math.round(job.durationSec * sr);
  const pcm = new Int16Array(n * 2);
  const r = new Rng(seed).fork('meld-audio', job.seedKey);
  const sig = voice(n, sr, job.render.pitchHz, r);
  mixInto(pcm, 2, 0, 0, sig, 1);
  mixInto(pcm, 2, 1, 0, sig, 0.85);
  addNoise(pcm, 3, r.int(1, 2 ** 31));
  const spk = SPEAKERS[job.speaker];
  const { width, height } = MELD_SIZE;
  // One frame is drawn, then repeated by `loop`: per-frame drawing would cost more than the encode.
  const filters = [
    `color=c=${hex(spk.rgb)}:s=${width}x${height}:r=${MELD_FPS}:d=0.05`,
    drawbox(540, 200, 200, 260, [225, 190, 160]),
  ];
  // A band across the bottom fifth of the picture, large enough to survive tiny encoders' token means.
  if (job.render.patchRgb) filters.push(drawbox(0, 560, 1280, 160, job.render.patchRgb));
  filters.push('loop=loop=-1:size=1:start=0');
  const dur = job.durationSec.toFixed(6);
  await runTool(
    ffmpeg,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      filters.join(','),
      '-f',
      's16le',
      '-ar',
      String(sr),
      '-ac',
      '2',
      '-i',
      'pipe:0',
      '-map',
      '0:v',
      '-map',
      '1:a',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-crf',
      '35',
      '-pix_fmt',
      'yuv420p',
      '-threads',
      '1',
      // -t alone bounds both streams (-frames:v would stop the file before the lagging audio is muxed).
      // 192 kb/s: cheap to encode and keeps the tiny archive above 1 MB, so download tests span several parts.
      '-c:a',
      'aac',
      '-b:a',
      '192k',
      '-af',
      'apad',
      '-t',
      dur,
      ...BITEXACT_OUTPUT_ARGS,
      outPath,
    ],
    { timeoutMs: 120_000, signal, input: pcmBytes(pcm) },
  );
}

function csvBytes(rows: Row[], encoding: MeldCsvEncoding): { bytes: Buffer; crlf: number; lf: number } {
  const parts: Buffer[] = [];
  let crlf = 1;
  let lf = 0;
  parts.push(Buffer.from(`${MELD_HEADER}\r\n`, 'utf8'));
  for (const row of rows) {
    const fields = [
      String(row.srNo),
      row.source,
      row.speaker,
      row.emotion,
      row.sentiment,
      String(row.dialogueId),
      String(row.utteranceId),
      String(row.season),
      String(row.episode),
      row.startTime,
      row.endTime,
    ];
    // Times contain a comma, so they come out quoted, as in the real files.
    const line = `${fields.map(csvField).join(',')}${row.eol}`;
    if (row.eol === '\n') lf++;
    else crlf++;
    if (encoding === 'cp1252') parts.push(encodeCp1252(line));
    else parts.push(Buffer.from(row.quirks.includes('utf8-curly') ? line : c1Mojibake(line), 'utf8'));
  }
  return { bytes: Buffer.concat(parts), crlf, lf };
}

export interface MeldOptions {
  out: string;
  seed: number;
  scale: SynthScale;
  cue: CueSettings | null;
  ffmpeg: string;
  ffmpegVersion: string;
  concurrency: number;
  signal?: AbortSignal;
}

/** CSV copy written as raw cp1252 (all others are UTF-8 with C1 characters). */
const CP1252_SPLIT: MeldSplit = 'dev';

/** Writes `<out>/MELD.Raw/` (split archives + CSVs, replacing an older one) and returns its ground truth. */
export async function synthMeld(opts: MeldOptions): Promise<MeldTruth> {
  const root = join(opts.out, MELD_DIR);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const staging = await mkdtemp(join(opts.out, '.meld-clips-'));
  const utterances: MeldTruthUtterance[] = [];
  const extraClips: MeldTruthExtraClip[] = [];
  const csv: MeldTruthCsv[] = [];
  try {
    const plans = MELD_SPLITS.map((split) => ({ split, ...planSplit(split, opts.seed, opts.scale, opts.cue) }));
    const jobs: { job: ClipJob; path: string }[] = [];
    for (const p of plans) {
      const dir = join(staging, MELD_SPLIT_FILES[p.split].folder);
      await mkdir(dir, { recursive: true });
      for (const row of p.rows) {
        const job = clipJob(row);
        if (job) jobs.push({ job, path: join(dir, job.name) });
      }
      for (const job of p.extras) jobs.push({ job, path: join(dir, job.name) });
    }
    // Longest first keeps both workers busy to the end.
    const order = [...jobs].sort((a, b) => b.job.frames - a.job.frames || (a.path < b.path ? -1 : 1));
    await mapLimit(order, opts.concurrency, async ({ job, path }) => {
      if (job.kind !== 'corrupt') return encodeClip(opts.ffmpeg, job, path, opts.seed, opts.signal);
      // Like train dia125_utt3: a real encode cut short; the index (moov) sits at the end and is lost.
      const tmp = `${path}.full.mp4`;
      await encodeClip(opts.ffmpeg, job, tmp, opts.seed, opts.signal);
      const full = await readFile(tmp);
      await writeFile(path, full.subarray(0, Math.floor(full.length * 0.4)));
      await rm(tmp);
    });

    for (const p of plans) {
      const files = MELD_SPLIT_FILES[p.split];
      const dir = join(staging, files.folder);
      for (const name of p.prefixed) {
        const copy = `final_videos_test${name}`;
        await writeFile(join(dir, copy), await readFile(join(dir, name)));
        extraClips.push({
          split: p.split,
          entry: `${files.folder}/${copy}`,
          kind: 'prefixed-duplicate',
          duplicateOf: `${files.folder}/${name}`,
        });
      }
      for (const job of p.extras)
        extraClips.push({ split: p.split, entry: `${files.folder}/${job.name}`, kind: 'orphan', duplicateOf: null });
      await packTarGz(dir, files.folder, join(root, files.archive));

      const encoding: MeldCsvEncoding = p.split === CP1252_SPLIT ? 'cp1252' : 'utf8-c1';
      const { bytes, crlf, lf } = csvBytes(p.rows, encoding);
      await writeFile(join(root, files.csv), bytes);
      csv.push({ split: p.split, file: files.csv, encoding, rows: p.rows.length, crlfLines: crlf, lfLines: lf });

      for (const row of p.rows) {
        const job = clipJob(row);
        const csvSec = (row.endMs - row.startMs) / 1000;
        utterances.push({
          id: `${row.split}/dia${row.dialogueId}_utt${row.utteranceId}`,
          split: row.split,
          dialogueId: row.dialogueId,
          utteranceId: row.utteranceId,
          srNo: row.srNo,
          speaker: row.speaker,
          text: row.source.replace(/\u00a0/g, ' '),
          emotion: row.emotion,
          label: row.emotion,
          sentiment: row.sentiment,
          season: row.season,
          episode: row.episode,
          startTime: row.startTime,
          endTime: row.endTime,
          start: row.startMs / 1000,
          end: row.endMs / 1000,
          clipArchive: files.archive,
          clip: `${files.folder}/dia${row.dialogueId}_utt${row.utteranceId}.mp4`,
          clipDurationSec: job ? Math.round(job.durationSec * 1e6) / 1e6 : null,
          clipFrames: job ? job.frames : null,
          flags: {
            missing: row.clipKind === 'missing',
            corrupt: row.clipKind === 'corrupt',
            overlong: job !== null && csvSec > 0 && job.durationSec > 3 * csvSec,
            twoFrame: row.clipKind === 'two-frame',
            zeroDuration: csvSec === 0,
          },
          quirks: row.quirks,
          cue: row.render.cue,
        });
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }

  return {
    dataset: 'meld',
    generatorVersion: GENERATOR_VERSION,
    seed: opts.seed,
    scale: opts.scale,
    ffmpegVersion: opts.ffmpegVersion,
    corpusDir: MELD_DIR,
    archive: null,
    cue: opts.cue,
    splits: MELD_SPLITS.map((split) => ({ split, ...MELD_SPLIT_FILES[split] })),
    csv,
    speakers: structuredClone(SPEAKERS),
    utterances,
    extraClips,
    notes: [
      'clipArchive is relative to MELD.Raw/; clip is the entry path inside that archive.',
      `${MELD_SPLIT_FILES[CP1252_SPLIT].csv} is raw cp1252 (not valid UTF-8); the other CSVs are UTF-8 holding cp1252 bytes decoded as Latin-1 (U+0085/91-94/96/97/A0), except rows with quirk utf8-curly, which carry proper UTF-8 curly punctuation.`,
      'text maps the C1 characters back to … ‘ ’ “ ” – — and U+00A0 to a space; double spaces are kept as in the CSV.',
      'The header line ends in CRLF; rows end in CRLF except those with quirk lf-ending.',
      'Sr No. repeats on rows with quirk dup-sr-no; key rows by (split, Dialogue_ID, Utterance_ID).',
      'flags.overlong is set only where the CSV duration is positive; zero-duration rows have a 1 s clip.',
      'The corrupt clip is the first 40% of a real encode (no moov atom); ffprobe fails on it.',
    ],
  };
}
