/**
 * A simulated corpus of N utterances per dataset: what every activity of the pipeline returns for it,
 * computed instantly and deterministically, with the real results' keys (schemas/layout.ts), counts and
 * list lengths. Nothing is stored: shard lists are built when an activity returns them, from N and the
 * shard size the run asks for, so a 1M-utterance corpus costs what its results cost.
 */
import { createHash } from 'node:crypto';
import type { AcquirePlan, ManifestStepResult, UnpackStepResult } from '../../activities/acquire/activities.ts';
import type { CompressShardResult, PlanCompressResult } from '../../activities/compress/activities.ts';
import type { EvaluateDatasetResult } from '../../activities/evaluate/activities.ts';
import type { ExtractPlan, ExtractReport, ExtractShardResult } from '../../activities/extract/activities.ts';
import type { SegmentPlan, SegmentShardStats, SegmentSummary, ShardSpec } from '../../activities/segment/activities.ts';
import { effectiveShardSize, planShards } from '../../activities/segment/plan.ts';
import type { PlanSplitsResult, TrainFoldResult } from '../../activities/train/activities.ts';
import type { MerActivities } from '../../activities/index.ts';
import { vscParams, type VscStageReport } from '../../schemas/compress.ts';
import type { DatasetName, DatasetPlan } from '../../schemas/config.ts';
import type { Modality } from '../../schemas/extract.ts';
import {
  downloadsPrefix,
  featureShardKey,
  featureShardName,
  featuresPrefix,
  manifestFiles,
  manifestPrefix,
  modelKeys,
  rawPrefix,
  reportKeys,
  segmentKeys,
  segmentPrefix,
  splitPlanKey,
  vscPrefix,
  vscShardKey,
} from '../../schemas/layout.ts';
import type { FoldSummaryShape, SplitParams, TrainParams } from '../../schemas/train.ts';

/** The input type of activity `K`. */
export type ActivityInput<K extends keyof MerActivities> = Parameters<MerActivities[K]>[0];

export interface DatasetSpec {
  utterances: number;
  /** Every `quarantineEvery`-th utterance is quarantined by segment (and so by extract). Default 250. */
  quarantineEvery?: number;
  /** Manifest issues (bad annotation lines). Default 3. */
  issues?: number;
}
export type CorpusSpec = Partial<Record<DatasetName, DatasetSpec>>;

const CLASSES: Record<DatasetName, string[]> = {
  iemocap: ['neutral', 'happy', 'sad', 'angry', 'excited', 'frustrated'],
  meld: ['neutral', 'joy', 'surprise', 'anger', 'sadness', 'disgust', 'fear'],
};
/** Share of the manifest rows inside the default label set (IEMOCAP 6class: 7,380 of 10,039; MELD: all). */
const IN_LABEL_SET: Record<DatasetName, number> = { iemocap: 0.735, meld: 1 };
const FEATURE_DIM = 768;
/** Swin-Tiny tokens per frame, and frames per utterance the segment stage cuts by default. */
const TOKENS = 49;

/** A 20-hex content address, as contentKey() makes them (key lengths decide payload sizes at scale). */
export function fakeKey(...parts: unknown[]): string {
  return fakeSha256(...parts).slice(0, 20);
}
/** A 64-hex sha256, as encoder fingerprints are. */
export function fakeSha256(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}
/** A deterministic number in [lo, hi) drawn from `parts`. */
function draw(lo: number, hi: number, ...parts: unknown[]): number {
  return lo + (parseInt(fakeSha256(...parts).slice(0, 8), 16) / 0x1_0000_0000) * (hi - lo);
}
const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/** What a key (a path segment of it) was made for: its dataset and the segment shard size behind it. */
interface KeyInfo {
  dataset: DatasetName;
  shardSize: number;
  frames: number;
}

export class SimulatedCorpus {
  private readonly keys = new Map<string, KeyInfo>();
  /** Feature and VSC shard keys "committed" so far: a later plan leaves them out, as the real plans do. */
  private readonly done = new Set<string>();

  constructor(readonly spec: CorpusSpec) {}

