import type { Rgb, SynthScale } from '../common.ts';
import { cueLadder, renderUtterance } from '../cues.ts';
import type { CueSettings, UttRender } from '../cues.ts';
import { Rng } from '../random.ts';
import { IEMOCAP_LABELS, fmt4, toSample } from './corpus.ts';
import type { Gender, IemocapLabel, Side, VotedLabel } from './corpus.ts';

/**
 * What a synthetic IEMOCAP corpus says: dialogs, actors, turns with their labels, votes, V/A/D ratings,
 * words and timing, all drawn from the seed. The draws' order is part of the corpus: reorder nothing.
 */

/**
 * Per label: its count in the real corpus (docs/datasets.md), which weights the filler labels so the mix
 * looks like the corpus; how often every scale carries it at least, so tests see the rare ones; and the
 * centre of its V/A/D ratings.
 */
const LABEL_FACTS: Record<IemocapLabel, { count: number; atLeast: number; vad: [number, number, number] }> = {
  neu: { count: 1708, atLeast: 3, vad: [3, 2.5, 3] },
  fru: { count: 1849, atLeast: 3, vad: [2, 3.3, 3.4] },
  ang: { count: 1103, atLeast: 3, vad: [1.8, 3.9, 3.9] },
  sad: { count: 1084, atLeast: 3, vad: [1.9, 2.2, 2.3] },
  exc: { count: 1041, atLeast: 3, vad: [3.9, 3.8, 3.3] },
  hap: { count: 595, atLeast: 3, vad: [4, 3, 3.1] },
  sur: { count: 107, atLeast: 2, vad: [3.4, 3.8, 2.9] },
  fea: { count: 40, atLeast: 1, vad: [2, 3.6, 2] },
  oth: { count: 3, atLeast: 1, vad: [3, 3, 3] },
  dis: { count: 2, atLeast: 1, vad: [1.9, 3.1, 3.5] },
  xxx: { count: 2507, atLeast: 3, vad: [2.8, 3, 3] },
};
const LABEL_WEIGHTS = IEMOCAP_LABELS.map((l) => [l, LABEL_FACTS[l].count] as const);

/** Label cues for the `cue` option. */
export const IEMOCAP_CUES = cueLadder(
  IEMOCAP_LABELS,
  'meh ugh furious sorrow awesome glad whoa scared anyway gross hmm',
  45,
);

const WORDS = (
  'I you we they it that this just really know think want need go going get here there now then time job car ' +
  "house line form people said told see look right okay well so but and the a my your can can't don't do have " +
  'had was is are not about again still yeah no yes please maybe always never back home work call wait'
).split(' ');
const NON_TURN_TEXT = ['[LAUGHTER]', '[BREATHING]', 'Mm-hmm.', '[GARBAGE]'];
const COMMENTS = ['()', '()', '()', '(annoyed)', '(tired, a bit flat)', '(sarcastic)', '(mild)'];

export interface DialogSpec {
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

export interface Actor {
  gender: Gender;
  pitchHz: number;
  rgb: Rgb;
  face: Rgb;
}

export interface Turn {
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

export interface NonTurn {
  line: string;
  start: number | null;
  end: number | null;
  speaker: Gender;
}

export interface DialogPlan {
  spec: DialogSpec;
  turns: Turn[];
  others: NonTurn[];
  /** Transcription lines in file order. */
  transcript: string[];
  totalSamples: number;
  actors: Record<Gender, Actor>;
}

export function sideOf(spec: DialogSpec, speaker: Gender): Side {
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
  for (const l of IEMOCAP_LABELS) for (let i = 0; i < LABEL_FACTS[l].atLeast; i++) labels.push(l);
  // Fillers avoid the rarest labels so that tiny corpora are not dominated by them.
  const filler = LABEL_WEIGHTS.filter(([, w]) => w >= 500);
  while (labels.length < total) labels.push(rng.weighted(filler));
  return rng.shuffle(labels.slice(0, total));
}

export function planDialogs(seed: number, scale: SynthScale, cue: CueSettings | null): DialogPlan[] {
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
      const centre = LABEL_FACTS[label].vad;
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
