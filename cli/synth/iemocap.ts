import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../activities/common/ffmpeg.ts';
import {
  BITEXACT_OUTPUT_ARGS,
  GENERATOR_VERSION,
  Rng,
  addNoise,
  appleDoubleBytes,
  drawbox,
  encodeWav,
  extractChannel,
  mapLimit,
  mixInto,
  renderUtterance,
  voice,
  writeFileEnsured,
} from './common.ts';
import type { CueSettings, CueTruth, LabelCue, Rgb, SynthScale, UttRender } from './common.ts';

/**
 * Synthetic IEMOCAP_full_release: the real folder layout and annotation formats (see
 * docs/datasets.md), with media made of coloured panels and tones. Annotation bytes depend only on
 * the seed and scale; media bytes additionally on the ffmpeg build.
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
type VotedLabel = Exclude<IemocapLabel, 'xxx'>;

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

export interface IemocapTruth {
  dataset: 'iemocap';
  generatorVersion: number;
  seed: number;
  scale: SynthScale;
  ffmpegVersion: string;
  corpusDir: string;
  archive: string | null;
  cue: CueSettings | null;
  dialogs: IemocapTruthDialog[];
  utterances: IemocapTruthUtterance[];
  /** macOS `._*` files, relative to the corpus folder. */
  residue: string[];
  notes: string[];
}

// Real label counts (docs/datasets.md) weight the filler labels so the mix looks like the corpus.
const LABEL_WEIGHTS: readonly (readonly [IemocapLabel, number])[] = [
  ['neu', 1708],
  ['fru', 1849],
  ['ang', 1103],
  ['sad', 1084],
  ['exc', 1041],
  ['hap', 595],
  ['sur', 107],
  ['fea', 40],
  ['oth', 3],
  ['dis', 2],
  ['xxx', 2507],
];

/** Every scale carries each label at least this often, so tests see the rare ones. */
const GUARANTEED: Record<IemocapLabel, number> = {
  neu: 3,
  fru: 3,
  ang: 3,
  sad: 3,
  exc: 3,
  hap: 3,
  xxx: 3,
  sur: 2,
  fea: 1,
  oth: 1,
  dis: 1,
};

const VOTE_WORD: Record<VotedLabel, string> = {
  neu: 'Neutral',
  fru: 'Frustration',
  ang: 'Anger',
  sad: 'Sadness',
  exc: 'Excited',
  hap: 'Happiness',
  sur: 'Surprise',
  fea: 'Fear',
  oth: 'Other',
  dis: 'Disgust',
};
/** Categorical/ files spell a few categories differently from EmoEvaluation's C- lines. */
const CATEGORICAL_WORD: Record<VotedLabel, string> = { ...VOTE_WORD, neu: 'Neutral state' };

const VAD_CENTRE: Record<IemocapLabel, [number, number, number]> = {
  neu: [3, 2.5, 3],
  fru: [2, 3.3, 3.4],
  ang: [1.8, 3.9, 3.9],
  sad: [1.9, 2.2, 2.3],
  exc: [3.9, 3.8, 3.3],
  hap: [4, 3, 3.1],
  sur: [3.4, 3.8, 2.9],
  fea: [2, 3.6, 2],
  oth: [3, 3, 3],
  dis: [1.9, 3.1, 3.5],
  xxx: [2.8, 3, 3],
};

/** Label cues for the `cue` option; pitches sit above every speaker's voice, colours are saturated. */
export const IEMOCAP_CUES: Record<IemocapLabel, LabelCue> = {
  neu: { word: 'meh', pitchHz: 320, rgb: [128, 128, 128] },
  fru: { word: 'ugh', pitchHz: 365, rgb: [255, 128, 0] },
  ang: { word: 'furious', pitchHz: 410, rgb: [255, 0, 0] },
  sad: { word: 'sorrow', pitchHz: 455, rgb: [0, 0, 255] },
  exc: { word: 'awesome', pitchHz: 500, rgb: [255, 0, 255] },
  hap: { word: 'glad', pitchHz: 545, rgb: [255, 255, 0] },
  sur: { word: 'whoa', pitchHz: 590, rgb: [0, 255, 255] },
  fea: { word: 'scared', pitchHz: 635, rgb: [0, 255, 0] },
  oth: { word: 'anyway', pitchHz: 680, rgb: [255, 255, 255] },
  dis: { word: 'gross', pitchHz: 725, rgb: [128, 0, 128] },
  xxx: { word: 'hmm', pitchHz: 770, rgb: [0, 128, 128] },
};

