/**
 * The object store's layout: every key and prefix the pipeline writes or reads is built here, and only
 * here. Pure string work (no Node imports), so workflows, activities and the CLI share it.
 *
 * Decision record: keys are content addresses. A stage output lives under `<root>/<contentKey>/` and is
 * visible once its `_COMMIT` marker exists (activities/store/types.ts). Changing a builder below changes
 * where existing stores keep their outputs: bump nothing here without a migration note in the stage README.
 *
 *   downloads/<dataset>/<sourceKey>/          resumable download parts of a URL source
 *   raw/<dataset>/<sourceKey>/                the unpacked corpus
 *   datasets/<dataset>/<manifestKey>/         manifest.parquet, summary.json, issues.jsonl
 *   segments/<segKey>/                        audio/, frames/, rows/, shards/, report.json
 *   features/<modality>/<featuresKey>/        shards/<shard>/features.parquet, parts/, report.json
 *   visual-vsc/<vscKey>/                      <shard>.parquet, <shard>/_COMMIT, _partial/, report.json
 *   splits/<splitsKey>/                       plan.json
 *   models/<trainKey>/                        checkpoints/, model.onnx, *.ckpt, history.json, result.json, ...
 *   reports/<evalKey>/                        metrics.json, report.md, report.html, figures/, predictions/
 *   cross-corpus/<key>/                       cross-corpus.json, report.md, report.html (evaluate.crossCorpus)
 *   sweeps/<sweepReportKey>/                  sweep.json, report.html (a sweep's selection on validation)
 *   secrets/url/<sha256>                      a signed download URL kept out of workflow histories
 */

export const COMMIT_MARKER = '_COMMIT';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

// ---- acquire ------------------------------------------------------------------------------------

export const downloadsPrefix = (dataset: string, sourceKey: string): string => `downloads/${dataset}/${sourceKey}`;
export const rawPrefix = (dataset: string, sourceKey: string): string => `raw/${dataset}/${sourceKey}`;
export const manifestPrefix = (dataset: string, manifestKey: string): string => `datasets/${dataset}/${manifestKey}`;
export const manifestFiles = (prefix: string) => ({
  manifest: `${prefix}/manifest.parquet`,
  summary: `${prefix}/summary.json`,
  issues: `${prefix}/issues.jsonl`,
});
/** Where a URL source's full (possibly signed) address is kept, by the hash of the URL. */
export const secretUrlKey = (urlSha256: string): string => `secrets/url/${urlSha256}`;
/** Every object under a prefix, as a listing prefix (`a/b` -> `a/b/`; the store root stays ``). */
export const listingPrefix = (prefix: string): string => (prefix ? `${prefix}/` : '');
/** Download parts land at `<downloads>/part-000001`, ...; `source.json` records what they came from. */
export const downloadPartKey = (downloads: string, index: number): string => `${downloads}/part-${pad(index, 6)}`;
export const downloadPartsListing = (downloads: string): string => `${downloads}/part-`;
export const downloadSourceRecordKey = (downloads: string): string => `${downloads}/source.json`;
const DOWNLOAD_PART_RE = /^part-(\d+)$/;
/** `<downloads>/part-000042` -> 42; undefined for any other key (the source record, foreign objects). */
export function downloadPartIndex(downloads: string, key: string): number | undefined {
  const m = DOWNLOAD_PART_RE.exec(key.slice(downloads.length + 1));
  return m ? Number(m[1]) : undefined;
}
/** The unpacked corpus's files, and their index (files, sizes, skipped entries with reasons). */
export const rawFilesPrefix = (raw: string): string => `${raw}/files`;
export const rawIndexKey = (raw: string): string => `${raw}/index.json`;
/** A corpus file's key: `<files>/<relative path>` (a trailing slash on the prefix is dropped). */
export const corpusFileKey = (filesPrefix: string, path: string): string =>
  listingPrefix(filesPrefix.replace(/\/+$/, '')) + path;

// ---- segment ------------------------------------------------------------------------------------

