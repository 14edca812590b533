/**
 * The report's Slices section: the method in two sentences, the full model's slice table, every
 * variant's weighted F1 per slice, the per-class gains over single modalities, and their charts.
 * Small slices are marked in the tables and drawn hollow, never left out.
 */
import type { Slices, VariantSlices } from '../../../schemas/slices.ts';
import type { ReportBlock } from '../report-doc.ts';
import { classGainsSvg, sliceIntervalsSvg } from './chart.ts';

const pct = (x: number): string => (x * 100).toFixed(1);
const withInterval = (m: { estimate: number; low: number; high: number }): string =>
  `${pct(m.estimate)} [${pct(m.low)}, ${pct(m.high)}]`;
const signed = (x: number): string => `${x >= 0 ? '+' : '\u2212'}${pct(Math.abs(x))}`;

function durationNote(v: VariantSlices): string {
  if (!v.durationCuts) return 'Too few utterances with a duration for tertiles.';
  const [a, b] = v.durationCuts;
  const left = v.durationExcluded ? ` ${v.durationExcluded} utterance(s) without a duration are in no tertile.` : '';
  return `Duration tertiles of ${v.variant}'s test utterances: short <= ${a.toFixed(2)} s < medium <= ${b.toFixed(2)} s < long.${left}`;
}

/** Blocks of the Slices section; figure blocks carry ids `slices` and `class-gains`. */
export async function sliceBlocks(slices: Slices, name: string): Promise<ReportBlock[]> {
  const m = slices.method;
  const level = `${Math.round(m.level * 100)}%`;
  const full = slices.variants[0];
  if (!full) return [];
  const blocks: ReportBlock[] = [{ kind: 'heading', level: 2, text: 'Slices' }];
  blocks.push({
    kind: 'paragraph',
    text:
      `Test metrics of every variant's pooled predictions by gender, speaker, improvised vs scripted and utterance duration, with ${level} percentile bootstrap intervals that resample whole dialogues (${m.rounds} rounds, seed ${m.seed}), since utterances of one dialogue are not independent. ` +
      `Slices marked small have fewer than ${m.small.minItems} utterances or fewer than ${m.small.minDialogues} dialogues: they are shown, but their figures rest on little data. ` +
      [durationNote(full), ...slices.notes.map((n) => `${n[0].toUpperCase()}${n.slice(1)}.`)].join(' '),
  });
  blocks.push({
    kind: 'table',
    caption: `${full.variant} by slice (%, ${level} interval over dialogues)`,
    columns: ['kind', 'slice', 'n', 'dialogues', 'accuracy', 'weighted F1', 'small'],
    align: ['left', 'left', 'right', 'right', 'right', 'right', 'left'],
    rows: full.slices.map((s) => [
      s.kind,
      s.name,
      s.n,
      s.dialogues,
      withInterval(s.accuracy),
      withInterval(s.weightedF1),
      s.small ? 'small' : '',
    ]),
  });
  if (slices.variants.length > 1) {
    const keys = full.slices.map((s) => `${s.kind}\u0000${s.name}`);
    const cell = (v: VariantSlices, key: string): string => {
      const s = v.slices.find((x) => `${x.kind}\u0000${x.name}` === key);
      return s ? `${withInterval(s.weightedF1)}${s.small ? ' (small)' : ''}` : '';
    };
    blocks.push({
      kind: 'table',
      caption: `Weighted F1 by slice, every variant (%, ${level} interval over dialogues)`,
      columns: ['slice', ...slices.variants.map((v) => v.variant)],
      align: ['left', ...slices.variants.map(() => 'right' as const)],
      rows: full.slices.map((s, i) => [`${s.kind}: ${s.name}`, ...slices.variants.map((v) => cell(v, keys[i]))]),
    });
  }
  blocks.push({
    kind: 'figure',
    id: 'slices',
    caption: `Weighted F1 by slice with ${level} bootstrap intervals over dialogues, one colour per variant; hollow points are small slices`,
    svg: await sliceIntervalsSvg(slices, 'weightedF1', `${name}: weighted F1 by slice`),
  });
  const g = slices.classGains;
  if (g && g.perClass.length) {
    blocks.push({ kind: 'heading', level: 3, text: `Where ${g.full} gains or loses against single modalities` });
    blocks.push({
      kind: 'table',
      caption: `Per class: recall of ${g.full} and its gain over each single-modality variant on the utterances all of them predicted (percentage points, paired ${level} bootstrap interval over dialogues)`,
      columns: ['class', 'n', `${g.full} recall`, ...g.against.map((a) => `vs ${a}`), 'small'],
      align: ['left', 'right', 'right', ...g.against.map(() => 'right' as const), 'left'],
      rows: g.perClass.map((c) => [
        c.class,
        c.support,
        pct(c.fullRecall),
        ...c.against.map((a) => `${signed(a.gain)} [${signed(a.low)}, ${signed(a.high)}]`),
        c.small ? 'small' : '',
      ]),
    });
    blocks.push({
      kind: 'figure',
      id: 'class-gains',
      caption: `Recall of ${g.full} minus each single-modality variant's, per class, with paired ${level} bootstrap intervals over dialogues`,
      svg: await classGainsSvg(g, `${name}: per-class recall gain of ${g.full}`),
    });
  }
  return blocks;
}