  size(dataset: DatasetName): number {
    const s = this.spec[dataset];
    if (!s) throw new Error(`the simulated corpus has no ${dataset}`);
    return s.utterances;
  }

  /** Utterances of [first, first + count) that segment quarantines. */
  quarantinedIn(dataset: DatasetName, first: number, count: number): number {
    const every = this.spec[dataset]?.quarantineEvery ?? 250;
    return Math.floor((first + count) / every) - Math.floor(first / every);
  }

  private tag(key: string, info: KeyInfo): string {
    this.keys.set(key, info);
    return key;
  }

  /** The dataset (and shard size) a store key or prefix derives from: one of its segments was made here. */
  infoOf(key: string): KeyInfo {
    for (const part of key.split('/')) {
      const info = this.keys.get(part);
      if (info) return info;
    }
    throw new Error(`simulated corpus: ${key} is no key it made`);
  }

  /** Shard `index` of a corpus of `n` cut in shards of `size`. */
  shard(n: number, size: number, index: number): ShardSpec {
    const first = index * size;
    return { index, first, count: Math.max(0, Math.min(size, n - first)) };
  }

  private shardOf(key: string): { info: KeyInfo; spec: ShardSpec } {
    const info = this.infoOf(key);
    const name =
      featureShardName(key) ??
      key
        .split('/')
        .pop()!
        .replace(/\.parquet$/, '');
    return { info, spec: this.shard(this.size(info.dataset), info.shardSize, Number(name)) };
  }

  // ---- acquire ---------------------------------------------------------------------------------

  planAcquire(plan: DatasetPlan): AcquirePlan {
    const sk = fakeKey('source', plan.dataset, plan.source);
    const mk = this.tag(fakeKey('manifest', sk, plan.labels), { dataset: plan.dataset, shardSize: 0, frames: 0 });
    return {
      sourceKey: sk,
      downloadsPrefix: downloadsPrefix(plan.dataset, sk),
      rawPrefix: rawPrefix(plan.dataset, sk),
      manifestPrefix: manifestPrefix(plan.dataset, mk),
      downloadCommitted: false,
      rawCommitted: false,
      manifestCommitted: false,
    };
  }

  download(dataset: DatasetName, chunkMiB: number) {
    const totalBytes = this.size(dataset) * 1_250_000;
    return { totalBytes, parts: Math.ceil(totalBytes / (chunkMiB * 2 ** 20)), bytesFetched: totalBytes, reconnects: 0 };
  }

  unpack(dataset: DatasetName): UnpackStepResult {
    const n = this.size(dataset);
    return { files: n * 2 + 40, skipped: dataset === 'meld' ? 2 : 0, bytesOut: n * 1_300_000 };
  }

  manifest(prefix: string): ManifestStepResult {
    const { dataset } = this.infoOf(prefix);
    const n = this.size(dataset);
    const keys = manifestFiles(prefix);
    return {
      manifestKey: keys.manifest,
      summaryKey: keys.summary,
      issuesKey: keys.issues,
      rows: n,
      inLabelSet: Math.round(n * IN_LABEL_SET[dataset]),
      issues: this.spec[dataset]?.issues ?? 3,
    };
  }

  // ---- segment ---------------------------------------------------------------------------------

  planSegment(i: ActivityInput<'planSegment'>): SegmentPlan {
    const n = this.size(i.dataset);
    // As the real plan: shards grow so that a dataset has at most SEGMENT_MAX_SHARDS.
    const size = effectiveShardSize(n, i.params.shardSize);
    const info = { dataset: i.dataset, shardSize: size, frames: i.params.frames };
    const segKey = this.tag(fakeKey('segment', i.manifestKey, i.params.frames, size), info);
    return {
      segKey,
      prefix: segmentPrefix(segKey),
      ffmpegVersion: '7.1.1-simulated',
      utterances: n,
      shards: planShards(n, size),
      committed: null,
    };
  }

