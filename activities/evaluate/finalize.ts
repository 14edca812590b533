import { readFileSync } from 'node:fs';
import { VSC_CODE_VERSION } from '../../schemas/compress.ts';
import { reportKeys } from '../../schemas/layout.ts';
import {
  MetricsReportSchema,
  REPORT_RUN_SCHEMA,
  REPORT_SCHEMA,
  REPORT_VERSION,
  ReportRunSchema,
  type MetricsReport,
  type ReportRun,
  type VariantReport,
} from '../../schemas/report.ts';
import { SegmentReportSchema, reasonCode, type SegmentReport } from '../../schemas/segment-report.ts';
import type { SplitPlan } from '../../schemas/train.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { storedVscParams } from '../compress/key.ts';
import { createStore } from '../store/index.ts';
import { encoderModels } from './encoders.ts';
import type { ObjectStore } from '../store/types.ts';
import { TRAIN_CODE_VERSION } from '../train/fold.ts';
import { readSplitPlan } from '../train/plan.ts';
import {
  EVALUATE_CODE_VERSION,
  evaluateKey,
  summarise,
  type EvaluateDatasetInput,
  type EvaluateDatasetResult,
} from './plan.ts';
import { renderReport, type FoldCurves } from './report-build.ts';
import { modalityNotices } from './notices.ts';
import { evaluateVariant } from './variant.ts';
import {
  compareVariants,
  dialogueClusters,
  pooledInterval,
  seedSummary,
  statistics,
  type VariantPredictions,
} from './significance.ts';
import { arrowTableToRows } from '../../schemas/manifest.ts';
import { parquetToTable } from '../common/parquet.ts';
import { storedSlices } from './slices/index.ts';
import { readStoredJson } from '../common/stored-json.ts';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

/**
 * Metrics, tables and figures of one dataset's trainings: per fold, across folds (mean, std and
 * pooled predictions), per class, the reference's figures, the ablation table; written under
 * `reports/<evalKey>/` (metrics.json, report.md, report.html, figures/*.svg, predictions/*.parquet).
 * The key is the trainings' keys plus this code's version: a rerun finds the report committed.
 * The stage is one activity: its plan (the key), its units (one per variant) and this finalize run
 * in turn within it.
 */
