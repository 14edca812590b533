/**
 * What a sweep keeps of each setting's pipeline result for the selection: per dataset the selected
 * variant's trainings (key, fold, seed, headline scores) and report. Pure and free of zod, so the
 * MerSweep workflow calls it; small, so the sweep's history and its report activity's input stay small.
 */
import type { DatasetEvaluateResult, DatasetTrainResult, TrainRunSummary } from './config.ts';

/** One training of the selected variant as the sweep keeps it: its key, fold, seed and headline scores. */
export interface SweepRunScore {
  trainKey: string;
  fold: string;
  /** Absent for runs without train.seeds (seed 0). */
  seed?: number;
  /** Validation weighted F1 at the selected epoch; null without a validation split. */
  validation: number | null;
  test: { accuracy: number; weightedF1: number; macroF1: number };
}

/** What a setting's run gives the selection for one dataset: small, so the sweep's history stays small. */
export interface SweepDatasetOutcome {
  dataset: string;
  protocol: string;
  optimistic: boolean;
  /** The variant settings are compared on: the run's first (the full model). */
  variant: string;
  runs: SweepRunScore[];
  /** Keys of that variant's trainings that diverged. */
  diverged: string[];
  /** The setting's evaluation report, when its run reached evaluate. */
  evalKey?: string;
  reportHtml?: string;
}

/** A setting's pipeline result reduced to what the selection reads (pure: workflow code calls it). */
export function sweepOutcome(
  trained: Record<string, DatasetTrainResult> = {},
  reports: Record<string, DatasetEvaluateResult> = {},
): SweepDatasetOutcome[] {
  return Object.values(trained).map((t) => {
    const variant = t.variants[0] ?? '';
    const report = reports[t.dataset];
    return {
      dataset: t.dataset,
      protocol: t.protocol,
      optimistic: t.optimistic,
      variant,
      runs: t.runs
        .filter((r) => r.variant === variant)
        .map((r: TrainRunSummary & { seed?: number }) => ({
          trainKey: r.trainKey,
          fold: r.fold,
          ...(r.seed === undefined ? {} : { seed: r.seed }),
          validation: r.validation?.weightedF1 ?? null,
          test: { accuracy: r.test.accuracy, weightedF1: r.test.weightedF1, macroF1: r.test.macroF1 },
        })),
      diverged: (t.diverged ?? []).filter((d) => d.variant === variant).map((d) => d.trainKey),
      ...(report ? { evalKey: report.evalKey, reportHtml: report.htmlKey } : {}),
    };
  });
}