  segmentShard(i: ActivityInput<'segmentShard'>): SegmentShardStats {
    const { index, first, count } = i.shard;
    const quarantined = this.quarantinedIn(i.dataset, first, count);
    return {
      index,
      key: segmentKeys(i.prefix).shard(index),
      rows: count,
      ok: count - quarantined,
      quarantined,
      produced: count - quarantined,
      reused: 0,
      ffmpegRuns: 2 * count,
      ms: 45 * count,
      resumedFrom: 0,
    };
  }

  finalizeSegment(i: ActivityInput<'finalizeSegment'>): SegmentSummary {
    const n = this.size(i.dataset);
    const keys = segmentKeys(i.prefix);
    const quarantined = this.quarantinedIn(i.dataset, 0, n);
    return {
      segKey: i.segKey,
      prefix: i.prefix,
      reportKey: keys.report,
      shardKeys: Array.from({ length: i.shardCount }, (_, k) => keys.shard(k)),
      utterances: n,
      ok: n - quarantined,
      quarantined,
      audioSeconds: round(n * 4.6, 1),
      frames: (n - quarantined) * i.params.frames,
    };
  }

  // ---- extract ---------------------------------------------------------------------------------

  planExtract(i: ActivityInput<'planExtract'>): ExtractPlan {
    const info = this.infoOf(i.segmentPrefix);
    const featuresKey = this.tag(fakeKey('features', i.modality, i.segmentPrefix, i.params[i.modality].model), info);
    return {
      modality: i.modality,
      featuresKey,
      featuresPrefix: featuresPrefix(i.modality, featuresKey),
      modelSha256: fakeSha256('model', i.params[i.modality].model),
      dim: FEATURE_DIM,
      committed: false,
      // As the real plan: shards committed by an earlier run (one that continued as new) are not pending.
      pendingShardKeys: i.shardKeys.filter(
        (k) => !this.done.has(featureShardKey(featuresPrefix(i.modality, featuresKey), k)),
      ),
    };
  }

  extractShard(i: ActivityInput<'extractShard'>): ExtractShardResult {
    const { info, spec } = this.shardOf(i.shardKey);
    const quarantined = this.quarantinedIn(info.dataset, spec.first, spec.count);
    const batch =
      i.modality === 'text' ? i.params.text.batchSize : i.modality === 'audio' ? i.params.audio.batchSize : 2;
    const batches = Math.ceil(spec.count / batch);
    this.done.add(featureShardKey(i.featuresPrefix, i.shardKey));
    return {
      shard: String(spec.index).padStart(5, '0'),
      key: featureShardKey(i.featuresPrefix, i.shardKey),
      rows: spec.count,
      ok: spec.count - quarantined,
      quarantined,
      batches,
      batchesComputed: batches,
      batchesReused: 0,
      skipped: false,
      inferenceMs: 30 * spec.count,
    };
  }

  finalizeExtract(i: ActivityInput<'finalizeExtract'>): ExtractReport {
    const { dataset } = this.infoOf(i.featuresPrefix);
    const n = this.size(dataset);
    const quarantined = this.quarantinedIn(dataset, 0, n);
    return {
      modality: i.modality,
      featuresPrefix: i.featuresPrefix,
      modelSha256: i.modelSha256,
      dim: i.dim,
      shards: i.shardKeys.length,
      rows: n,
      ok: n - quarantined,
      quarantined,
      quarantineReasons: quarantined ? { [mediaReason(i.modality)]: quarantined } : {},
    };
  }

  // ---- compress --------------------------------------------------------------------------------

  planCompress(i: ActivityInput<'planCompress'>): PlanCompressResult {
    const info = this.infoOf(i.visual.prefix);
    const vscKey = this.tag(fakeKey('vsc', i.params, i.visual.prefix), info);
    const guided = i.params.enabled !== false && i.params.guidance === 'fixed';
    const shards = i.visual.shardKeys.map((k) => featureShardName(k)!);
    return {
      vscKey,
      prefix: vscPrefix(vscKey),
      shards,
      shardKeys: shards.map((s) => vscShardKey(vscKey, s)),
      pending: shards.flatMap((shard, k) =>
        this.done.has(vscShardKey(vscKey, shard))
          ? []
          : [
              {
                shard,
                visual: i.visual.shardKeys[k],
                ...(guided ? { text: i.text.shardKeys[k], audio: i.audio.shardKeys[k] } : {}),
              },
            ],
      ),
      committed: false,
    };
  }

