import { z } from 'zod';
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
  s5ValidationDialogues: z.int().min(1).default(20),
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
