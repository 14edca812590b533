import { z } from 'zod';
import { ErrorTypes, failureDetails } from './error-types.ts';
import { LabelSetNameSchema, MANIFEST_DATASETS, type ManifestDataset } from './manifest.ts';

/**
 * Evaluation protocols (model-spec section 6) and the fold splits the train stage trains on. A split
 * plan is data, computed once from a manifest and stored: every fold's train, validation and test
 * utterances with their class indices, so training and evaluation never re-derive them.
 */

export const PROTOCOLS = ['loso', 's5', 'paper', 'official'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const PROTOCOLS_BY_DATASET: Readonly<Record<ManifestDataset, readonly Protocol[]>> = {
  iemocap: ['loso', 's5', 'paper'],
  meld: ['official', 'paper'],
};

export const SplitParamsSchema = z.strictObject({
  protocol: z.enum(PROTOCOLS),
  /** Drives the `paper` protocol's random folds; the other protocols are fixed by the data. */
  seed: z.int().min(0).max(0xffffffff).default(0),
  /** Folds of the `paper` protocol. */
  folds: z.int().min(2).max(100).default(10),
  /**
   * Validation inside the `loso` training sessions. `speaker`: every utterance of one actor of one
   * training session (unseen speaker, 1/8 of the training data); `session`: a whole training session
   * (unseen speakers and dialogues, 1/4 of the training data).
   */
  losoValidation: z.enum(['speaker', 'session']).default('speaker'),
  /** `s5`: this many last dialogues of session 4 form the validation split. */
  s5ValidationDialogues: z.int().min(1).max(10_000).default(20),
});
export type SplitParams = z.infer<typeof SplitParamsSchema>;
export type SplitParamsInput = z.input<typeof SplitParamsSchema>;

/** Utterances and their class indices, in a fixed order (manifest order). */
export const PartitionSchema = z
  .object({
    utteranceIds: z.array(z.string().min(1)),
    labels: z.array(z.int().min(0)),
  })
  .refine((p) => p.utteranceIds.length === p.labels.length, { message: 'one label per utterance' });
export type Partition = z.infer<typeof PartitionSchema>;

export const FoldSchema = z.object({
  index: z.int().min(0),
  /** Stable, readable, usable in store keys: `loso-Session3`, `s5`, `paper-03`, `official`. */
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  /** What the test split is: `Session3`, `fold 3 of 10`, `test`. */
  test: PartitionSchema,
  testGroup: z.string(),
  train: PartitionSchema,
  validation: PartitionSchema,
  /** How the validation split was chosen, in words for reports. */
  validationRule: z.string(),
  /** Model selection looks at the test utterances (`paper` protocol): test results are optimistic. */
  optimistic: z.boolean(),
});
export type Fold = z.infer<typeof FoldSchema>;

export const SplitPlanSchema = z.object({
  dataset: z.enum(MANIFEST_DATASETS),
  labelSet: LabelSetNameSchema,
  classes: z.array(z.string()),
  params: SplitParamsSchema,
  /** True when any fold selects its model on its test split. */
  optimistic: z.boolean(),
  counts: z.object({
    rows: z.int().nonnegative(),
    /** Rows outside the label set (labelIndex -1). */
    unlabelled: z.int().nonnegative(),
    /** Labelled rows left out because a stage quarantined them. */
    excluded: z.int().nonnegative(),
    used: z.int().nonnegative(),
  }),
  folds: z.array(FoldSchema).min(1),
});
export type SplitPlan = z.infer<typeof SplitPlanSchema>;

// ---------------------------------------------------------------------------------------------------
// The train stage's configuration (run config `train:`), its variants (ablations) and its outputs.

export const VARIANT_MODALITIES = ['t', 'a', 'v'] as const;
export type VariantModality = (typeof VARIANT_MODALITIES)[number];

/**
 * One trained configuration of the fusion model. Every variant trains on the same splits and the
 * same cached features: an ablation costs training time only.
 */
export const VariantSchema = z.strictObject({
  /** Shown in reports; derived from the settings when absent (`T+A+V`, `T+V-noVSC`, `A+V-noCL`). */
  name: z
    .string()
    .regex(/^[A-Za-z0-9+._-]+$/, 'variant names are letters, digits and + . _ -')
    .optional(),
  modalities: z.array(z.enum(VARIANT_MODALITIES)).min(1).default(['t', 'a', 'v']),
  /** false: visual frames without VSC (token mean per frame, no merging; the compress stage's `enabled: false`). */
  vsc: z.boolean().default(true),
  /** false: cross-entropy only (contrastive weight 0). */
  contrastive: z.boolean().default(true),
  /**
   * This variant's learning rate instead of `train.lr` (a learning-rate comparison, or one variant
   * that needs a smaller step). Absent: `train.lr`. In the train key only when set.
   */
  lr: z.number().positive().finite().optional(),
});
export type Variant = z.infer<typeof VariantSchema>;
export type ResolvedVariant = Variant & { name: string };

/** `modalities`: T, A, V, T+A, T+V, A+V, T+A+V; `paper`: those plus T+A+V without VSC, without the contrastive loss, and without both. */
export const ABLATION_SETS = ['none', 'modalities', 'paper'] as const;

/** Cross-modal contrastive pairs, anchor first (activities/model/config.ts LossConfig `pairs`). */
export const LOSS_PAIRS = ['vt', 'va', 'ta'] as const;

/**
 * `train.loss`: the loss options besides `contrastiveWeight` and `temperature` (those stay top-level,
 * one place each). Defaults equal the engine's defaultLossConfig() (test/train/loss-options.test.ts),
 * so a config without `loss` trains, and keys, exactly as before the options existed.
 */
export const TrainLossSchema = z.strictObject({
  /** Each pair at most once; at least one (`contrastiveWeight: 0` is how to train on CE only). */
  pairs: z
    .array(z.enum(LOSS_PAIRS))
    .min(1)
    .refine((p) => new Set(p).size === p.length, { message: 'each pair at most once' })
    .default(['vt', 'va']),
  /** How the active pairs' terms combine: `mean` (the reference) or `sum`. */
  pairReduction: z.enum(['mean', 'sum']).default('mean'),
  /** `positives`: each anchor's sum over positives divided by their count; `reference`: by batch size - 1. */
  normalization: z.enum(['positives', 'reference']).default('positives'),
  /**
   * Cross-entropy class weights: `none`, `inverse-frequency` (scikit-learn's `balanced`, computed from
   * each fold's training labels) or one positive weight per class, in the label set's class order.
   */
  classWeights: z
    .union([z.enum(['none', 'inverse-frequency']), z.array(z.number().positive().finite()).min(2)])
    .default('none'),
});
export type TrainLoss = z.infer<typeof TrainLossSchema>;

const DEFAULT_SPLITS = {
  iemocap: SplitParamsSchema.parse({ protocol: 'loso' }),
  meld: SplitParamsSchema.parse({ protocol: 'official' }),
};

export const TrainParamsSchema = z
  .strictObject({
    /** model-spec section 3: `paper` has 1024 TCN channels, `compact` 256. */
    preset: z.enum(['compact', 'paper']).default('compact'),
    summary: z.enum(['guided', 'last']).default('guided'),
    /** Protocol per dataset (model-spec section 6). */
    splits: z
      .strictObject({
        iemocap: SplitParamsSchema.default(DEFAULT_SPLITS.iemocap),
        meld: SplitParamsSchema.default(DEFAULT_SPLITS.meld),
      })
      .default(DEFAULT_SPLITS)
      .superRefine((s, ctx) => {
        for (const d of MANIFEST_DATASETS) {
          if (!PROTOCOLS_BY_DATASET[d].includes(s[d].protocol)) {
            ctx.addIssue({
              code: 'custom',
              path: [d, 'protocol'],
              message: `${d} protocols are ${PROTOCOLS_BY_DATASET[d].join(', ')}`,
            });
          }
        }
      }),
    batchSize: z.int().min(2).max(65_536).default(32),
    maxEpochs: z.int().min(1).max(100_000).default(30),
    /** Early stopping after this many epochs without a validation weighted-F1 gain. */
    patience: z.int().min(1).max(100_000).default(4),
    /** Seeds initialisation, shuffles and dropout; the same seed gives bit-identical weights on CPU. */
    seed: z.int().min(0).max(0xffffffff).default(0),
    /** Default per dataset: 5e-5 IEMOCAP, 1e-4 MELD (model-spec section 5). */
    lr: z.number().positive().optional(),
    weightDecay: z.number().nonnegative().default(1e-5),
    contrastiveWeight: z.number().nonnegative().default(0.5),
    temperature: z.number().positive().default(0.5),
    clipGradNorm: z.number().positive().optional(),
    loss: TrainLossSchema.default(TrainLossSchema.parse({})),
    /**
     * A checkpoint (and its key in a heartbeat) every this many optimiser steps, besides every epoch
     * end: the most work a lost GPU worker costs. Not part of the cache key (it changes no weight).
     */
    checkpointEverySteps: z.int().min(0).max(1_000_000_000).default(200),
    ablations: z.enum(ABLATION_SETS).default('none'),
    /** An explicit list of variants instead of `ablations`. */
    variants: z.array(VariantSchema).min(1).optional(),
    /**
     * Trainings in flight per dataset; GPU workers (one slot each) bound it further. Unset: the embedded
     * run (`mer run` without a cluster) takes what the machine's cores allow (os.availableParallelism(),
     * cli/run-command.ts), a cluster run 16. In no cache key.
     */
    parallelism: z.int().min(1).max(256).optional(),
    /**
     * Repeat every (variant, fold) training with several seeds: a count N (seeds `seed` .. `seed`+N-1)
     * or a list of distinct seeds. Unset: one training with `seed`, keyed exactly as before the option
     * existed; seed s of a list trains under the same key as `seed: s` alone. Not itself in any key.
     */
    seeds: z
      .union([
        z.int().min(1).max(1000),
        z
          .array(z.int().min(0).max(0xffffffff))
          .min(1)
          .max(1000)
          .refine((s) => new Set(s).size === s.length, { message: 'each seed at most once' }),
      ])
      .optional(),
  })
  .superRefine((p, ctx) => {
    // A count continues from `seed`; every seed must stay a valid seed.
    if (typeof p.seeds === 'number' && p.seed + p.seeds - 1 > 0xffffffff)
      ctx.addIssue({
        code: 'custom',
        path: ['seeds'],
        message: `seeds ${p.seed} .. ${p.seed + p.seeds - 1} pass 4294967295; lower train.seed or give a list`,
      });
  });
export type TrainParams = z.infer<typeof TrainParamsSchema>;
export type TrainParamsInput = z.input<typeof TrainParamsSchema>;

/** Fold trainings in flight when `train.parallelism` is unset and nothing else decides (a cluster run). */
export const DEFAULT_TRAIN_PARALLELISM = 16;

/**
 * The seeds a train config trains with, in order: `seeds` as a list, `seed` .. `seed`+N-1 for a count
 * N, else `[seed]`. Pure: usable in workflow code.
 */
export function trainSeeds(params: Pick<TrainParams, 'seed' | 'seeds'>): number[] {
  const s = params.seeds;
  if (s === undefined) return [params.seed];
  if (typeof s !== 'number') return [...s];
  return Array.from({ length: s }, (_, i) => params.seed + i);
}

const LETTER: Record<VariantModality, string> = { t: 'T', a: 'A', v: 'V' };

export function variantName(v: Variant): string {
  const mods = VARIANT_MODALITIES.filter((m) => v.modalities.includes(m));
  const base = mods.map((m) => LETTER[m]).join('+');
  const usesV = mods.includes('v');
  // The contrastive pairs all involve the visual head (vt, va): without V, or alone, there is none.
  const hasPairs = usesV && mods.length > 1;
  const lr = v.lr !== undefined ? `-lr${shortNumber(v.lr)}` : '';
  return base + (usesV && !v.vsc ? '-noVSC' : '') + (hasPairs && !v.contrastive ? '-noCL' : '') + lr;
}

/** 1e-4, 5e-5, 1e+20 as written in a config, not 0.0001 or 100000000000000000000. */
export function shortNumber(x: number): string {
  return x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3) ? x.toExponential() : String(x);
}

