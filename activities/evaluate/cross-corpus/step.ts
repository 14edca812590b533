/**
 * Cross-corpus evaluation (`evaluate.crossCorpus: true`): every trained model of one dataset run on
 * the other dataset's test utterances, scored over the shared classes (schemas/cross-corpus.ts), beside
 * the same model's in-corpus figure over the same classes; both directions.
 *
 * Decision record: nothing is extracted or trained here. The target's cached feature shards (the
 * extract output for text and audio, the compress output the variant reads for the video) are read
 * as training reads them (activities/train/dataset.ts), and each fold's exported model.onnx predicts
 * them with the engine's predict(), as the train stage predicts its own test split. The target's test
 * utterances are the union of its folds' test partitions (for loso every session once, for official
 * the test split). Every fold model of the source is tested on all of them; the variant's figure is
 * the mean over the source's folds, like the in-corpus headline. The output is content-addressed by
 * the trainings, the target splits and features, the mapping and this code's version.
 */
import type {
  DatasetCompressResult,
  DatasetExtractResult,
  DatasetName,
  DatasetTrainResult,
} from '../../../schemas/config.ts';
import {
  CROSS_CORPUS_SCHEMA,
  CrossCorpusReportSchema,
  SHARED_CLASS_MAP,
  sharedClasses,
  type CrossCorpusDirection,
  type CrossCorpusReport,
} from '../../../schemas/cross-corpus.ts';
import { crossCorpusKeys, isFeatureShardFile, isVscShardFile, modelKeys } from '../../../schemas/layout.ts';
import type { LabelSetName } from '../../../schemas/manifest.ts';
import { OnnxRuntimeSettingsSchema, type OnnxRuntimeSettings } from '../../../schemas/runtime.ts';
import type { StoreSpec } from '../../../schemas/store.ts';
import type { Partition, ResolvedVariant } from '../../../schemas/train.ts';
import type { StepContext } from '../../common/context.ts';
import { ErrorTypes, MerError } from '../../common/errors.ts';
import { contentKey } from '../../common/hash.ts';
import { readStoredJson } from '../../common/stored-json.ts';
import { exportedConfig, predict } from '../../model/predict.ts';
import { createStore } from '../../store/index.ts';
import type { ObjectStore } from '../../store/types.ts';
import { loadFeatureSets } from '../../train/dataset.ts';
import { listShards } from '../../train/fold.ts';
import { readSplitPlan } from '../../train/plan.ts';
import { parquetToPredictions } from '../../train/predictions.ts';
import { foldMetrics } from '../metrics.ts';
import { renderCrossCorpus } from './render.ts';

/** Bumped whenever the same trainings and features would give a different cross-corpus report. */
export const CROSS_CORPUS_CODE_VERSION = 1;

export interface CrossCorpusDataset {
  dataset: DatasetName;
  labels: string;
  features: DatasetExtractResult;
  compressed: DatasetCompressResult;
  trained: DatasetTrainResult;
}

export interface CrossCorpusInput {
  store: StoreSpec;
  /** Exactly two: each is tested with the other's models. */
  datasets: CrossCorpusDataset[];
  variants: ResolvedVariant[];
}

export interface CrossCorpusResult {
  key: string;
  prefix: string;
  reportKey: string;
  htmlKey: string;
  markdownKey: string;
  /** Per direction, the first variant's drop (in-corpus - cross-corpus). */
  headline: { source: string; target: string; variant: string; accuracyDrop: number; weightedF1Drop: number }[];
  skipped: boolean;
}

/** The visual output a variant reads (as the train workflow picks it). */
function visualOutput(d: CrossCorpusDataset, variant: ResolvedVariant) {
  const out = variant.modalities.includes('v')
    ? d.compressed.outputs.find((o) => o.enabled === variant.vsc)
    : d.compressed.outputs[0];
  if (!out)
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `evaluate.crossCorpus: ${d.dataset} has no visual output ${variant.vsc ? 'with' : 'without'} VSC for variant ${variant.name}`,
    );
  return out;
}

export function crossCorpusKey(input: CrossCorpusInput): string {
  return contentKey({
    stage: 'evaluate/cross-corpus',
    code: CROSS_CORPUS_CODE_VERSION,
    mapping: SHARED_CLASS_MAP,
    datasets: input.datasets.map((d) => ({
      dataset: d.dataset,
      labels: d.labels,
      splits: d.trained.splitsKey,
      runs: d.trained.runs.map((r) => [r.variant, r.fold, r.trainKey]),
      features: [d.features.modalities.text.featuresPrefix, d.features.modalities.audio.featuresPrefix],
      visual: d.compressed.outputs.map((o) => o.prefix),
    })),
  });
}

/**
 * Feature widths must agree, or the other dataset's features cannot enter the models: the same
 * encoders (and VSC frame count) for both datasets. Checked on the stage summaries before anything is read.
 */
