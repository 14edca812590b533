/**
 * Slices of a run's test predictions (issue 18): each variant's pooled test metrics by gender, speaker,
 * IEMOCAP improvised vs scripted and utterance-duration tertile, with cluster-bootstrap intervals over
 * dialogues; and, per class, the full model's recall against each single-modality variant with a paired
 * cluster-bootstrap interval of the gain. The paper names these as what it did not look at.
 *
 * Decisions:
 * - Every slice's interval resamples whole dialogues (activities/evaluate/stats), with one seed for all
 *   slices: a slice's figures depend on its own utterances and that seed only.
 * - Speaker: IEMOCAP's ten actors are session x gender (`Ses01F`; the manifest's `speaker` is only the
 *   turn's F/M side); MELD's six main characters by name, every other speaker pooled as `other`.
 * - Duration: endSec - startSec; tertile cut points are numpy's default quantiles at 1/3 and 2/3 of the
 *   variant's own test utterances; an utterance without a positive duration is in no duration slice
 *   (counted in `durationExcluded`).
 * - A recall gain is an accuracy difference on the utterances of that class, so it is pairedTest's
 *   accuracy difference on them (bootstrap method: its interval is the paired percentile interval).
 * - A kind the manifest has no value for (MELD: gender, interaction) is left out with a note; single
 *   rows without a value fall into `unknown`.
 */
import type { ManifestRow } from '../../../schemas/manifest.ts';
import {
  MELD_MAIN_CHARACTERS,
  SLICE_SMALL,
  type ClassGain,
  type Slice,
  type SliceKind,
  type Slices,
  type VariantSlices,
} from '../../../schemas/slices.ts';
import { bootstrapInterval, pairedTest, quantileSorted } from '../stats/index.ts';

export type SliceManifestRow = Pick<
  ManifestRow,
  'utteranceId' | 'dataset' | 'session' | 'dialogueId' | 'speaker' | 'gender' | 'interaction' | 'startSec' | 'endSec'
>;

export type Modality = 't' | 'a' | 'v';

/** One variant's pooled test predictions (class indices into the report's classes). */
export interface SliceVariantInput {
  readonly name: string;
  readonly modalities: readonly Modality[];
  readonly utteranceIds: readonly string[];
  readonly labels: ArrayLike<number>;
  readonly predicted: ArrayLike<number>;
}

export interface SliceOptions {
  readonly rounds?: number;
  readonly seed?: number;
  readonly level?: number;
}

interface Resolved {
  readonly rounds: number;
  readonly seed: number;
  readonly level: number;
}

const ORDER: Record<Exclude<SliceKind, 'speaker'>, readonly string[]> = {
  gender: ['F', 'M', 'unknown'],
  interaction: ['improvised', 'scripted', 'unknown'],
  duration: ['short', 'medium', 'long'],
};

export function isSmall(n: number, dialogues: number): boolean {
  return n < SLICE_SMALL.minItems || dialogues < SLICE_SMALL.minDialogues;
}

function speakerOf(row: SliceManifestRow): string {
  if (row.dataset === 'iemocap') {
    return `Ses${String(row.session ?? 0).padStart(2, '0')}${row.gender ?? row.speaker}`;
  }
  return (MELD_MAIN_CHARACTERS as readonly string[]).includes(row.speaker) ? row.speaker : 'other';
}

