import { z } from 'zod';
import { ExtractParamsSchema, type ExtractParams, type Modality } from './extract.ts';
import { StoreSpecSchema, type StoreSpec } from './store.ts';
import { VscConfigSchema, vscParams, type VscParams } from './compress.ts';
import {
  TrainParamsSchema,
  type FoldSummaryShape,
  type ModalityWarning,
  type Protocol,
  type ResolvedVariant,
  type TrainingDivergedDetails,
  type TrainParams,
} from './train.ts';
import { SweepConfigSchema } from './sweep.ts';

/** The pipeline's stages, in order. */
export const STAGES = ['acquire', 'segment', 'extract', 'compress', 'train', 'evaluate'] as const;
export type StageName = (typeof STAGES)[number];

export const DATASETS = ['iemocap', 'meld'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** IEMOCAP has no public URL: say how to get it instead of a bare 'required'. */
export const IEMOCAP_LICENSE_HINT =
  'IEMOCAP is licensed and has no public download: request it from USC SAIL (sail.usc.edu/iemocap), then give the emailed link (valid ~48 h), the IEMOCAP_full_release.tar.gz archive or the extracted folder';

export const MELD_PUBLIC_URL = 'http://web.eecs.umich.edu/~mihalcea/downloads/MELD.Raw.tar.gz';

const sha256 = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (a sha256 digest)')
  .transform((s) => s.toLowerCase());

export const DatasetConfigSchema = z.strictObject({
  /** https/http URL, local archive (.tar.gz, .tgz, .tar, .zip) or an already extracted folder. */
  source: z.string().min(1, 'must name a URL, an archive or a folder'),
  sha256: sha256.optional(),
  labels: z.enum(['6class', '4class', 'meld7', 'sentiment3']).optional(),
});
export type DatasetConfig = z.infer<typeof DatasetConfigSchema>;

export const AcquireParamsSchema = z.strictObject({
  // Upper bounds keep byte counts exact integers and the loops finite; a 1/16 MiB part is the smallest useful.
  chunkMiB: z
    .number()
    .min(1 / 16, 'at least 0.0625 (64 KiB)')
    .max(4096, 'at most 4096 (4 GiB)')
    .default(64),
  maxExtractGiB: z.number().positive().max(65_536, 'at most 65536 (64 TiB)').default(64),
  maxEntries: z.number().int().positive().max(1e9, 'at most 1000000000').default(2_000_000),
  keepDownloads: z.boolean().default(false),
});
export type AcquireParams = z.infer<typeof AcquireParamsSchema>;

/**
 * How the segment stage cuts utterances (activities/segment/README.md). Everything here except shardSize,
 * parallelism and iemocapDecode determines the stored media and so is part of the stage's cache key.
 */
export const SegmentParamsSchema = z.strictObject({
  /** Frames per utterance, sampled uniformly over it; with `fps`, the most frames per utterance. */
  frames: z.int().min(1).max(1024).default(15),
  /** Fixed sampling rate instead of a fixed count: round(duration x fps) frames, at least 1, at most `frames`. */
  fps: z.number().positive().max(120).optional(),
  /**
   * Fitting a crop into 224x224: pad keeps the whole picture undistorted (black bars), crop fills the
   * square from the centre and loses the edges of the longer side, stretch distorts.
   */
  aspect: z.enum(['pad', 'crop', 'stretch']).default('pad'),
  /** IEMOCAP: the speaker's half of the split-screen frame, or only its picture panel (no letterbox). */
  iemocapCrop: z.enum(['half', 'tight']).default('half'),
  /** MELD clips longer than overlongFactor x their CSV duration: cut to that duration, keep whole, or quarantine. */
  overlong: z.enum(['cut', 'keep', 'quarantine']).default('cut'),
  overlongFactor: z.number().min(1).max(1000).default(3),
  /**
   * Longest utterance cut, seconds (unset: 300, schemas/segment.ts): longer annotations or clips are cut
   * to it (`overlong` cut or keep) or quarantined (`overlong: quarantine`).
   */
  maxUtteranceSec: z.number().min(1).max(86_400).optional(),
  /** Utterances per shard activity: the unit of retry, heartbeat and worker memory. */
  shardSize: z
    .int()
    .min(64, 'shards hold 64 to 512 utterances')
    .max(512, 'shards hold 64 to 512 utterances')
    .default(128),
  /** Shard activities in flight per dataset; workers' activity slots bound it further. */
  parallelism: z.int().min(1).max(256).default(4),
  /**
   * IEMOCAP frame decoding: one pass over each dialog video for all of a shard's turns in it, or a seek
   * per turn. Same frames either way (tested to the frame); `dialog` measured 1.7-2.2x faster
   * (bench/segment/iemocap-decode.bench.ts).
   */
  iemocapDecode: z.enum(['dialog', 'utterance']).default('dialog'),
});
export type SegmentParams = z.infer<typeof SegmentParamsSchema>;

export const TemporalSettingsSchema = z.strictObject({
  taskQueues: z
    .strictObject({ cpu: z.string().min(1).default('mer-cpu'), gpu: z.string().min(1).default('mer-gpu') })
    .default({ cpu: 'mer-cpu', gpu: 'mer-gpu' }),
  /** A dead worker is noticed after this long without a heartbeat; its activity then retries elsewhere. */
  heartbeatTimeoutSec: z.number().min(1, 'at least 1 second').max(3600, 'at most 3600 seconds').default(60),
  activityMaxAttempts: z.number().int().positive().max(1000, 'at most 1000').default(10),
});
export type TemporalSettings = z.infer<typeof TemporalSettingsSchema>;

/**
 * `evaluate:` (activities/evaluate/README.md). `crossCorpus`: with both datasets, also test each
 * dataset's models on the other's test split over the shared classes (schemas/cross-corpus.ts).
 */
export const EvaluateParamsSchema = z.strictObject({
  crossCorpus: z.boolean().default(false),
});
export type EvaluateParams = z.infer<typeof EvaluateParamsSchema>;

/** The store part of a run config: the same schema the store factory validates with. */
export const StoreConfigSchema = StoreSpecSchema;

/** The run config file (YAML or JSON) as users write it. */
export const RunConfigSchema = z.strictObject({
  name: z.string().optional(),
  store: StoreConfigSchema.default({ kind: 'local', root: '.mer/store' }),
  /** Last stage to run; the default is the whole pipeline, ending with the evaluation report. */
  until: z.string().default('evaluate'),
  datasets: z
    .strictObject({
      // Per-dataset label sets here (not only in the CLI) so a wrong one is reported with the file's line.
      iemocap: DatasetConfigSchema.extend({
        source: z.string({ error: IEMOCAP_LICENSE_HINT }).min(1, IEMOCAP_LICENSE_HINT),
        labels: z.enum(['6class', '4class']).optional(),
      }).optional(),
      meld: DatasetConfigSchema.extend({ labels: z.enum(['meld7', 'sentiment3']).optional() }).optional(),
    })
    .refine((d) => d.iemocap || d.meld, 'name at least one dataset (iemocap or meld)'),
  acquire: AcquireParamsSchema.default(AcquireParamsSchema.parse({})),
  segment: SegmentParamsSchema.default(SegmentParamsSchema.parse({})),
  /** Encoder folders (relative paths resolve against the config file's folder) and their input settings. */
  extract: ExtractParamsSchema.default(ExtractParamsSchema.parse({})),
  /** Visual sequence compression (model-spec section 2); every field is part of the stage's cache key. */
  compress: VscConfigSchema.default(vscParams()),
  /** Protocols, trainer settings and ablations (activities/train/README.md). */
  train: TrainParamsSchema.default(TrainParamsSchema.parse({})),
  evaluate: EvaluateParamsSchema.default(EvaluateParamsSchema.parse({})),
  temporal: TemporalSettingsSchema.default(TemporalSettingsSchema.parse({})),
  /** Several settings of this config as one sweep (`mer sweep`; schemas/sweep.ts); not part of any run's hash. */
  sweep: SweepConfigSchema.optional(),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;

export type SourceSpec =
  /**
   * `url` never carries a query string or user info once the CLI has prepared the run: those (IEMOCAP's
   * expiring token) are kept as an object in the run's store, named by `secretRef`, and read by the
   * download activity alone, so they stay out of workflow inputs and histories.
   */
  | { kind: 'url'; url: string; secretRef?: string; sha256?: string }
  | { kind: 'archive'; path: string; sha256?: string }
  | { kind: 'folder'; path: string };

/** A store spec whose local root is absolute (resolved by the CLI against the config's folder). */
export type StoreSpecResolved = StoreSpec;

export interface DatasetPlan {
  dataset: DatasetName;
  source: SourceSpec;
  labels: string;
}

/** What the workflow receives: every path absolute, every source typed, the stage list explicit. */
export interface PipelineInput {
  configHash: string;
  name?: string;
  store: StoreSpecResolved;
  stages: StageName[];
  datasets: DatasetPlan[];
  acquire: AcquireParams;
  /** Present exactly when `stages` includes segment (acquire-only inputs, and their hashes, stay as they were). */
  segment?: SegmentParams;
  /** Present exactly when `stages` includes extract; model folders are absolute paths on the workers. */
  extract?: ExtractParams;
  /** Present exactly when `stages` includes compress: the VSC configurations to compute (the run's, then `enabled: false` when a variant trains without VSC). */
  compress?: { settings: VscParams[] };
  /** Present exactly when `stages` includes train: parameters and the resolved variants (the first is the full model). */
  train?: TrainRunInput;
  /** Present exactly when the run evaluates with `evaluate.crossCorpus: true` (other runs' hashes stay as they were). */
  evaluate?: { crossCorpus: true };
  temporal: TemporalSettings;
  /** Whether the server has the Mer* search attributes registered (dev server: always). */
  searchAttributes: boolean;
}

export interface DatasetAcquireResult {
  dataset: DatasetName;
  sourceKey: string;
  rawPrefix: string;
  manifestKey: string;
  summaryKey: string;
  rows: number;
  inLabelSet: number;
  issues: number;
  /** Which steps ran in this execution; reused ones were found committed in the store. */
  ran: { download: boolean; extract: boolean; manifest: boolean };
}

/** What the segment child returns: where the stage output lives and its headline numbers. */
export interface DatasetSegmentResult {
  dataset: DatasetName;
  segKey: string;
  /** `segments/<segKey>`: audio/, frames/, rows/, shards/, report.json, _COMMIT. */
  prefix: string;
  reportKey: string;
  shardKeys: string[];
  utterances: number;
  ok: number;
  quarantined: number;
  audioSeconds: number;
  frames: number;
  /** False when the whole stage output was found committed and nothing ran. */
  ran: boolean;
}

export interface PipelineResult {
  configHash: string;
  stages: StageName[];
  /** Acquire results per dataset. */
  datasets: Record<string, DatasetAcquireResult>;
  /** Segment results per dataset, when the run included the segment stage. */
  segments?: Record<string, DatasetSegmentResult>;
  /** Extract results per dataset, when the run included the extract stage. */
  features?: Record<string, DatasetExtractResult>;
  /** Compress results per dataset, when the run included the compress stage. */
  compressed?: Record<string, DatasetCompressResult>;
  /** Train results per dataset, when the run included the train stage. */
  trained?: Record<string, DatasetTrainResult>;
  /** Evaluation reports per dataset, when the run included the evaluate stage. */
  reports?: Record<string, DatasetEvaluateResult>;
  /** Cross-corpus report (`evaluate.crossCorpus`), once both datasets are evaluated. */
  crossCorpus?: CrossCorpusSummary;
}

/** Where the cross-corpus report lives (`cross-corpus/<key>/`) and each direction's drop for the full model. */
export interface CrossCorpusSummary {
  key: string;
  prefix: string;
  reportKey: string;
  htmlKey: string;
  markdownKey: string;
  headline: { source: string; target: string; variant: string; accuracyDrop: number; weightedF1Drop: number }[];
  ran: boolean;
}

/** Where a dataset's evaluation report lives (`reports/<evalKey>/`) and its headline. */
export interface DatasetEvaluateResult {
  dataset: DatasetName;
  evalKey: string;
  prefix: string;
  metricsKey: string;
  htmlKey: string;
  markdownKey: string;
  headline: { variant: string; accuracy: number; weightedF1: number; macroF1: number; folds: number };
  /** False when the report was found committed. */
  ran: boolean;
}

/** One modality's features of one dataset. */
export interface ModalityFeaturesResult {
  modality: Modality;
  /** `features/<modality>/<featuresKey>`: shards/<shard>/features.parquet, report.json, _COMMIT. */
  featuresPrefix: string;
  reportKey: string;
  /** Feature shard keys, in the order of the segment shards. */
  shardKeys: string[];
  modelSha256: string;
  dim: number;
  rows: number;
  ok: number;
  quarantined: number;
  quarantineReasons: Record<string, number>;
  /** False when the modality was found committed and nothing ran. */
  ran: boolean;
}

/** What the extract child returns: per modality where the features live and their counts. */
export interface DatasetExtractResult {
  dataset: DatasetName;
  modalities: Record<Modality, ModalityFeaturesResult>;
  /** False when every modality was found committed and nothing ran. */
  ran: boolean;
}

export interface TrainRunInput {
  params: TrainParams;
  variants: ResolvedVariant[];
}

/** One VSC configuration's output for one dataset. */
export interface VscOutputResult {
  enabled: boolean;
  vscKey: string;
  /** `visual-vsc/<vscKey>`: <shard>.parquet, <shard>/_COMMIT, report.json, _COMMIT. */
  prefix: string;
  reportKey: string;
  shardKeys: string[];
  frames: number;
  dim: number;
  utterances: number;
  /** Input visual values / output values. */
  ratio: number;
  byteRatio: number;
  seconds: number;
  ran: boolean;
}

export interface DatasetCompressResult {
  dataset: DatasetName;
  /** In the order of PipelineInput.compress.settings. */
  outputs: VscOutputResult[];
  ran: boolean;
}

interface HeadlineMetrics {
  accuracy: number;
  weightedF1: number;
  macroF1: number;
  n: number;
}

/** A fold's training as the workflow keeps it; `resultKey` holds the full FoldTrainResult. */
export interface TrainRunSummary {
  trainKey: string;
  variant: string;
  fold: string;
  /** The training's seed (`train.seed` or one of `train.seeds`); absent in results of runs before seeds. */
  seed?: number;
  bestEpoch: number | null;
  validation: HeadlineMetrics | null;
  test: HeadlineMetrics;
  epochs: number;
  resumedFromStep: number;
  resultKey: string;
  /** Found committed: nothing was trained. */
  reused: boolean;
  /** Used modalities without variance over the fold's training samples; absent when none. */
  warnings?: ModalityWarning[];
}

/** A (variant, fold) whose loss became non-finite: recorded as a result (models/<trainKey>/diverged.json). */
export interface DivergedTraining extends TrainingDivergedDetails {
  /** The training's seed, when the run set `train.seeds`. */
  seed?: number;
  /** The failure's message: where it diverged and which setting to change. */
  message: string;
}

export interface DatasetTrainResult {
  dataset: DatasetName;
  splitsKey: string;
  planKey: string;
  protocol: Protocol;
  optimistic: boolean;
  classes: string[];
  folds: FoldSummaryShape[];
  variants: string[];
  /**
   * Variant-major, then seed, then fold: every fold of the first variant's first seed, then its next seed,
   * then the next variant; diverged trainings are not among them.
   */
  runs: TrainRunSummary[];
  ran: boolean;
  /** Trainings that diverged (absent when none): their variants are reported as diverged, not scored. */
  diverged?: DivergedTraining[];
}
