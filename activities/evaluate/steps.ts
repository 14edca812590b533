import { readFileSync } from 'node:fs';
import { VSC_CODE_VERSION, type VscParams } from '../../schemas/compress.ts';
import type {
  DatasetAcquireResult,
  DatasetCompressResult,
  DatasetEvaluateResult,
  DatasetExtractResult,
  DatasetSegmentResult,
  DatasetTrainResult,
} from '../../schemas/config.ts';
import {
  MetricsReportSchema,
  REPORT_SCHEMA,
  REPORT_VERSION,
  type MetricsReport,
  type StageTime,
  type VariantReport,
} from '../../schemas/report.ts';
import { SegmentReportSchema } from '../../schemas/segment-report.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import { FoldTrainResultSchema, type ResolvedVariant, type TrainParams } from '../../schemas/train.ts';
import { contentKey } from '../common/hash.ts';
import { EpochRecordSchema, type EpochRecord } from '../model/checkpoint.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { parquetToPredictions, predictionsToParquet } from '../train/predictions.ts';
import { readSplitPlan } from '../train/split-step.ts';
import { TRAIN_CODE_VERSION } from '../train/fold-step.ts';
import { aggregateMetrics, foldMetrics } from './metrics.ts';
import { renderReport, type FoldCurves } from './report-build.ts';

/** Bumped whenever the same trainings would give a different report. */
export const EVALUATE_CODE_VERSION = 1;

export const reportPrefix = (evalKey: string): string => `reports/${evalKey}`;

export interface EvaluateDatasetInput {
  store: StoreSpec;
  configHash: string;
  labels: string;
  acquired: DatasetAcquireResult;
  segmented: DatasetSegmentResult;
  features: DatasetExtractResult;
  compressed: DatasetCompressResult;
  trained: DatasetTrainResult;
  variants: ResolvedVariant[];
  /** The run's train and VSC settings, shown in the report (the trainings' keys already cover them). */
  settings: { train: TrainParams; vsc: VscParams };
  /** The run's stage timings so far (from the pipeline's progress), for the report; not part of the key. */
  timings: StageTime[];
}

/** Where the report went; the workflow adds the dataset and turns `skipped` into `ran`. */
export type EvaluateDatasetResult = Omit<DatasetEvaluateResult, 'dataset' | 'ran'> & { skipped: boolean };

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

function summarise(evalKey: string, report: MetricsReport, skipped: boolean): EvaluateDatasetResult {
  const prefix = reportPrefix(evalKey);
  const full = report.variants[0];
  return {
    evalKey,
    prefix,
    metricsKey: `${prefix}/metrics.json`,
    htmlKey: `${prefix}/report.html`,
    markdownKey: `${prefix}/report.md`,
    headline: { variant: full.name, ...full.aggregate.mean, folds: full.folds.length },
    skipped,
  };
}

async function json(store: ObjectStore, key: string): Promise<unknown> {
  return JSON.parse((await store.get(key)).toString('utf8'));
}

/**
 * Metrics, tables and figures of one dataset's trainings: per fold, across folds (mean, std and
 * pooled predictions), per class, the reference's figures, the ablation table; written under
 * `reports/<evalKey>/` (metrics.json, report.md, report.html, figures/*.svg, predictions/*.parquet).
 * The key is the trainings' keys plus this code's version: a rerun finds the report committed.
 */