/** The variants a train config asks for, named, in report order, without duplicates. */
export function resolveVariants(params: Pick<TrainParams, 'ablations' | 'variants'>): ResolvedVariant[] {
  const all: Variant[] = [];
  const v = (modalities: VariantModality[], vsc = true, contrastive = true): Variant => ({
    modalities,
    vsc,
    contrastive,
  });
  if (params.variants) all.push(...params.variants.map((x) => VariantSchema.parse(x)));
  else {
    all.push(v(['t', 'a', 'v']));
    if (params.ablations !== 'none')
      all.push(v(['t']), v(['a']), v(['v']), v(['t', 'a']), v(['t', 'v']), v(['a', 'v']));
    if (params.ablations === 'paper')
      all.push(v(['t', 'a', 'v'], false), v(['t', 'a', 'v'], true, false), v(['t', 'a', 'v'], false, false));
  }
  const out: ResolvedVariant[] = [];
  const seen = new Set<string>();
  for (const x of all) {
    const modalities = VARIANT_MODALITIES.filter((m) => x.modalities.includes(m));
    const name = x.name ?? variantName({ ...x, modalities });
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ ...x, modalities, name });
  }
  return out;
}

const MetricsSummarySchema = z.object({
  accuracy: z.number(),
  weightedF1: z.number(),
  macroF1: z.number(),
  n: z.int().nonnegative(),
});

