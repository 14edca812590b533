import { z } from 'zod';

/**
 * `slices` of metrics.json (issue 18): every variant's pooled test metrics broken down by the manifest's
 * slices, with cluster-bootstrap intervals over dialogues, and the full model's per-class recall against
 * each single-modality variant. Computed by activities/evaluate/slices/.
 *
 * Decision: small slices are flagged (`small`), never dropped, so a reader sees how little a figure
 * rests on; a slice is small when it has fewer than SLICE_SMALL.minItems utterances or fewer than
 * SLICE_SMALL.minDialogues dialogues (the bootstrap resamples dialogues: with few of them its interval
 * is itself unreliable). Slices without any utterance are left out (nothing to score).
 */

export const SLICE_KINDS = ['gender', 'speaker', 'interaction', 'duration'] as const;
export type SliceKind = (typeof SLICE_KINDS)[number];

export const SLICE_SMALL = { minItems: 30, minDialogues: 5 } as const;

/** MELD's six main characters (the manifest's `speaker`, exact); every other speaker is "other". */
export const MELD_MAIN_CHARACTERS = ['Chandler', 'Joey', 'Monica', 'Phoebe', 'Rachel', 'Ross'] as const;

const IntervalSchema = z.strictObject({ estimate: z.number(), low: z.number(), high: z.number() });

export const SliceSchema = z.strictObject({
  kind: z.enum(SLICE_KINDS),
  /** gender F / M; speaker: IEMOCAP actor (`Ses01F`: session + gender), MELD character or `other`;
   * interaction improvised / scripted; duration short / medium / long (tertiles, cut points beside). */
  name: z.string().min(1),
  n: z.int().positive(),
  dialogues: z.int().positive(),
  small: z.boolean(),
  accuracy: IntervalSchema,
  weightedF1: IntervalSchema,
});
export type Slice = z.infer<typeof SliceSchema>;

export const VariantSlicesSchema = z.strictObject({
  variant: z.string(),
  /** Tertile cut points of utterance duration in seconds (np.quantile 1/3 and 2/3): short <= cuts[0] <
   * medium <= cuts[1] < long. Null when fewer than 3 utterances have a duration. */
  durationCuts: z.tuple([z.number(), z.number()]).nullable(),
  /** Utterances without a duration (endSec <= startSec in the manifest): in no duration slice. */
  durationExcluded: z.int().nonnegative(),
  slices: z.array(SliceSchema),
});
export type VariantSlices = z.infer<typeof VariantSlicesSchema>;

export const ClassGainSchema = z.strictObject({
  class: z.string(),
  /** Utterances of this class predicted by the full model and every compared variant. */
  support: z.int().positive(),
  dialogues: z.int().positive(),
  small: z.boolean(),
  fullRecall: z.number(),
  against: z.array(
    z.strictObject({
      variant: z.string(),
      modality: z.enum(['t', 'a', 'v']),
      recall: z.number(),
      /** fullRecall - recall, with its paired cluster-bootstrap percentile interval. */
      gain: z.number(),
      low: z.number(),
      high: z.number(),
    }),
  ),
});
export type ClassGain = z.infer<typeof ClassGainSchema>;

export const SlicesSchema = z.strictObject({
  method: z.strictObject({
    /** Bootstrap resampling unit. */
    cluster: z.literal('dialogue'),
    rounds: z.int().positive(),
    seed: z.int().nonnegative(),
    level: z.number().gt(0).lt(1),
    small: z.strictObject({ minItems: z.int(), minDialogues: z.int() }),
  }),
  /** Slice kinds the manifest cannot give, and why (e.g. MELD has no gender). */
  notes: z.array(z.string()),
  variants: z.array(VariantSlicesSchema),
  /** Null when the run has no single-modality variant to compare the full model with. */
  classGains: z
    .strictObject({ full: z.string(), against: z.array(z.string()), perClass: z.array(ClassGainSchema) })
    .nullable(),
});
export type Slices = z.infer<typeof SlicesSchema>;
