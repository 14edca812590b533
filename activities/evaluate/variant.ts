import { z } from 'zod';
import type { DatasetTrainResult } from '../../schemas/config.ts';
import type { ReportKeys } from '../../schemas/layout.ts';
import type { VariantReport } from '../../schemas/report.ts';
import { FoldTrainResultSchema, type ResolvedVariant } from '../../schemas/train.ts';
import { EpochRecordSchema } from '../model/checkpoint.ts';
import type { ObjectStore } from '../store/types.ts';
import { parquetToPredictions, predictionsToParquet } from '../train/predictions.ts';
import { aggregateMetrics, foldMetrics } from './metrics.ts';
import type { FoldCurves } from './report-build.ts';
import { readStoredJson } from '../common/stored-json.ts';
import type { RunPredictions } from './significance.ts';

/** One variant's part of the report. */
export interface VariantEvaluation {
  report: VariantReport;
  /** Per fold of the first seed, when asked for (the full model's curves go into the report). */
  curves: FoldCurves[];
  /** Every training's test predictions, for the intervals and paired tests (significance.ts). */
  runs: RunPredictions[];
}

/**
 * The evaluate stage's unit of work: one variant's trainings (one per fold and seed), their test
 * predictions scored per fold and across folds, and the predictions of every fold of the first seed
 * pooled into `reports/<evalKey>/predictions/<variant>.parquet`. `defaultSeed` is `train.seed`, the
 * seed of trainings recorded before results carried theirs.
 */
export async function evaluateVariant(
  store: ObjectStore,
  keys: ReportKeys,
  evalKey: string,
  variant: ResolvedVariant,
  runs: DatasetTrainResult['runs'],
  classes: string[],
  withCurves: boolean,
  defaultSeed = 0,
): Promise<VariantEvaluation> {
  if (!runs.length) throw new Error(`evaluate: no trainings of variant ${variant.name} in the train result`);
  const folds: VariantReport['folds'] = [];
  const curves: FoldCurves[] = [];
  const pooled = {
    ids: [] as string[],
    folds: [] as string[],
    labels: [] as number[],
    predicted: [] as number[],
    probabilities: [] as number[],
  };
  const perFold: { labels: Int32Array; predicted: Int32Array }[] = [];
  const predictions: RunPredictions[] = [];
  const seedOf = (run: (typeof runs)[number]) => run.seed ?? defaultSeed;
  const firstSeed = seedOf(runs[0]);
  const seeded = runs.some((r) => seedOf(r) !== firstSeed);
  for (const run of runs) {
    const result = await readStoredJson(store, run.resultKey, FoldTrainResultSchema);
    const p = parquetToPredictions(await store.get(result.keys.predictions), result.keys.predictions);
    if (p.classes.join('\u0000') !== classes.join('\u0000'))
      throw new Error(
        `evaluate: ${result.keys.predictions} has classes ${p.classes.join(',')}, the split plan ${classes.join(',')}`,
      );
    const seed = seedOf(run);
    const metrics = foldMetrics(p.labels, p.predicted, classes);
    perFold.push({ labels: p.labels, predicted: p.predicted });
    predictions.push({
      seed,
      fold: result.fold,
      utteranceIds: p.utteranceIds,
      labels: p.labels,
      predicted: p.predicted,
      metrics: { accuracy: metrics.accuracy, weightedF1: metrics.weightedF1, macroF1: metrics.macroF1 },
    });
    if (seed === firstSeed) {
      pooled.ids.push(...p.utteranceIds);
      pooled.folds.push(...p.fold);
      pooled.labels.push(...p.labels);
      pooled.predicted.push(...p.predicted);
      pooled.probabilities.push(...p.probabilities);
    }
    folds.push({
      fold: result.fold,
      ...(seeded ? { seed } : {}),
      testGroup: result.testGroup,
      trainKey: result.trainKey,
      bestEpoch: result.bestEpoch,
      epochs: result.epochs,
      resumedFromStep: result.resumedFromStep,
      seconds: result.seconds,
      metrics,
    });
    if (withCurves && seed === firstSeed) {
      const h = await readStoredJson(store, result.keys.history, z.object({ history: EpochRecordSchema.array() }));
      curves.push({ fold: result.fold, history: h.history });
    }
  }
  const predictionsKey = keys.predictions(variant.name);
  await store.put(
    predictionsKey,
    predictionsToParquet(
      {
        utteranceIds: pooled.ids,
        fold: pooled.folds,
        labels: Int32Array.from(pooled.labels),
        predicted: Int32Array.from(pooled.predicted),
        probabilities: Float32Array.from(pooled.probabilities),
        classes,
      },
      { 'mer.variant': variant.name, 'mer.evalKey': evalKey },
    ),
  );
  const report: VariantReport = {
    name: variant.name,
    modalities: [...variant.modalities],
    vsc: variant.vsc,
    contrastive: variant.contrastive,
    folds,
    aggregate: aggregateMetrics(perFold, classes),
    predictionsKey,
  };
  return { report, curves, runs: predictions };
}