/** A used modality whose training features barely vary: the model can learn nothing from it. */
export const ModalityWarningSchema = z.object({
  modality: z.enum(VARIANT_MODALITIES),
  /** As in `modalityVariance`. */
  variance: z.number(),
  message: z.string(),
});
export type ModalityWarning = z.infer<typeof ModalityWarningSchema>;

/** `models/<trainKey>/result.json`, also the commit summary and what the workflow carries. */
export const FoldTrainResultSchema = z.object({
  trainKey: z.string(),
  dataset: z.enum(MANIFEST_DATASETS),
  variant: z.string(),
  modalities: z.array(z.enum(VARIANT_MODALITIES)),
  vsc: z.boolean(),
  contrastive: z.boolean(),
  fold: z.string(),
  foldIndex: z.int().nonnegative(),
  /** The training's seed (`train.seed` or one of `train.seeds`); absent in results written before it. */
  seed: z.int().nonnegative().optional(),
  testGroup: z.string(),
  classes: z.array(z.string()),
  optimistic: z.boolean(),
  /** Selected epoch (0-based) and its validation metrics; null when training had no validation split. */
  bestEpoch: z.int().nullable(),
  validation: MetricsSummarySchema.nullable(),
  /** The selected weights on the fold's test split. */
  test: MetricsSummarySchema,
  epochs: z.int().nonnegative(),
  steps: z.int().nonnegative(),
  stoppedEarly: z.boolean(),
  /** Optimiser step the committing attempt resumed from (0: trained from scratch). */
  resumedFromStep: z.int().nonnegative(),
  /** Wall time of the committing attempt. */
  seconds: z.number().nonnegative(),
  executionProvider: z.string(),
  /**
   * ONNX Runtime intra-op threads of the committing attempt (`mer worker --threads`; 0: one per physical
   * core). Float reductions split by thread, so a bit-exact resume needs the same value. Absent in
   * results written before it.
   */
  threads: z.int().nonnegative().optional(),
  /**
   * Per used modality: the mean over feature dimensions of each dimension's variance across the
   * training samples (visual: across their valid frames). Absent in results written before it.
   */
  modalityVariance: z
    .object({ t: z.number().optional(), a: z.number().optional(), v: z.number().optional() })
    .optional(),
  /** Near-zero-variance modalities (activities/train/variance.ts); absent in results written before it. */
  warnings: z.array(ModalityWarningSchema).optional(),
  keys: z.object({
    onnx: z.string(),
    weights: z.string(),
    final: z.string(),
    history: z.string(),
    predictions: z.string(),
  }),
});
export type FoldTrainResult = z.infer<typeof FoldTrainResultSchema>;