export async function evaluateDatasetStep(input: EvaluateDatasetInput): Promise<EvaluateDatasetResult> {
  const store = createStore(input.store);
  const { trained } = input;
  const evalKey = contentKey({
    stage: 'evaluate',
    code: EVALUATE_CODE_VERSION,
    runs: trained.runs.map((r) => [r.variant, r.fold, r.trainKey]),
    splits: trained.splitsKey,
  });
  const prefix = reportPrefix(evalKey);
  if (await store.committed(prefix))
    return summarise(evalKey, MetricsReportSchema.parse(await json(store, `${prefix}/metrics.json`)), true);

  const plan = await readSplitPlan(store, trained.splitsKey);
  const classes = plan.classes;
  const variants: VariantReport[] = [];
  const curves: FoldCurves[] = [];
  let trainSeconds = 0;
  let resumed = 0;
  for (const variant of input.variants) {
    const runs = trained.runs.filter((r) => r.variant === variant.name);
    if (!runs.length) throw new Error(`evaluate: no trainings of variant ${variant.name} in the train result`);
    const folds: VariantReport['folds'] = [];
    const pooled = {
      ids: [] as string[],
      folds: [] as string[],
      labels: [] as number[],
      predicted: [] as number[],
      probabilities: [] as number[],
    };
    const perFold: { labels: Int32Array; predicted: Int32Array }[] = [];
    for (const run of runs) {
      const result = FoldTrainResultSchema.parse(await json(store, run.resultKey));
      const p = parquetToPredictions(await store.get(result.keys.predictions), result.keys.predictions);
      if (p.classes.join('\u0000') !== classes.join('\u0000'))
        throw new Error(
          `evaluate: ${result.keys.predictions} has classes ${p.classes.join(',')}, the split plan ${classes.join(',')}`,
        );
      perFold.push({ labels: p.labels, predicted: p.predicted });
      pooled.ids.push(...p.utteranceIds);
      pooled.folds.push(...p.fold);
      pooled.labels.push(...p.labels);
      pooled.predicted.push(...p.predicted);
      pooled.probabilities.push(...p.probabilities);
      folds.push({
        fold: result.fold,
        testGroup: result.testGroup,
        trainKey: result.trainKey,
        bestEpoch: result.bestEpoch,
        epochs: result.epochs,
        resumedFromStep: result.resumedFromStep,
        seconds: result.seconds,
        metrics: foldMetrics(p.labels, p.predicted, classes),
      });
      trainSeconds += result.seconds;
      if (result.resumedFromStep > 0) resumed++;
      if (variant === input.variants[0]) {
        const h = (await json(store, result.keys.history)) as { history: EpochRecord[] };
        curves.push({ fold: result.fold, history: EpochRecordSchema.array().parse(h.history) });
      }
    }
    const predictionsKey = `${prefix}/predictions/${variant.name}.parquet`;
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
    variants.push({
      name: variant.name,
      modalities: [...variant.modalities],
      vsc: variant.vsc,
      contrastive: variant.contrastive,
      folds,
      aggregate: aggregateMetrics(perFold, classes),
      predictionsKey,
    });
  }

  const segment = SegmentReportSchema.parse(await json(store, input.segmented.reportKey));
  const reasons: Record<string, number> = {};
  for (const q of segment.quarantinedItems) {
    const code = q.reason.split(':')[0].trim();
    reasons[code] = (reasons[code] ?? 0) + 1;
  }
  const m = input.features.modalities;
  const ablation =
    variants.length > 1
      ? variants.map((v) => ({
          variant: v.name,
          modalities: v.modalities,
          vsc: v.vsc,
          contrastive: v.contrastive,
          accuracy: { mean: v.aggregate.mean.accuracy, std: v.aggregate.std.accuracy },
          weightedF1: { mean: v.aggregate.mean.weightedF1, std: v.aggregate.std.weightedF1 },
          macroF1: { mean: v.aggregate.mean.macroF1, std: v.aggregate.std.macroF1 },
        }))
      : null;
  const draft: Omit<MetricsReport, 'figures'> = {
    schema: REPORT_SCHEMA,
    version: REPORT_VERSION,
    evalKey,
    dataset: input.acquired.dataset,
    labelSet: input.labels,
    classes,
    protocol: trained.protocol,
    optimistic: trained.optimistic,
    config: { train: { ...input.settings.train }, vsc: { ...input.settings.vsc } },
    provenance: {
      configHash: input.configHash,
      sourceKey: input.acquired.sourceKey,
      manifestKey: input.acquired.manifestKey,
      encoders: { text: m.text.modelSha256, audio: m.audio.modelSha256, visual: m.visual.modelSha256 },
      featureKeys: { text: m.text.featuresPrefix, audio: m.audio.featuresPrefix, visual: m.visual.featuresPrefix },
      vscKeys: input.compressed.outputs.map((o) => o.vscKey),
      splitsKey: trained.splitsKey,
      code: {
        package: packageVersion(),
        train: TRAIN_CODE_VERSION,
        vsc: VSC_CODE_VERSION,
        evaluate: EVALUATE_CODE_VERSION,
      },
    },
    variants,
    ablation,
    stages: {
      acquire: { rows: input.acquired.rows, inLabelSet: input.acquired.inLabelSet, issues: input.acquired.issues },
      segment: {
        utterances: segment.utterances,
        ok: segment.ok,
        quarantined: segment.quarantined,
        reasons,
        audioSeconds: segment.audioSeconds,
      },
      extract: Object.fromEntries(
        Object.values(m).map((f) => [
          f.modality,
          { ok: f.ok, quarantined: f.quarantined, reasons: f.quarantineReasons, dim: f.dim },
        ]),
      ),
      compress: input.compressed.outputs.map((o) => ({
        vscKey: o.vscKey,
        enabled: o.enabled,
        utterances: o.utterances,
        ratio: o.ratio,
        byteRatio: o.byteRatio,
        seconds: o.seconds,
      })),
      train: { trainings: trained.runs.length, seconds: trainSeconds, resumed },
      splits: plan.counts,
      timings: input.timings,
    },
  };

  const rendered = await renderReport(draft, curves);
  const report = MetricsReportSchema.parse({
    ...draft,
    figures: rendered.figures.map(({ id, file, caption }) => ({ id, file, caption })),
  });
  for (const f of rendered.figures) await store.put(`${prefix}/${f.file}`, f.svg);
  await store.put(`${prefix}/report.md`, rendered.markdown);
  await store.put(`${prefix}/report.html`, rendered.html);
  await store.put(`${prefix}/metrics.json`, JSON.stringify(report, null, 2));
  const result = summarise(evalKey, report, false);
  await store.commit(prefix, {
    stage: 'evaluate',
    summary: { dataset: report.dataset, protocol: report.protocol, headline: result.headline },
  });
  return result;
}
