/**
 * Selection on validation: per dataset, every setting's validation weighted F1 of the run's first
 * variant (the full model), averaged over folds and then over seeds, ranked; the best is chosen and
 * only its test metrics are reported as results (once); the others' are kept, labelled not for
 * selection. Pure: the report activity feeds it the settings' outcomes.
 *
 * Decision record: intervals are over seeds (each seed's fold mean) when any setting of the dataset
 * trained more than one seed, since seeds are what a rerun varies; with one seed they are over folds,
 * which mixes data variation in and says so. Ties go to the earlier setting (its order in the config).
 */
import type { SweepDatasetOutcome, SweepRunScore } from '../../schemas/sweep-outcome.ts';
import type {
  SweepDatasetReport,
  SweepInterval,
  SweepSettingProgress,
  SweepSettingScore,
  SweepTestMetrics,
} from '../../schemas/sweep.ts';
import { tInterval } from '../evaluate/stats/index.ts';

/** A setting as the sweep ended it: its state and, when its run completed, what each dataset gave (sweepOutcome). */
export interface SweepSettingOutcome extends SweepSettingProgress {
  datasets: SweepDatasetOutcome[];
}

export const SELECTION_RULE =
  'Settings are ranked by the validation weighted F1 of the full model (each run\u2019s first variant), the mean over folds and seeds; the best is chosen. Test metrics are reported for the chosen setting only; the other settings\u2019 test metrics are stored but not for selection.';

const seedOf = (r: SweepRunScore): number => r.seed ?? 0;

interface Scored {
  score: SweepSettingScore;
  test?: SweepTestMetrics;
}

/** Per dataset any setting trained: the ranking, the chosen setting and the notes. */
export function selectOnValidation(settings: readonly SweepSettingOutcome[]): SweepDatasetReport[] {
  const datasets = [...new Set(settings.flatMap((s) => s.datasets.map((d) => d.dataset)))];
  return datasets.map((dataset) => selectDataset(dataset, settings));
}

function selectDataset(dataset: string, settings: readonly SweepSettingOutcome[]): SweepDatasetReport {
  const outcomeOf = settings.map((s) => s.datasets.find((d) => d.dataset === dataset));
  const first = outcomeOf.find((t) => t !== undefined)!;
  const multiSeed = outcomeOf.some((t) => t && new Set(t.runs.map(seedOf)).size > 1);
  const intervalOver = multiSeed ? 'seeds' : 'folds';
  const notes: string[] = [];
  const scored: Scored[] = settings.map((s, i) => scoreSetting(s, outcomeOf[i], intervalOver));
  const ranked = scored
    .filter((x) => x.score.validation !== null)
    .sort((a, b) => b.score.validation!.mean - a.score.validation!.mean || a.score.index - b.score.index);
  ranked.forEach((x, i) => (x.score.rank = i + 1));
  const best = ranked[0];
  const optimistic = outcomeOf.some((t) => t?.optimistic);
  if (optimistic)
    notes.push(
      `Selection is optimistic: the ${first.protocol} protocol has no separate validation split (each fold validates on its test split), so the chosen setting was picked on the data its test metrics are measured on.`,
    );
  if (!best) notes.push('No setting has validation metrics: nothing was chosen.');
  const unscored = scored.filter((x) => x.score.validation === null);
  if (unscored.length)
    notes.push(
      `Not ranked: ${unscored.map((x) => `setting ${x.score.index + 1} (${x.score.status}${x.score.error ? `: ${x.score.error}` : ''})`).join('; ')}.`,
    );
  return {
    dataset,
    protocol: first.protocol,
    optimistic,
    variant: first.variant,
    intervalOver,
    level: 0.95,
    settings: scored.map((x) => (x === best || !x.test ? x.score : { ...x.score, testNotForSelection: x.test })),
    chosen:
      best && best.test
        ? {
            index: best.score.index,
            label: best.score.label,
            values: best.score.values,
            validation: best.score.validation!,
            test: best.test,
          }
        : null,
    notes,
  };
}

function scoreSetting(s: SweepSettingOutcome, t: SweepDatasetOutcome | undefined, over: 'seeds' | 'folds'): Scored {
  const base: SweepSettingScore = {
    index: s.index,
    label: s.label,
    values: s.values,
    status: s.status,
    ...(s.error ? { error: s.error } : {}),
    configHash: s.configHash,
    workflowId: s.workflowId,
    folds: 0,
    seeds: 0,
    validation: null,
    rank: null,
    ...(t?.reportHtml ? { reportHtml: t.reportHtml } : {}),
  };
  if (!t) return { score: base };
  const { runs } = t;
  const seeds = [...new Set(runs.map(seedOf))].sort((a, b) => a - b);
  const score = { ...base, folds: new Set(runs.map((r) => r.fold)).size, seeds: seeds.length };
  // A setting whose full model diverged on a fold has no comparable mean: it is a result, not a rank.
  if (t.diverged.length || !runs.length) return { score };
  const agg = (pick: (r: SweepRunScore) => number | null): SweepInterval | null => {
    const values =
      over === 'seeds' ? seeds.map((seed) => mean(runs.filter((r) => seedOf(r) === seed).map(pick))) : runs.map(pick);
    return values.every((v): v is number => v !== null && Number.isFinite(v)) ? tInterval(values) : null;
  };
  const test = {
    accuracy: agg((r) => r.test.accuracy)!,
    weightedF1: agg((r) => r.test.weightedF1)!,
    macroF1: agg((r) => r.test.macroF1)!,
  };
  return { score: { ...score, validation: agg((r) => r.validation) }, test };
}

function mean(xs: Array<number | null>): number | null {
  if (xs.some((x) => x === null)) return null;
  return (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
}