const WORDS = [
  'I',
  'you',
  'we',
  'they',
  'it',
  'that',
  'this',
  'just',
  'really',
  'know',
  'think',
  'want',
  'need',
  'go',
  'going',
  'get',
  'here',
  'there',
  'now',
  'then',
  'time',
  'job',
  'car',
  'house',
  'line',
  'form',
  'people',
  'said',
  'told',
  'see',
  'look',
  'right',
  'okay',
  'well',
  'so',
  'but',
  'and',
  'the',
  'a',
  'my',
  'your',
  'can',
  "can't",
  "don't",
  'do',
  'have',
  'had',
  'was',
  'is',
  'are',
  'not',
  'about',
  'again',
  'still',
  'yeah',
  'no',
  'yes',
  'please',
  'maybe',
  'always',
  'never',
  'back',
  'home',
  'work',
  'call',
  'wait',
];
const NON_TURN_TEXT = ['[LAUGHTER]', '[BREATHING]', 'Mm-hmm.', '[GARBAGE]'];
const COMMENTS = ['()', '()', '()', '(annoyed)', '(tired, a bit flat)', '(sarcastic)', '(mild)'];
/** Latin-1 only (é, à): the real files are not UTF-8 and readers must decode tolerantly. */
const LATIN1_COMMENT = '(d\u00e9j\u00e0 vu, caf\u00e9 scene)';

interface DialogSpec {
  id: string;
  session: number;
  marker: Gender;
  scripted: boolean;
}

function dialogSpecs(scale: SynthScale): DialogSpec[] {
  const tiny: [string, string][] = [
    ['Ses01F_impro01', 'Ses01M_script02_1'],
    ['Ses02M_impro03', 'Ses02F_script01_3'],
    ['Ses03M_impro05a', 'Ses03F_script02_2'],
    ['Ses04F_impro02', 'Ses04M_script03_1'],
    ['Ses05M_impro04', 'Ses05M_script01_1b'],
  ];
  const extra: [string, string][] = [
    ['Ses01M_impro06', 'Ses01F_script01_1'],
    ['Ses02F_impro07', 'Ses02M_script03_2'],
    ['Ses03F_impro08b', 'Ses03M_script01_2'],
    ['Ses04M_impro05', 'Ses04F_script02_1'],
    ['Ses05F_impro02', 'Ses05F_script03_2'],
  ];
  const names = tiny.map((pair, i) => (scale === 'tiny' ? pair : [...pair, ...extra[i]]));
  return names.flatMap((list, i) =>
    list.map((id) => ({ id, session: i + 1, marker: id.charAt(5) as Gender, scripted: id.includes('_script') })),
  );
}

const SCALE = {
  tiny: { turns: [5, 5], durTenthMs: [10_000, 20_000] },
  small: { turns: [10, 14], durTenthMs: [10_000, 25_000] },
} as const;

/** Seconds in 1/10000 s units → `12.3400`. Integer arithmetic avoids toFixed's binary rounding. */
export function fmt4(t: number, intDigits = 1): string {
  return `${String(Math.floor(t / 10000)).padStart(intDigits, '0')}.${String(t % 10000).padStart(4, '0')}`;
}

/** 1/10000 s → sample index at 16 kHz (exactly 1.6 samples per unit). */
function toSample(t: number): number {
  return Math.round((t * 8) / 5);
}

interface Actor {
  gender: Gender;
  pitchHz: number;
  rgb: Rgb;
  face: Rgb;
}

interface Turn {
  id: string;
  speaker: Gender;
  label: IemocapLabel;
  start: number;
  end: number;
  text: string;
  render: UttRender;
  missingWav: boolean;
  categorical: { evaluator: string; words: VotedLabel[]; comment: string }[];
  attributes: { evaluator: string; v: number; a: number; d: number; comment: string }[];
  vad: [number, number, number];
}