/**
 * What a diverged training's failure (type `MerTrainingDiverged`) carries as its details, and what
 * `models/<trainKey>/diverged.json` holds besides the settings. `loss` is `String(loss)` (`NaN`,
 * `Infinity`): JSON has no non-finite numbers.
 */
export interface TrainingDivergedDetails {
  trainKey: string;
  variant: string;
  fold: string;
  epoch: number;
  step: number;
  loss: string;
}

export const TrainingDivergedRecordSchema = z.object({
  trainKey: z.string(),
  dataset: z.enum(MANIFEST_DATASETS),
  variant: z.string(),
  fold: z.string(),
  epoch: z.int().nonnegative(),
  step: z.int().nonnegative(),
  loss: z.string(),
  /** The resolved settings that decide divergence; `clipGradNorm` null when off. */
  settings: z.object({
    lr: z.number(),
    /** Where `lr` came from: `train.lr` (or its default) or the variant's own `lr`. Absent in older records. */
    lrSetting: z.enum(['train', 'variant']).optional(),
    clipGradNorm: z.number().nullable(),
    contrastiveWeight: z.number(),
    temperature: z.number(),
  }),
});
export type TrainingDivergedRecord = z.infer<typeof TrainingDivergedRecordSchema>;

/** The failure type of a diverged training (schemas/error-types.ts), for workflow and CLI code. */
export const TRAINING_DIVERGED = ErrorTypes.TrainingDiverged;

/**
 * The details of a diverged training's failure, found anywhere in an error's `cause` chain (a
 * workflow's ActivityFailure wraps the ApplicationFailure; an activity's own MerError is one):
 * undefined for any other error. Pure: usable in workflow code.
 */
export function trainingDivergedDetails(err: unknown): TrainingDivergedDetails | undefined {
  return failureDetails(err, TRAINING_DIVERGED) as TrainingDivergedDetails | undefined;
}

/** A fold's sizes as the split plan summary gives them (activities/train/plan.ts FoldSummary). */
export interface FoldSummaryShape {
  index: number;
  name: string;
  testGroup: string;
  train: number;
  validation: number;
  test: number;
  optimistic: boolean;
}

/**
 * What turns a new clip into this model's inputs, stored in the exported ONNX model's metadata
 * (`mer_inference`, JSON) so `mer predict` can redo segment -> extract -> compress exactly.
 * Loosely typed here (the stage schemas validate their parts) to keep schemas free of cycles.
 */
export interface InferenceRecipe {
  dataset: string;
  labelSet: string;
  classes?: string[];
  segment: Record<string, unknown>;
  extract: Record<string, unknown>;
  vsc: Record<string, unknown>;
  /** sha256 fingerprints of the encoder folders the features were made with. */
  encoders: { text: string; audio: string; visual: string };
}