  compressShard(i: ActivityInput<'compressVisualShard'>): CompressShardResult {
    const info = this.infoOf(i.vscKey);
    this.done.add(vscShardKey(i.vscKey, i.shard));
    const spec = this.shard(this.size(info.dataset), info.shardSize, Number(i.shard));
    const ok = spec.count - this.quarantinedIn(info.dataset, spec.first, spec.count);
    const maxFrames = i.params.maxFrames ?? 15;
    const framesIn = ok * info.frames;
    const framesOut = ok * Math.min(maxFrames, Math.ceil(info.frames / 2));
    const valuesIn = framesIn * TOKENS * FEATURE_DIM;
    const valuesOut = framesOut * FEATURE_DIM;
    return {
      shard: i.shard,
      utterances: ok,
      valuesIn,
      valuesOut,
      ratio: valuesOut ? round(valuesIn / valuesOut) : 0,
      bytesIn: valuesIn * 2,
      bytesOut: valuesOut * 4 + ok * 40,
      framesIn,
      framesOut,
      guidanceMissing: 0,
      seconds: round(ok * 0.004),
      resumedFrom: 0,
      skipped: false,
    };
  }

  finalizeCompress(i: ActivityInput<'finalizeCompress'>): VscStageReport {
    const shards = i.shards.map((shard) => {
      const { skipped: _, ...r } = this.compressShard({
        store: i.store,
        params: i.params,
        vscKey: i.vscKey,
        shard,
        visual: '',
      });
      return r;
    });
    const sum = (f: (r: (typeof shards)[number]) => number) => shards.reduce((a, r) => a + f(r), 0);
    const utterances = sum((r) => r.utterances);
    const seconds = round(sum((r) => r.seconds));
    const valuesIn = sum((r) => r.valuesIn);
    const valuesOut = sum((r) => r.valuesOut);
    return {
      vscKey: i.vscKey,
      params: vscParams(i.params),
      shards,
      utterances,
      valuesIn,
      valuesOut,
      ratio: valuesOut ? round(valuesIn / valuesOut) : 0,
      bytesIn: sum((r) => r.bytesIn),
      bytesOut: sum((r) => r.bytesOut),
      byteRatio: round(
        sum((r) => r.bytesIn) /
          Math.max(
            1,
            sum((r) => r.bytesOut),
          ),
      ),
      seconds,
      utterancesPerSecond: seconds ? round(utterances / seconds, 1) : 0,
    };
  }

  // ---- train -----------------------------------------------------------------------------------

  /** The folds of a protocol over the labelled, unquarantined utterances of `dataset`. */
  folds(dataset: DatasetName, p: Pick<SplitParams, 'protocol' | 'folds'>): FoldSummaryShape[] {
    const used = this.used(dataset);
    const fold = (index: number, name: string, testGroup: string, test: number, validation: number) => ({
      index,
      name,
      testGroup,
      train: used - test - validation,
      validation,
      test,
      optimistic: p.protocol === 'paper',
    });
    switch (p.protocol) {
      case 'loso':
        return [1, 2, 3, 4, 5].map((s) =>
          fold(s - 1, `loso-Session${s}`, `Session${s}`, Math.floor(used / 5), Math.floor(used / 10)),
        );
      case 's5':
        return [fold(0, 's5', 'Session5', Math.floor(used / 5), Math.floor(used / 20))];
      case 'official':
        return [fold(0, 'official', 'test', Math.floor(used * 0.19), Math.floor(used * 0.081))];
      case 'paper':
        return Array.from({ length: p.folds }, (_, k) =>
          fold(
            k,
            `paper-${String(k + 1).padStart(2, '0')}`,
            `fold ${k + 1} of ${p.folds}`,
            Math.floor(used / p.folds),
            Math.floor(used / p.folds),
          ),
        );
    }
  }