export const segmentPrefix = (segKey: string): string => `segments/${segKey}`;
/** Keys under one segment output (contract in schemas/segment.ts). */
export function segmentKeys(prefix: string) {
  return {
    prefix,
    audio: (utteranceId: string) => `${prefix}/audio/${utteranceId}.wav`,
    frames: (utteranceId: string) => `${prefix}/frames/${utteranceId}.rgb.deflate`,
    row: (utteranceId: string) => `${prefix}/rows/${utteranceId}.json`,
    shardsDir: `${prefix}/shards/`,
    shard: (index: number) => `${prefix}/shards/${pad(index, 5)}.parquet`,
    report: `${prefix}/report.json`,
  };
}
export type SegmentKeys = ReturnType<typeof segmentKeys>;

// ---- extract ------------------------------------------------------------------------------------

export const featuresPrefix = (modality: string, featuresKey: string): string => `features/${modality}/${featuresKey}`;
/** `…/segments/<segKey>/shards/00003.parquet` -> `00003`: a feature shard is named after its segment shard. */
export const segmentShardName = (segmentShardKey: string): string =>
  (segmentShardKey.split('/').pop() ?? segmentShardKey).replace(/\.parquet$/, '');
/** Commit prefix of one feature shard (its marker is `<this>/_COMMIT`). */
export const featureShardPrefix = (features: string, segmentShardKey: string): string =>
  `${features}/shards/${segmentShardName(segmentShardKey)}`;
export const featureShardKey = (features: string, segmentShardKey: string): string =>
  `${featureShardPrefix(features, segmentShardKey)}/features.parquet`;
/** Batches of a feature shard in progress, resumed from after a lost worker. */
export const featurePartKey = (shardPrefix: string, batch: number): string =>
  `${shardPrefix}/parts/${pad(batch, 6)}.parquet`;
export const featurePartsPrefix = (shardPrefix: string): string => `${shardPrefix}/parts/`;
export const featuresReportKey = (features: string): string => `${features}/report.json`;

const FEATURE_SHARD_RE = /\/shards\/([^/]+)\/features\.parquet$/;
/** `features/visual/<key>/shards/<name>/features.parquet` -> `<name>`; undefined for any other key. */
export function featureShardName(key: string): string | undefined {
  return FEATURE_SHARD_RE.exec(key)?.[1];
}
const FEATURE_SHARD_FILE_RE = /^shards\/[^/]+\/features\.parquet$/;
/** Whether `key`, listed under the features prefix `features`, is a shard's features file. */
export const isFeatureShardFile = (features: string, key: string): boolean =>
  FEATURE_SHARD_FILE_RE.test(key.slice(features.length + 1));

// ---- compress -----------------------------------------------------------------------------------

export const VSC_OUTPUT_ROOT = 'visual-vsc';
export const vscPrefix = (vscKey: string): string => `${VSC_OUTPUT_ROOT}/${vscKey}`;
export const vscShardKey = (vscKey: string, shard: string): string => `${vscPrefix(vscKey)}/${shard}.parquet`;
/** Commit prefix of one shard: its marker lives at `<this>/_COMMIT`. */
export const vscShardCommitPrefix = (vscKey: string, shard: string): string => `${vscPrefix(vscKey)}/${shard}`;
export const vscReportKey = (vscKey: string): string => `${vscPrefix(vscKey)}/report.json`;
/** Chunks of a shard in progress; removed once the shard is committed. */
export const vscPartialPrefix = (vscKey: string, shard: string): string => `${vscPrefix(vscKey)}/_partial/${shard}`;
export const vscChunkKey = (partial: string, start: number, end: number): string =>
  `${partial}/${pad(start, 8)}-${pad(end, 8)}.parquet`;
const VSC_CHUNK_RE = /\/(\d{8})-(\d{8})\.parquet$/;
/** A `vscChunkKey` -> its row range; undefined for any other key. */
export function vscChunkRange(key: string): { start: number; end: number } | undefined {
  const m = VSC_CHUNK_RE.exec(key);
  return m ? { start: Number(m[1]), end: Number(m[2]) } : undefined;
}
const VSC_SHARD_FILE_RE = /^[^/]+\.parquet$/;
/** Whether `key`, listed under the VSC output prefix `vsc`, is a shard file. */
export const isVscShardFile = (vsc: string, key: string): boolean => VSC_SHARD_FILE_RE.test(key.slice(vsc.length + 1));