interface NonTurn {
  line: string;
  start: number | null;
  end: number | null;
  speaker: Gender;
}

interface DialogPlan {
  spec: DialogSpec;
  turns: Turn[];
  others: NonTurn[];
  /** Transcription lines in file order. */
  transcript: string[];
  totalSamples: number;
  actors: Record<Gender, Actor>;
}

function sideOf(spec: DialogSpec, speaker: Gender): Side {
  return speaker === spec.marker ? 'left' : 'right';
}

function sentence(rng: Rng, words: string[]): string {
  const s = words.join(' ');
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}${rng.chance(0.25) ? '?' : '.'}`;
}

function votes(
  label: IemocapLabel,
  evaluators: string[],
  rng: Rng,
): { evaluator: string; words: VotedLabel[]; comment: string }[] {
  const voted = IEMOCAP_LABELS.filter((l): l is VotedLabel => l !== 'xxx');
  const main: VotedLabel[] = ['neu', 'fru', 'ang', 'sad', 'exc', 'hap'];
  const comment = () => rng.pick(COMMENTS);
  if (label === 'xxx') {
    // Three different first choices: no category reaches a majority.
    const picks = rng.shuffle([...main]).slice(0, 3);
    return evaluators.map((e, i) => ({ evaluator: e, words: [picks[i]], comment: comment() }));
  }
  const others = voted.filter((l) => l !== label && main.includes(l));
  const y = rng.pick(others);
  const z = rng.pick(others.filter((l) => l !== y));
  // The label gets 2-3 of 3 votes; any other category at most 1, so the majority is unambiguous.
  return [
    { evaluator: evaluators[0], words: [label], comment: comment() },
    { evaluator: evaluators[1], words: rng.chance(0.3) ? [label, y] : [label], comment: comment() },
    { evaluator: evaluators[2], words: rng.chance(0.5) ? [label] : [z], comment: comment() },
  ];
}

function planLabels(total: number, rng: Rng): IemocapLabel[] {
  const labels: IemocapLabel[] = [];
  for (const l of IEMOCAP_LABELS) for (let i = 0; i < GUARANTEED[l]; i++) labels.push(l);
  // Fillers avoid the rarest labels so that tiny corpora are not dominated by them.
  const filler = LABEL_WEIGHTS.filter(([, w]) => w >= 500);
  while (labels.length < total) labels.push(rng.weighted(filler));
  return rng.shuffle(labels.slice(0, total));
}

function planDialogs(seed: number, scale: SynthScale, cue: CueSettings | null): DialogPlan[] {
  const root = new Rng(seed).fork('iemocap');
  const specs = dialogSpecs(scale);
  const sc = SCALE[scale];
  const turnCounts = specs.map((s) => root.fork('count', s.id).int(sc.turns[0], sc.turns[1]));
  const labels = planLabels(
    turnCounts.reduce((a, b) => a + b, 0),
    root.fork('labels'),
  );

  // One female and one male actor per session, as in the real recordings.
  const actors = new Map<number, Record<Gender, Actor>>();
  for (let s = 1; s <= 5; s++) {
    const r = root.fork('actors', s);
    actors.set(s, {
      F: {
        gender: 'F',
        pitchHz: r.int(190, 240),
        rgb: [r.int(190, 230), r.int(50, 90), r.int(50, 90)],
        face: [r.int(215, 235), r.int(180, 200), r.int(150, 170)],
      },
      M: {
        gender: 'M',
        pitchHz: r.int(100, 140),
        rgb: [r.int(40, 80), r.int(80, 120), r.int(180, 220)],
        face: [r.int(200, 220), r.int(165, 185), r.int(135, 155)],
      },
    });
  }

  // Two turns lose their sentence wav (plus a few more at larger scale); never a dialog's first turn,
  // which the residue file below shadows.
  const missing = new Set<string>(['1:1', `${specs.length - 3}:3`]);
  let labelIndex = 0;
  return specs.map((spec, di) => {
    const r = root.fork('dialog', spec.id);
    const evaluators = r.sample(6, 3).map((i) => `E${i + 1}`);
    const raters = r.sample(6, 2).map((i) => `E${i + 1}`);
    const counters: Record<Gender, number> = { F: 0, M: 0 };
    let speaker: Gender = r.chance(0.5) ? 'F' : 'M';
    let t = r.int(3000, 20000);
    const turns: Turn[] = [];
    const others: NonTurn[] = [];
    let xxCounter = 0;
    for (let ti = 0; ti < turnCounts[di]; ti++) {
      // An unevaluated snippet (laughter, backchannel) sometimes sits in the gap before a turn.
      if (ti > 0 && (ti === 2 || r.chance(0.15))) {
        const other: Gender = speaker === 'F' ? 'M' : 'F';
        const s0 = t;
        const e0 = s0 + r.int(3000, 7000);
        const text = r.pick(NON_TURN_TEXT);
        others.push({
          line: `${spec.id}_${other}XX${xxCounter++} [${fmt4(s0, 3)}-${fmt4(e0, 3)}]: ${text}`,
          start: s0,
          end: e0,
          speaker: other,
        });
        t = e0 + r.int(1000, 4000);
      }
      const start = t;
      const end = start + r.int(sc.durTenthMs[0], sc.durTenthMs[1]);
      t = end + r.int(2000, 6000);
      const label = labels[labelIndex++];
      const id = `${spec.id}_${speaker}${String(counters[speaker]++).padStart(3, '0')}`;
      const cats = votes(label, evaluators, r);
      const centre = VAD_CENTRE[label];
      const attributes = raters.map((e) => {
        const dim = (c: number) => Math.max(1, Math.min(5, Math.round(c + (r.next() - 0.5) * 1.6)));
        return { evaluator: e, v: dim(centre[0]), a: dim(centre[1]), d: dim(centre[2]), comment: r.pick(COMMENTS) };
      });
      const mean = (k: 'v' | 'a' | 'd') =>
        Math.round((attributes.reduce((s, x) => s + x[k], 0) / attributes.length) * 10000) / 10000;
      const actor = actors.get(spec.session)![speaker];
      const words = Array.from({ length: r.int(3, 8) }, () => r.pick(WORDS));
      const render = renderUtterance({ words, pitchHz: actor.pitchHz }, IEMOCAP_CUES[label], cue, root.fork('cue', id));
      turns.push({
        id,
        speaker,
        label,
        start,
        end,
        text: sentence(r, render.words),
        render,
        missingWav: missing.has(`${di}:${ti}`) || (scale === 'small' && ti > 0 && r.chance(0.02)),
        categorical: cats,
        attributes,
        vad: [mean('v'), mean('a'), mean('d')],
      });
      if (!r.chance(0.2)) speaker = speaker === 'F' ? 'M' : 'F';
    }
    if (di % 3 === 1)
      others.push({ line: `${r.chance(0.5) ? 'M' : 'F'}: [BREATHING]`, start: null, end: null, speaker: 'F' });
    const totalSamples = toSample(t + r.int(2000, 6000));

    const lines: { at: number; line: string }[] = [
      ...turns.map((x) => ({ at: x.start, line: `${x.id} [${fmt4(x.start, 3)}-${fmt4(x.end, 3)}]: ${x.text}` })),
      ...others.map((o) => ({ at: o.start ?? Number.MAX_SAFE_INTEGER, line: o.line })),
    ];
    lines.sort((a, b) => a.at - b.at);
    return {
      spec,
      turns,
      others,
      transcript: lines.map((l) => l.line),
      totalSamples,
      actors: actors.get(spec.session)!,
    };
  });
}

function evaluationFile(plan: DialogPlan, withLatin1: boolean): Buffer {
  const blocks = plan.turns.map((t, i) => {
    const lines = [
      `[${fmt4(t.start)} - ${fmt4(t.end)}]\t${t.id}\t${t.label}\t[${t.vad.map((x) => x.toFixed(4)).join(', ')}]`,
    ];
    for (const [j, c] of t.categorical.entries()) {
      const comment = withLatin1 && i === 0 && j === 0 ? LATIN1_COMMENT : c.comment;
      lines.push(`C-${c.evaluator}:\t${c.words.map((w) => `${VOTE_WORD[w]};`).join(' ')}\t${comment}`);
    }
    if (t.label !== 'xxx') lines.push(`C-${t.speaker}1:\t${VOTE_WORD[t.label]};\t()`);
    for (const a of t.attributes) lines.push(`A-${a.evaluator}:\tval ${a.v}; act ${a.a}; dom  ${a.d};\t${a.comment}`);
    return `${lines.join('\n')}\n`;
  });
  const text = `% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n${blocks.join('\n')}\n`;
  return Buffer.from(text, 'latin1');
}

async function writeSideFiles(dir: string, plan: DialogPlan): Promise<void> {
  const id = plan.spec.id;
  const byEval = new Map<string, string[]>();
  for (const t of plan.turns) {
    for (const c of t.categorical) {
      const list = byEval.get(c.evaluator) ?? [];
      list.push(`${t.id} :${c.words.map((w) => `${CATEGORICAL_WORD[w]};`).join(' ')} ${c.comment}`);
      byEval.set(c.evaluator, list);
    }
  }
  for (const [e, lines] of byEval) {
    await writeFileEnsured(join(dir, 'Categorical', `${id}_${e.toLowerCase()}_cat.txt`), `${lines.join('\n')}\n`);
  }
  const byRater = new Map<string, string[]>();
  for (const t of plan.turns) {
    for (const a of t.attributes) {
      const list = byRater.get(a.evaluator) ?? [];
      list.push(`${t.id} :act ${a.a}; val ${a.v}; dom  ${a.d}; ${a.comment}`);
      byRater.set(a.evaluator, list);
    }
  }
  for (const [e, lines] of byRater) {
    await writeFileEnsured(join(dir, 'Attribute', `${id}_${e.toLowerCase()}_atr.txt`), `${lines.join('\n')}\n`);
  }
  const self = plan.turns
    .filter((t) => t.label !== 'xxx')
    .map((t) => `${t.id} :${CATEGORICAL_WORD[t.label as VotedLabel]}; ()`);
  await writeFileEnsured(join(dir, 'Self-evaluation', `${id}_self.txt`), `${self.join('\n')}\n`);
}

function dialogAudio(plan: DialogPlan, seed: number): Int16Array {
  const ch = 2;
  const buf = new Int16Array(plan.totalSamples * ch);
  const r = new Rng(seed).fork('iemocap-audio', plan.spec.id);
  const speak = (speaker: Gender, start: number, end: number, pitchHz: number) => {
    const from = toSample(start);
    const sig = voice(toSample(end) - from, IEMOCAP_SAMPLE_RATE, pitchHz, r);
    const own = sideOf(plan.spec, speaker) === 'left' ? 0 : 1;
    mixInto(buf, ch, own, from, sig, 1);
    mixInto(buf, ch, 1 - own, from, sig, 0.12);
  };
  for (const t of plan.turns) speak(t.speaker, t.start, t.end, t.render.pitchHz);
  for (const o of plan.others) {
    if (o.start !== null && o.end !== null) speak(o.speaker, o.start, o.end, plan.actors[o.speaker].pitchHz * 1.3);
  }
  addNoise(buf, 3, r.fork('noise').int(1, 2 ** 31));
  return buf;
}

/**
 * lavfi source graph: the static picture is drawn once and repeated by `loop` (drawing full panels on
 * every frame would dominate the encode time); only the per-turn overlays are evaluated per frame.
 */
function videoSource(plan: DialogPlan): string {
  const { width, height } = IEMOCAP_SIZE;
  const filters: string[] = [`color=c=black:s=${width}x${height}:r=${IEMOCAP_FPS}:d=0.04`];
  const bySide = (side: Side) => plan.actors[side === 'left' ? plan.spec.marker : plan.spec.marker === 'F' ? 'M' : 'F'];
  for (const side of ['left', 'right'] as const) {
    const p = IEMOCAP_PANELS[side];
    const actor = bySide(side);
    filters.push(drawbox(p.x, p.y, p.w, p.h, actor.rgb));
    filters.push(drawbox(p.x + 120, p.y + 40, 110, 140, actor.face));
  }
  filters.push('loop=loop=-1:size=1:start=0');
  for (const t of plan.turns) {
    const p = IEMOCAP_PANELS[sideOf(plan.spec, t.speaker)];
    const span = [t.start / 10000, t.end / 10000] as const;
    // A "mouth" that is only visible while the actor talks: a visual speaking trace, as on real video.
    filters.push(drawbox(p.x + 150, p.y + 140, 50, 14, [120, 30, 40], span));
    // A band across the panel's foot (a fifth of the speaker's picture): small patches vanish into the
    // token means of tiny random-weight encoders, and the cue corpus must be learnable with those.
    if (t.render.patchRgb) filters.push(drawbox(p.x, p.y + 185, p.w, p.h - 185, t.render.patchRgb, span));
  }
  return filters.join(',');
}

async function encodeAvi(
  ffmpeg: string,
  plan: DialogPlan,
  wavPath: string,
  outPath: string,
  signal?: AbortSignal,
): Promise<void> {
  const dur = (plan.totalSamples / IEMOCAP_SAMPLE_RATE).toFixed(6);
  await runTool(
    ffmpeg,
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      videoSource(plan),
      '-i',
      wavPath,
      '-map',
      '0:v',
      '-map',
      '1:a',
      // DivX 5 fourcc on an MPEG-4 Part 2 stream, like the corpus's dialog/avi/DivX files.
      '-c:v',
      'mpeg4',
      '-vtag',
      'DX50',
      '-q:v',
      '20',
      '-motion_est',
      'zero',
      '-g',
      '300',
      '-bf',
      '0',
      '-threads',
      '1',
      // -t alone bounds both streams (-frames:v would stop the file before the lagging audio is muxed).
      '-c:a',
      'pcm_s16le',
      '-t',
      dur,
      ...BITEXACT_OUTPUT_ARGS,
      outPath,
    ],
    { timeoutMs: 120_000, signal },
  );
}

export interface IemocapOptions {
  out: string;
  seed: number;
  scale: SynthScale;
  cue: CueSettings | null;
  ffmpeg: string;
  ffmpegVersion: string;
  concurrency: number;
  signal?: AbortSignal;
}

/** Writes `<out>/IEMOCAP_full_release/` (replacing an older one) and returns its ground truth. */
export async function synthIemocap(opts: IemocapOptions): Promise<IemocapTruth> {
  const root = join(opts.out, IEMOCAP_DIR);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const plans = planDialogs(opts.seed, opts.scale, opts.cue);

  const rel = (session: number, ...parts: string[]) => [`Session${session}`, ...parts].join('/');
  const dialogs: IemocapTruthDialog[] = [];
  const utterances: IemocapTruthUtterance[] = [];

  await mapLimit(plans, opts.concurrency, async (plan, di) => {
    const { id, session } = plan.spec;
    const paths = {
      avi: rel(session, 'dialog', 'avi', 'DivX', `${id}.avi`),
      wav: rel(session, 'dialog', 'wav', `${id}.wav`),
      transcription: rel(session, 'dialog', 'transcriptions', `${id}.txt`),
      evaluation: rel(session, 'dialog', 'EmoEvaluation', `${id}.txt`),
    };
    const abs = (p: string) => join(root, ...p.split('/'));
    await writeFileEnsured(abs(paths.transcription), `${plan.transcript.join('\n')}\n`);
    await writeFileEnsured(abs(paths.evaluation), evaluationFile(plan, di === 0 || di === plans.length - 2));
    await writeSideFiles(join(root, `Session${session}`, 'dialog', 'EmoEvaluation'), plan);

    const audio = dialogAudio(plan, opts.seed);
    await writeFileEnsured(abs(paths.wav), encodeWav(audio, IEMOCAP_SAMPLE_RATE, 2));
    for (const t of plan.turns) {
      if (t.missingWav) continue;
      const ch = sideOf(plan.spec, t.speaker) === 'left' ? 0 : 1;
      const cut = extractChannel(audio, 2, ch, toSample(t.start), toSample(t.end));
      await writeFileEnsured(
        abs(rel(session, 'sentences', 'wav', id, `${t.id}.wav`)),
        encodeWav(cut, IEMOCAP_SAMPLE_RATE, 1),
      );
    }
    await mkdir(join(root, `Session${session}`, 'dialog', 'avi', 'DivX'), { recursive: true });
    await encodeAvi(opts.ffmpeg, plan, abs(paths.wav), abs(paths.avi), opts.signal);
  });

  for (const plan of plans) {
    const { id, session, marker, scripted } = plan.spec;
    const other: Gender = marker === 'F' ? 'M' : 'F';
    dialogs.push({
      id,
      session,
      scripted,
      leftSpeaker: marker,
      left: { speaker: marker, rgb: plan.actors[marker].rgb },
      right: { speaker: other, rgb: plan.actors[other].rgb },
      durationSec: plan.totalSamples / IEMOCAP_SAMPLE_RATE,
      avi: rel(session, 'dialog', 'avi', 'DivX', `${id}.avi`),
      wav: rel(session, 'dialog', 'wav', `${id}.wav`),
      transcription: rel(session, 'dialog', 'transcriptions', `${id}.txt`),
      evaluation: rel(session, 'dialog', 'EmoEvaluation', `${id}.txt`),
      wavChannels: 2,
      turns: plan.turns.map((t) => t.id),
      unevaluatedLines: plan.others.map((o) => o.line),
    });
    for (const t of plan.turns) {
      utterances.push({
        id: t.id,
        dialog: id,
        session,
        scripted,
        speaker: t.speaker,
        side: sideOf(plan.spec, t.speaker),
        label: t.label,
        vad: t.vad,
        start: t.start / 10000,
        end: t.end / 10000,
        startText: fmt4(t.start),
        endText: fmt4(t.end),
        text: t.text,
        sentenceWav: rel(session, 'sentences', 'wav', id, `${t.id}.wav`),
        samples: toSample(t.end) - toSample(t.start),
        dialogOffsetSamples: toSample(t.start),
        flags: { missingWav: t.missingWav },
        cue: t.render.cue,
      });
    }
  }

  // macOS residue next to real files, including names that a `*.wav`/`*.txt` glob would pick up.
  const first = (s: number) => plans.find((p) => p.spec.session === s)!;
  const residue = [
    rel(1, 'dialog', 'wav', `._${first(1).spec.id}.wav`),
    rel(2, 'sentences', 'wav', first(2).spec.id, `._${first(2).turns[0].id}.wav`),
    rel(3, 'dialog', 'EmoEvaluation', `._${first(3).spec.id}.txt`),
    rel(4, 'dialog', 'avi', 'DivX', `._${first(4).spec.id}.avi`),
    rel(5, 'dialog', 'transcriptions', `._${first(5).spec.id}.txt`),
    '._Session5',
  ];
  for (const r of residue) await writeFileEnsured(join(root, ...r.split('/')), appleDoubleBytes());

  return {
    dataset: 'iemocap',
    generatorVersion: GENERATOR_VERSION,
    seed: opts.seed,
    scale: opts.scale,
    ffmpegVersion: opts.ffmpegVersion,
    corpusDir: IEMOCAP_DIR,
    archive: null,
    cue: opts.cue,
    dialogs,
    utterances,
    residue,
    notes: [
      'Paths are relative to the corpus folder (IEMOCAP_full_release/); archive entries carry that folder as prefix.',
      'EmoEvaluation files are Latin-1; the first dialog and the second-to-last dialog contain a non-ASCII (é, à) comment.',
      'Summary V/A/D values are the means of the A-E lines of the block (self-assessment lines carry no A- votes here).',
      'Transcriptions list XX-id lines and bare `F:`/`M:` lines that are not evaluated turns; unevaluatedLines holds them.',
      "Sentence wavs are the speaking actor's dialog channel, samples [round(start*16000), round(end*16000)).",
      'Turns flagged missingWav have no sentences/wav file; their dialog audio still contains them.',
      'Categorical/, Attribute/ and Self-evaluation/ file names and line shapes are modelled on the real corpus but unverified.',
    ],
  };
}