export async function evaluateDatasetStep(input: EvaluateDatasetInput): Promise<EvaluateDatasetResult> {
  const store = createStore(input.store);
  const { trained } = input;
  const evalKey = evaluateKey(trained);
  const keys = reportKeys(evalKey);
  if (await store.committed(keys.prefix)) {
    await writeReportRun(store, input, evalKey, false);
    return summarise(evalKey, await readStoredJson(store, keys.metrics, MetricsReportSchema), true);
  }

  const plan = await readSplitPlan(store, trained.splitsKey);
  const variants: VariantReport[] = [];
  const curves: FoldCurves[] = [];
  const totals = { trainSeconds: 0, resumed: 0 };
  // A variant with a diverged fold is reported as diverged: its other folds alone would be a different protocol.
  const divergedVariants = new Set((trained.diverged ?? []).map((d) => d.variant));
  const scored = input.variants.filter((v) => !divergedVariants.has(v.name));
  if (!scored.length)
    throw new MerError(
      ErrorTypes.TrainingDiverged,
      `evaluate: every variant diverged (${[...divergedVariants].join(', ')}), nothing to report: ${trained.diverged?.[0]?.message ?? ''}`,
    );
  const clusterOf = dialogueClusters(arrowTableToRows(parquetToTable(await store.get(input.acquired.manifestKey))));
  const predictions: VariantPredictions[] = [];
  for (const variant of scored) {
    const runs = trained.runs.filter((r) => r.variant === variant.name);
    const first = variant === scored[0];
    const v = await evaluateVariant(
      store,
      keys,
      evalKey,
      variant,
      runs,
      plan.classes,
      first,
      input.settings.train.seed,
    );
    // Intervals over seeds and over test dialogues (significance.ts).
    variants.push({
      ...v.report,
      seeds: seedSummary(v.runs),
      pooledInterval: pooledInterval(v.runs, clusterOf, plan.classes.length),
    });
    predictions.push({ name: variant.name, runs: v.runs });
    curves.push(...v.curves);
    for (const f of v.report.folds) {
      totals.trainSeconds += f.seconds;
      if (f.resumedFromStep > 0) totals.resumed++;
    }
  }
  const segment = await readStoredJson(store, input.segmented.reportKey, SegmentReportSchema);
  const draft = {
    ...reportDraft(input, evalKey, plan, variants, totals, segment),
    comparisons: compareVariants(predictions, clusterOf, plan.classes.length),
    statistics: statistics(variants[0].seeds?.seeds ?? [input.settings.train.seed], input.acquired.dataset),
  };
  draft.slices = await storedSlices(store, input.acquired.manifestKey, variants, plan.classes);
  draft.provenance.encoderModels = await encoderModels(store, input.features.modalities);

  const rendered = await renderReport(draft, curves);
  const report = MetricsReportSchema.parse({
    ...draft,
    figures: rendered.figures.map(({ id, file, caption }) => ({ id, file, caption })),
  });
  for (const f of rendered.figures) await store.put(keys.file(f.file), f.svg);
  await store.put(keys.markdown, rendered.markdown);
  await store.put(keys.html, rendered.html);
  await store.put(keys.metrics, JSON.stringify(report, null, 2));
  const result = summarise(evalKey, report, false);
  await store.commit(keys.prefix, {
    stage: 'evaluate',
    summary: { dataset: report.dataset, protocol: report.protocol, headline: result.headline },
  });
  await writeReportRun(store, input, evalKey, true);
  return result;
}

/**
 * The run's side of the report, beside it: the report itself is content-addressed (same key, same
 * bytes in any store, whichever config first wrote it), so the config hash and the stage timings of
 * each run that wrote or reused it go to `runs/<configHash>.json`. Written after the commit, so a run
 * file always names a whole report; a retry rewrites it.
 */
async function writeReportRun(
  store: ObjectStore,
  input: EvaluateDatasetInput,
  evalKey: string,
  wrote: boolean,
): Promise<void> {
  const run: ReportRun = ReportRunSchema.parse({
    schema: REPORT_RUN_SCHEMA,
    version: 1,
    evalKey,
    configHash: input.configHash,
    wrote,
    timings: input.timings,
  });
  await store.put(reportKeys(evalKey).run(input.configHash), JSON.stringify(run, null, 2));
}

/** metrics.json less its figures: the variants' results, the ablation table, provenance and stage totals. */
function reportDraft(
  input: EvaluateDatasetInput,
  evalKey: string,
  plan: SplitPlan,
  variants: VariantReport[],
  totals: { trainSeconds: number; resumed: number },
  segment: SegmentReport,
): Omit<MetricsReport, 'figures'> {
  const { trained } = input;
  const classes = plan.classes;
  const reasons: Record<string, number> = {};
  for (const q of segment.quarantinedItems) {
    const code = reasonCode(q.reason);
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
  return {
    schema: REPORT_SCHEMA,
    version: REPORT_VERSION,
    evalKey,
    dataset: input.acquired.dataset,
    labelSet: input.labels,
    classes,
    protocol: trained.protocol,
    optimistic: trained.optimistic,
    config: { train: { ...input.settings.train }, vsc: storedVscParams(input.settings.vsc) },
    provenance: {
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
    ...(trained.diverged?.length
      ? {
          diverged: trained.diverged.map(({ variant, fold, trainKey, epoch, step, loss, message }) => ({
            variant,
            fold,
            trainKey,
            epoch,
            step,
            loss,
            message,
          })),
        }
      : {}),
    ...modalityNotices(trained),
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
      train: { trainings: trained.runs.length, seconds: totals.trainSeconds, resumed: totals.resumed },
      splits: plan.counts,
    },
  };
}
