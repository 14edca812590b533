/**
 * Configuration of the fusion model (model-spec section 3), its loss (section 4) and its training
 * (section 5). Schemas validate what arrives from workflow inputs and checkpoints; presets give the
 * spec's defaults.
 */
import { z } from 'zod';

export const MODALITIES = ['v', 't', 'a'] as const;
export type Modality = (typeof MODALITIES)[number];

const dropoutRate = z.number().min(0).lt(1);

export const ModelConfigSchema = z.object({
  preset: z.enum(['paper', 'compact', 'custom']),
  /** Modalities the variant uses (ablations: any non-empty subset). */
  modalities: z.array(z.enum(MODALITIES)).min(1),
  inputs: z.object({
    /** Pooled text vector size Dt. */
    text: z.number().int().positive(),
    /** Pooled audio vector size Da. */
    audio: z.number().int().positive(),
    /** Visual frame vector size Dv. */
    visual: z.number().int().positive(),
    /** Visual frames per utterance F (after VSC; shorter sequences are padded at the end). */
    frames: z.number().int().positive(),
  }),
  numClasses: z.number().int().min(2),
  /** `guided`: attention pooling over time with the early-fusion vector as query (default);
   * `last`: the last valid timestep, as the reference. */
  summary: z.enum(['guided', 'last']),
  tcn: z.object({
    channels: z.number().int().positive(),
    kernel: z.number().int().min(1),
    dilations: z.array(z.number().int().positive()).min(1),
  }),
  earlyFusion: z.object({ hidden: z.number().int().positive(), out: z.number().int().positive() }),
  headDim: z.number().int().positive(),
  classifierHidden: z.array(z.number().int().positive()),
  dropout: z.object({ heads: dropoutRate, other: dropoutRate }),
  leakySlope: z.number().nonnegative(),
  batchNorm: z.object({ eps: z.number().positive(), momentum: z.number().gt(0).lte(1) }),
  layerNormEps: z.number().positive(),
});
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export const LossConfigSchema = z.object({
  contrastiveWeight: z.number().nonnegative(),
  temperature: z.number().positive(),
  /** Cross-modal pairs, anchor first: `vt`, `va` (reference) and optionally `ta`, each at most
   * once. Pairs whose modalities the variant lacks are skipped; the others are the active pairs. */
  pairs: z
    .array(z.enum(['vt', 'va', 'ta']))
    .refine((p) => new Set(p).size === p.length, { message: 'each pair at most once' }),
  /** How the active pairs' contrastive terms combine: `mean` (the reference, the default of
   * defaultLossConfig()) or `sum`. Absent means `sum`, the only behaviour before the option
   * existed, so checkpoints written then still parse and still describe how they were trained. */
  pairReduction: z.enum(['mean', 'sum']).default('sum'),
  /** `positives`: each anchor's sum over positives divided by their count (fixed); `reference`:
   * divided by batch size - 1, as the reference code. */
  normalization: z.enum(['positives', 'reference']),
  /** Optional per-class CE weights (PyTorch semantics: weighted mean); see inverseFrequencyWeights. */
  classWeights: z.array(z.number().positive()).optional(),
});
export type LossConfig = z.infer<typeof LossConfigSchema>;

export const OptimizerConfigSchema = z.object({
  lr: z.number().positive(),
  beta1: z.number().min(0).lt(1),
  beta2: z.number().min(0).lt(1),
  eps: z.number().positive(),
  weightDecay: z.number().nonnegative(),
  /** false: L2 added to the gradient (torch.optim.Adam, the reference); true: AdamW. */
  decoupledWeightDecay: z.boolean(),
  /** Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_); absent: off. */
  clipGradNorm: z.number().positive().optional(),
});
export type OptimizerConfig = z.infer<typeof OptimizerConfigSchema>;

export type Preset = 'paper' | 'compact';
export type DatasetFlavour = 'iemocap' | 'meld';

export interface InputDims {
  readonly text: number;
  readonly audio: number;
  readonly visual: number;
  readonly frames: number;
}

export interface PresetOptions {
  readonly dataset?: DatasetFlavour;
  readonly modalities?: readonly Modality[];
  readonly summary?: 'guided' | 'last';
}

/** The spec's architecture: `paper` has 1024 TCN channels, `compact` 256; everything else equal. */
export function presetModelConfig(
  preset: Preset,
  inputs: InputDims,
  numClasses: number,
  options: PresetOptions = {},
): ModelConfig {
  const meld = options.dataset === 'meld';
  return ModelConfigSchema.parse({
    preset,
    modalities: [...(options.modalities ?? MODALITIES)],
    inputs: { ...inputs },
    numClasses,
    summary: options.summary ?? 'guided',
    tcn: { channels: preset === 'paper' ? 1024 : 256, kernel: 3, dilations: [1, 2, 4] },
    earlyFusion: { hidden: 512, out: 384 },
    headDim: 256,
    classifierHidden: [512, 256, 128],
    dropout: meld ? { heads: 0.4, other: 0.4 } : { heads: 0.2, other: 0.3 },
    leakySlope: 0.01,
    batchNorm: { eps: 1e-5, momentum: 0.1 },
    layerNormEps: 1e-5,
  });
}

export function defaultLossConfig(): LossConfig {
  return {
    contrastiveWeight: 0.5,
    temperature: 0.5,
    pairs: ['vt', 'va'],
    pairReduction: 'mean',
    normalization: 'positives',
  };
}

/**
 * Class weights inversely proportional to class frequency, as scikit-learn's
 * compute_class_weight('balanced'): n / (C * n_c) for labels in [0, C). A class absent from
 * `labels` gets 1 (scikit-learn raises instead): its weight only scales samples of that class,
 * of which training has none, so the value is inert there, and 1 (the unweighted value) keeps
 * the weights valid for LossConfigSchema, which requires positive ones.
 */
export function inverseFrequencyWeights(labels: ArrayLike<number>, numClasses: number): number[] {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new Error(`loss: numClasses must be a positive integer, got ${numClasses}`);
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses)
      throw new Error(`loss: label ${y} at ${i} is outside [0, ${numClasses})`);
    counts[y]++;
  }
  return counts.map((c) => (c === 0 ? 1 : labels.length / (numClasses * c)));
}

export function defaultOptimizerConfig(dataset: DatasetFlavour = 'iemocap'): OptimizerConfig {
  return {
    lr: dataset === 'meld' ? 1e-4 : 5e-5,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 1e-5,
    decoupledWeightDecay: false,
  };
}

export function hasModality(cfg: ModelConfig, m: Modality): boolean {
  return cfg.modalities.includes(m);
}

export const TrainerConfigSchema = z.object({
  model: ModelConfigSchema,
  loss: LossConfigSchema,
  optimizer: OptimizerConfigSchema,
  /** Samples per step; a trailing batch of one sample is skipped (BatchNorm needs two). */
  batchSize: z.number().int().min(2),
  maxEpochs: z.number().int().min(1),
  /** Early stopping: stop after this many epochs without a validation weighted-F1 gain. */
  patience: z.number().int().min(1),
  seed: z.number().int().min(0).max(0xffffffff),
  /** Also checkpoint every this many steps inside an epoch (0: only at epoch ends). */
  checkpointEverySteps: z.number().int().min(0),
});
export type TrainerConfig = z.infer<typeof TrainerConfigSchema>;