export function checkDimensions(a: CrossCorpusDataset, b: CrossCorpusDataset, variants: ResolvedVariant[]): void {
  const widths = (d: CrossCorpusDataset, v: ResolvedVariant) => {
    const vis = visualOutput(d, v);
    return {
      text: d.features.modalities.text.dim,
      audio: d.features.modalities.audio.dim,
      visual: vis.dim,
      frames: vis.frames,
    };
  };
  const differ: string[] = [];
  for (const v of variants) {
    const wa = widths(a, v);
    const wb = widths(b, v);
    const used = [...(v.modalities.includes('t') ? ['text'] : []), ...(v.modalities.includes('a') ? ['audio'] : [])];
    if (v.modalities.includes('v')) used.push('visual', 'frames');
    for (const k of used as (keyof typeof wa)[])
      if (wa[k] !== wb[k] && !differ.some((x) => x.startsWith(`${k} `)))
        differ.push(`${k} ${a.dataset} ${wa[k]} vs ${b.dataset} ${wb[k]}`);
  }
  if (differ.length)
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `evaluate.crossCorpus: the datasets' features differ in width (${differ.join('; ')}); testing one dataset's models on the other's features needs the same encoders and compress.maxFrames for both`,
      { differ },
    );
}

/** Source probabilities [n x C] -> shared class index per row (sum over the source classes mapped to each). */
function sharedPredictions(
  probabilities: Float32Array,
  n: number,
  classes: readonly string[],
  toShared: number[],
): Int32Array {
  const c = classes.length;
  const k = Math.max(...toShared) + 1;
  const out = new Int32Array(n);
  const sums = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let j = 0; j < c; j++) if (toShared[j] >= 0) sums[toShared[j]] += probabilities[i * c + j];
    let best = 0;
    for (let s = 1; s < k; s++) if (sums[s] > sums[best]) best = s;
    out[i] = best;
  }
  return out;
}

/** Each class of a label set -> index in `shared`, or -1. */
function sharedIndex(labelSet: string, classes: readonly string[], shared: readonly string[]): number[] {
  const map = SHARED_CLASS_MAP[labelSet as LabelSetName] ?? {};
  return classes.map((c) => (map[c] ? shared.indexOf(map[c]) : -1));
}

function score(labels: Int32Array, predicted: Int32Array, shared: string[]) {
  if (!labels.length) return { accuracy: 0, weightedF1: 0, n: 0 };
  const m = foldMetrics(labels, predicted, shared);
  return { accuracy: m.accuracy, weightedF1: m.weightedF1, n: m.n };
}

/** The target's test utterances in a shared class, each once, with their shared labels. */
async function targetTestSet(store: ObjectStore, target: CrossCorpusDataset, shared: string[]) {
  const plan = await readSplitPlan(store, target.trained.splitsKey);
  const toShared = sharedIndex(target.labels, plan.classes, shared);
  const seen = new Set<string>();
  const part: Partition = { utteranceIds: [], labels: [] };
  let leftOut = 0;
  for (const f of plan.folds)
    f.test.utteranceIds.forEach((id, i) => {
      if (seen.has(id)) return;
      seen.add(id);
      const s = toShared[f.test.labels[i]];
      if (s < 0) leftOut++;
      else {
        part.utteranceIds.push(id);
        part.labels.push(s);
      }
    });
  return { part, leftOut };
}