// ---- train --------------------------------------------------------------------------------------

export const splitsPrefix = (splitsKey: string): string => `splits/${splitsKey}`;
export const splitPlanKey = (splitsKey: string): string => `${splitsPrefix(splitsKey)}/plan.json`;

/** Store layout of one (variant, fold) training. */
export const modelPrefix = (trainKey: string): string => `models/${trainKey}`;
export const modelKeys = (trainKey: string) => {
  const p = modelPrefix(trainKey);
  return {
    prefix: p,
    checkpoints: `${p}/checkpoints/`,
    checkpoint: (step: number) => `${p}/checkpoints/step-${pad(step, 9)}.ckpt`,
    /** The last checkpoint (training finished): optimiser state included, for continued training. */
    final: `${p}/final.ckpt`,
    /** The selected (best validation) weights, checkpoint format with the params and buffers groups only. */
    weights: `${p}/best-weights.ckpt`,
    onnx: `${p}/model.onnx`,
    history: `${p}/history.json`,
    predictions: `${p}/test-predictions.parquet`,
    result: `${p}/result.json`,
    /** A training whose loss became non-finite: what and where; a rerun of the key fails from it at once. */
    diverged: `${p}/diverged.json`,
  };
};
export type ModelKeys = ReturnType<typeof modelKeys>;

const MODEL_ONNX_RE = /^models\/([^/]+)\/model\.onnx$/;
/** `models/<trainKey>/model.onnx` -> `<trainKey>`; undefined for any other key. */
export function trainKeyOfModel(key: string): string | undefined {
  return MODEL_ONNX_RE.exec(key)?.[1];
}
/** A user's `--model` given as `<key>`, `models/<key>` or `models/<key>/model.onnx` -> `<key>`. */
export function trainKeyFromReference(ref: string): string {
  return ref.replace(/^models\//, '').replace(/\/(model\.onnx)?$/, '');
}

// ---- evaluate -----------------------------------------------------------------------------------

export const reportPrefix = (evalKey: string): string => `reports/${evalKey}`;
export const reportKeys = (evalKey: string) => {
  const p = reportPrefix(evalKey);
  return {
    prefix: p,
    /** Listing prefix of every object of the report. */
    contents: `${p}/`,
    metrics: `${p}/metrics.json`,
    html: `${p}/report.html`,
    markdown: `${p}/report.md`,
    /** Relative to the report folder, as report.html and report.md link them. */
    figureFile: (id: string) => `figures/${id}.svg`,
    file: (relative: string) => `${p}/${relative}`,
    predictions: (variant: string) => `${p}/predictions/${variant}.parquet`,
    /** Run side of the report (config hash, timings), one per run that wrote or reused it; not content. */
    runs: `${p}/runs/`,
    run: (configHash: string) => `${p}/runs/${configHash}.json`,
  };
};
export type ReportKeys = ReturnType<typeof reportKeys>;

/**
 * Cross-corpus evaluation of a run's two datasets (`evaluate.crossCorpus`): each dataset's models on
 * the other's test utterances over the shared classes (schemas/cross-corpus.ts).
 */
export const crossCorpusPrefix = (key: string): string => `cross-corpus/${key}`;
export const crossCorpusKeys = (key: string) => {
  const p = crossCorpusPrefix(key);
  return {
    prefix: p,
    contents: `${p}/`,
    report: `${p}/cross-corpus.json`,
    html: `${p}/report.html`,
    markdown: `${p}/report.md`,
  };
};

// ---- sweeps -------------------------------------------------------------------------------------

/** A sweep's report: its settings' keys, outcomes and the selection on validation (activities/sweep/). */
export const sweepPrefix = (sweepReportKey: string): string => `sweeps/${sweepReportKey}`;
export const sweepKeys = (sweepReportKey: string) => {
  const p = sweepPrefix(sweepReportKey);
  return { prefix: p, json: `${p}/sweep.json`, html: `${p}/report.html` };
};