function speakerOrder(names: Iterable<string>): string[] {
  const main = MELD_MAIN_CHARACTERS as readonly string[];
  const rank = (s: string) => (main.includes(s) ? main.indexOf(s) : s === 'other' ? main.length : -1);
  return [...names].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Tertile cut points (numpy linear quantiles at 1/3 and 2/3); null with fewer than 3 durations. */
export function tertileCuts(durations: readonly number[]): [number, number] | null {
  if (durations.length < 3) return null;
  const sorted = Float64Array.from(durations).sort();
  return [quantileSorted(sorted, 1 / 3), quantileSorted(sorted, 2 / 3)];
}

function scoreSlice(
  kind: SliceKind,
  name: string,
  idx: readonly number[],
  v: SliceVariantInput,
  dialogueOf: readonly string[],
  classes: number,
  o: Resolved,
): Slice {
  const yTrue = idx.map((i) => v.labels[i]);
  const yPred = idx.map((i) => v.predicted[i]);
  const clusters = idx.map((i) => dialogueOf[i]);
  const p = { yTrue, yPred, clusters, classes };
  const interval = (metric: 'accuracy' | 'weightedF1') => {
    const r = bootstrapInterval(p, metric, o);
    return { estimate: r.estimate, low: r.low, high: r.high };
  };
  const accuracy = interval('accuracy');
  const dialogues = new Set(clusters).size;
  return {
    kind,
    name,
    n: idx.length,
    dialogues,
    small: isSmall(idx.length, dialogues),
    accuracy,
    weightedF1: interval('weightedF1'),
  };
}

function variantSlices(
  v: SliceVariantInput,
  rows: readonly SliceManifestRow[],
  kinds: readonly SliceKind[],
  classes: number,
  o: Resolved,
): VariantSlices {
  const dialogueOf = rows.map((r) => r.dialogueId);
  const groups = new Map<SliceKind, Map<string, number[]>>(kinds.map((k) => [k, new Map()]));
  const put = (kind: SliceKind, name: string, i: number) => {
    const g = groups.get(kind);
    if (!g) return;
    const list = g.get(name);
    if (list) list.push(i);
    else g.set(name, [i]);
  };
  const durations = rows.map((r) => r.endSec - r.startSec);
  const cuts = tertileCuts(durations.filter((d) => d > 0));
  rows.forEach((r, i) => {
    put('gender', r.gender ?? 'unknown', i);
    put('speaker', speakerOf(r), i);
    put('interaction', r.interaction ?? 'unknown', i);
    const d = durations[i];
    if (cuts && d > 0) put('duration', d <= cuts[0] ? 'short' : d <= cuts[1] ? 'medium' : 'long', i);
  });
  const slices: Slice[] = [];
  for (const kind of kinds) {
    const g = groups.get(kind)!;
    const names = kind === 'speaker' ? speakerOrder(g.keys()) : ORDER[kind].filter((n) => g.has(n));
    for (const name of names) slices.push(scoreSlice(kind, name, g.get(name)!, v, dialogueOf, classes, o));
  }
  return {
    variant: v.name,
    durationCuts: cuts,
    durationExcluded: durations.filter((d) => !(d > 0)).length,
    slices,
  };
}

function classGains(
  variants: readonly SliceVariantInput[],
  byId: ReadonlyMap<string, SliceManifestRow>,
  classes: readonly string[],
  o: Resolved,
): Slices['classGains'] {
  const full = variants[0];
  const singles = variants.slice(1).filter((v) => v.modalities.length === 1);
  if (!full || singles.length === 0) return null;
  // The utterances every compared variant predicted, in the full model's order.
  const position = singles.map((s) => new Map(s.utteranceIds.map((id, i) => [id, i])));
  const common: { i: number; at: number[] }[] = [];
  full.utteranceIds.forEach((id, i) => {
    const at = position.map((m) => m.get(id));
    if (at.every((x) => x !== undefined)) common.push({ i, at });
  });
  const perClass: ClassGain[] = [];
  classes.forEach((name, c) => {
    const items = common.filter((u) => full.labels[u.i] === c);
    if (items.length === 0) return;
    const clusters = items.map((u) => byId.get(full.utteranceIds[u.i])!.dialogueId);
    const yTrue = items.map(() => c);
    const predA = items.map((u) => full.predicted[u.i]);
    const fullRecall = predA.filter((p) => p === c).length / items.length;
    const dialogues = new Set(clusters).size;
    const against = singles.map((s, k) => {
      items.forEach((u) => {
        if (s.labels[u.at[k]] !== c)
          throw new Error(
            `slices: utterance ${full.utteranceIds[u.i]} has different labels in ${full.name} and ${s.name}`,
          );
      });
      const predB = items.map((u) => s.predicted[u.at[k]]);
      const t = pairedTest({ yTrue, predA, predB, clusters, classes: classes.length }, 'accuracy', {
        method: 'bootstrap',
        ...o,
      });
      const recall = predB.filter((p) => p === c).length / items.length;
      return { variant: s.name, modality: s.modalities[0], recall, gain: t.difference, low: t.low, high: t.high };
    });
    perClass.push({
      class: name,
      support: items.length,
      dialogues,
      small: isSmall(items.length, dialogues),
      fullRecall,
      against,
    });
  });
  return { full: full.name, against: singles.map((s) => s.name), perClass };
}

/**
 * Slices of every variant's pooled test predictions; `variants[0]` is the full model. Every predicted
 * utterance must be in `manifest` (an error names the first one that is not).
 */
export function computeSlices(
  input: {
    readonly classes: readonly string[];
    readonly manifest: readonly SliceManifestRow[];
    readonly variants: readonly SliceVariantInput[];
  },
  opts: SliceOptions = {},
): Slices {
  const o: Resolved = { rounds: opts.rounds ?? 1000, seed: opts.seed ?? 0, level: opts.level ?? 0.95 };
  const byId = new Map(input.manifest.map((r) => [r.utteranceId, r]));
  const rowsOf = (v: SliceVariantInput) =>
    v.utteranceIds.map((id) => {
      const r = byId.get(id);
      if (!r) throw new Error(`slices: ${v.name} predicts utterance ${id}, which is not in the manifest`);
      return r;
    });
  const variantRows = input.variants.map(rowsOf);
  const all = variantRows.flat();
  const notes: string[] = [];
  const kinds: SliceKind[] = [];
  const has = (f: (r: SliceManifestRow) => unknown) => all.some((r) => f(r) !== null);
  if (has((r) => r.gender)) kinds.push('gender');
  else notes.push('no gender slices: the manifest records no speaker gender for this dataset');
  kinds.push('speaker');
  if (has((r) => r.interaction)) kinds.push('interaction');
  else notes.push('no improvised / scripted slices: the manifest records no interaction type for this dataset');
  kinds.push('duration');
  return {
    method: { cluster: 'dialogue', ...o, small: { ...SLICE_SMALL } },
    notes,
    variants: input.variants.map((v, i) => variantSlices(v, variantRows[i], kinds, input.classes.length, o)),
    classGains: classGains(input.variants, byId, input.classes, o),
  };
}