  private used(dataset: DatasetName): number {
    const n = this.size(dataset);
    return Math.round(n * IN_LABEL_SET[dataset]) - this.quarantinedIn(dataset, 0, n);
  }

  planSplits(i: ActivityInput<'planSplits'>): PlanSplitsResult {
    const { dataset } = this.infoOf(i.manifest);
    const p = { protocol: i.params.protocol, folds: i.params.folds ?? 10 };
    const splitsKey = fakeKey('splits', i.manifest, p);
    const n = this.size(dataset);
    const labelled = Math.round(n * IN_LABEL_SET[dataset]);
    return {
      splitsKey,
      planKey: splitPlanKey(splitsKey),
      optimistic: p.protocol === 'paper',
      counts: { rows: n, unlabelled: n - labelled, excluded: labelled - this.used(dataset), used: this.used(dataset) },
      folds: this.folds(dataset, p),
      skipped: false,
    };
  }

  trainFold(i: ActivityInput<'trainFold'>): TrainFoldResult {
    const params = i.params as TrainParams;
    const split = params.splits[i.dataset];
    const fold = this.folds(i.dataset, split)[i.foldIndex];
    const trainKey = fakeKey('train', i.splitsKey, i.foldIndex, i.variant, i.features);
    const metric = (what: string, n: number) => {
      const accuracy = round(draw(0.45, 0.7, trainKey, what));
      return { accuracy, weightedF1: round(accuracy - 0.02), macroF1: round(accuracy - 0.08), n };
    };
    const epochs = Math.floor(draw(8, params.maxEpochs + 1, trainKey, 'epochs'));
    const keys = modelKeys(trainKey);
    return {
      trainKey,
      dataset: i.dataset,
      variant: i.variant.name,
      modalities: i.variant.modalities,
      vsc: i.variant.vsc,
      contrastive: i.variant.contrastive,
      fold: fold.name,
      foldIndex: fold.index,
      testGroup: fold.testGroup,
      classes: CLASSES[i.dataset],
      optimistic: fold.optimistic,
      bestEpoch: epochs - params.patience - 1,
      validation: metric('validation', fold.validation),
      test: metric('test', fold.test),
      epochs,
      steps: epochs * Math.ceil(fold.train / params.batchSize),
      stoppedEarly: epochs < params.maxEpochs,
      resumedFromStep: 0,
      seconds: round(draw(600, 3600, trainKey, 'seconds'), 1),
      executionProvider: 'cpu',
      modalityVariance: Object.fromEntries(i.variant.modalities.map((m) => [m, round(draw(0.01, 0.2, trainKey, m))])),
      keys: {
        onnx: keys.onnx,
        weights: keys.weights,
        final: keys.final,
        history: keys.history,
        predictions: keys.predictions,
      },
      skipped: false,
    };
  }

  // ---- evaluate --------------------------------------------------------------------------------

  evaluate(i: ActivityInput<'evaluateDataset'>): EvaluateDatasetResult {
    const evalKey = fakeKey(
      'evaluate',
      i.trained.splitsKey,
      i.trained.runs.map((r) => r.trainKey),
      i.trained.diverged ?? [],
    );
    const keys = reportKeys(evalKey);
    const full = i.trained.runs.filter((r) => r.variant === i.variants[0]?.name);
    const mean = (f: (r: (typeof full)[number]) => number) =>
      round(full.reduce((a, r) => a + f(r), 0) / Math.max(1, full.length));
    return {
      evalKey,
      prefix: keys.prefix,
      metricsKey: keys.metrics,
      htmlKey: keys.html,
      markdownKey: keys.markdown,
      headline: {
        variant: i.variants[0]?.name ?? '?',
        accuracy: mean((r) => r.test.accuracy),
        weightedF1: mean((r) => r.test.weightedF1),
        macroF1: mean((r) => r.test.macroF1),
        folds: full.length,
      },
      skipped: false,
    };
  }
}

function mediaReason(modality: Modality): string {
  return modality === 'text' ? 'no_segment' : modality === 'audio' ? 'no_audio' : 'no_frames';
}