async function direction(
  store: ObjectStore,
  source: CrossCorpusDataset,
  target: CrossCorpusDataset,
  variants: ResolvedVariant[],
  shared: string[],
  rt: OnnxRuntimeSettings,
  ctx: StepContext,
): Promise<CrossCorpusDirection> {
  const { part, leftOut } = await targetTestSet(store, target, shared);
  if (!part.utteranceIds.length)
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `evaluate.crossCorpus: no test utterance of ${target.dataset} is in a shared class (${shared.join(', ')})`,
    );
  const out: CrossCorpusDirection['variants'] = [];
  const scored = variants.filter((v) => source.trained.runs.some((r) => r.variant === v.name));
  for (const variant of scored) {
    const m = variant.modalities;
    const t = target.features.modalities;
    const loaded = await loadFeatureSets(
      store,
      {
        ...(m.includes('t') ? { text: await listShards(store, t.text.featuresPrefix, isFeatureShardFile) } : {}),
        ...(m.includes('a') ? { audio: await listShards(store, t.audio.featuresPrefix, isFeatureShardFile) } : {}),
        ...(m.includes('v')
          ? { visual: await listShards(store, visualOutput(target, variant).prefix, isVscShardFile) }
          : {}),
      },
      { test: part },
      { signal: ctx.signal, onShard: (s) => ctx.heartbeat({ phase: 'load', ...s }) },
    );
    const folds: CrossCorpusDirection['variants'][number]['folds'] = [];
    for (const run of source.trained.runs.filter((r) => r.variant === variant.name)) {
      const keys = modelKeys(run.trainKey);
      const onnx = await store.get(keys.onnx);
      const cfg = exportedConfig(onnx);
      const own = parquetToPredictions(await store.get(keys.predictions), keys.predictions);
      const toShared = sharedIndex(source.labels, own.classes, shared);
      if (cfg.numClasses !== own.classes.length)
        throw new Error(`${keys.onnx}: ${cfg.numClasses} outputs for ${own.classes.length} classes`);
      // In-corpus over the shared classes: the fold's own test predictions, rows of a shared class.
      const keep = [...own.labels.keys()].filter((i) => toShared[own.labels[i]] >= 0);
      const c = own.classes.length;
      const ownProbs = new Float32Array(keep.length * c);
      keep.forEach((i, r) => ownProbs.set(own.probabilities.subarray(i * c, (i + 1) * c), r * c));
      const inCorpus = score(
        Int32Array.from(keep.map((i) => toShared[own.labels[i]])),
        sharedPredictions(ownProbs, keep.length, own.classes, toShared),
        shared,
      );
      // A large test split takes a while: keep heartbeating (the timer fires between predict()'s chunks).
      const beat = { phase: 'predict', source: source.dataset, variant: variant.name, fold: run.fold };
      const timer = setInterval(() => ctx.heartbeat(beat), 10_000);
      ctx.heartbeat(beat);
      const predicted = await predict(onnx, loaded.sets.test, {
        ...(rt.threads > 0 ? { threads: rt.threads } : {}),
      }).finally(() => clearInterval(timer));
      const crossCorpus = score(
        loaded.sets.test.labels,
        sharedPredictions(predicted.probabilities, loaded.sets.test.n, own.classes, toShared),
        shared,
      );
      folds.push({ fold: run.fold, trainKey: run.trainKey, inCorpus, crossCorpus });
    }
    const mean = (f: (x: (typeof folds)[number]) => number) => folds.reduce((s, x) => s + f(x), 0) / folds.length;
    const inC = { accuracy: mean((x) => x.inCorpus.accuracy), weightedF1: mean((x) => x.inCorpus.weightedF1) };
    const cross = { accuracy: mean((x) => x.crossCorpus.accuracy), weightedF1: mean((x) => x.crossCorpus.weightedF1) };
    out.push({
      variant: variant.name,
      folds,
      inCorpus: inC,
      crossCorpus: cross,
      drop: { accuracy: inC.accuracy - cross.accuracy, weightedF1: inC.weightedF1 - cross.weightedF1 },
    });
  }
  return {
    source: source.dataset,
    sourceLabelSet: source.labels,
    target: target.dataset,
    targetLabelSet: target.labels,
    targetUtterances: part.utteranceIds.length,
    targetLeftOut: leftOut,
    variants: out,
  };
}

function summarise(key: string, report: CrossCorpusReport, skipped: boolean): CrossCorpusResult {
  const keys = crossCorpusKeys(key);
  return {
    key,
    prefix: keys.prefix,
    reportKey: keys.report,
    htmlKey: keys.html,
    markdownKey: keys.markdown,
    headline: report.directions
      .filter((d) => d.variants.length)
      .map((d) => ({
        source: d.source,
        target: d.target,
        variant: d.variants[0].variant,
        accuracyDrop: d.variants[0].drop.accuracy,
        weightedF1Drop: d.variants[0].drop.weightedF1,
      })),
    skipped,
  };
}

export async function crossCorpusStep(
  input: CrossCorpusInput,
  ctx: StepContext,
  runtime: Partial<OnnxRuntimeSettings> = {},
): Promise<CrossCorpusResult> {
  if (input.datasets.length !== 2)
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      'evaluate.crossCorpus needs both datasets (iemocap and meld) in the run',
    );
  const rt = OnnxRuntimeSettingsSchema.parse(runtime);
  const store = createStore(input.store);
  const key = crossCorpusKey(input);
  const keys = crossCorpusKeys(key);
  if (await store.committed(keys.prefix))
    return summarise(key, await readStoredJson(store, keys.report, CrossCorpusReportSchema), true);
  const [a, b] = input.datasets;
  const shared = sharedClasses(a.labels as LabelSetName, b.labels as LabelSetName);
  if (shared.length < 2)
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `evaluate.crossCorpus: label sets ${a.labels} and ${b.labels} share ${shared.length} class(es); cross-corpus testing needs emotion label sets (6class or 4class with meld7)`,
    );
  checkDimensions(a, b, input.variants);
  const directions = [
    await direction(store, a, b, input.variants, shared, rt, ctx),
    await direction(store, b, a, input.variants, shared, rt, ctx),
  ];
  const report = CrossCorpusReportSchema.parse({
    schema: CROSS_CORPUS_SCHEMA,
    version: 1,
    key,
    sharedClasses: shared,
    mapping: Object.fromEntries(
      input.datasets.map((d) => [
        d.dataset,
        { labelSet: d.labels, classes: { ...SHARED_CLASS_MAP[d.labels as LabelSetName] } },
      ]),
    ),
    directions,
  });
  const rendered = renderCrossCorpus(report);
  await store.put(keys.markdown, rendered.markdown);
  await store.put(keys.html, rendered.html);
  await store.put(keys.report, JSON.stringify(report, null, 2));
  await store.commit(keys.prefix, { stage: 'evaluate/cross-corpus', summary: { directions: directions.length } });
  return summarise(key, report, false);
}
