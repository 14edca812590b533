import { z } from 'zod';
import { Field, FixedSizeList, Float32, Int32, Schema, Utf8 } from 'apache-arrow';

/**
 * The compress (VSC) stage: its parameters (every one but chunkUtterances is part of the cache key), its output
 * layout (keys built in schemas/layout.ts) and its reports. Output per visual features shard:
 *  - `visual-vsc/<vscKey>/<shard>.parquet`: one row per utterance, columns `utteranceId` (utf8),
 *    `length` (int32, valid frames 0..maxFrames) and `sequence` (FixedSizeList<float32>[maxFrames*dim],
 *    frames left-aligned, zeros after `length`: exactly the trainer's `v` layout, so loading is a copy);
 *  - `visual-vsc/<vscKey>/<shard>/_COMMIT`: the shard's marker, its summary is the shard report;
 *  - `visual-vsc/<vscKey>/report.json` + `visual-vsc/<vscKey>/_COMMIT`: the stage report, written
 *    once every shard is committed.
 */

const cosine = z.number().min(-1).max(1);

const VSC_FIELDS = {
  /** false: the ablation without VSC: every frame is the mean of all its tokens, no frame merging. */
  enabled: z.boolean().default(true),
  /** Tokens kept per frame (of 49 for Swin-Tiny); at least the frame's token count keeps them all. */
  topK: z.int().min(1).default(16),
  /** A dropped token is merged into a kept one when their cosine similarity exceeds this. */
  mergeThreshold: cosine.default(0.6),
  /**
   * The reference's `alpha`: the weight a kept token keeps when dropped tokens merge into it,
   * X_r <- keepWeight X_r + (1 - keepWeight) sum theta X_n (the paper's 0.9 is the default).
   */
  keepWeight: z.number().min(0).max(1).default(0.9),
  /** `accumulate`: every merging dropped token contributes; `reference`: the last one in spatial
   * order overwrites the others, as the reference code does. */
  mergeMode: z.enum(['accumulate', 'reference']).default('accumulate'),
  /** Consecutive frame vectors whose cosine with the running group mean exceeds this are averaged. */
  temporalThreshold: cosine.default(0.97),
  /** F_out: frames per utterance after compression (the trainer's `inputs.frames`). */
  maxFrames: z.int().min(1).default(15),
  /** More groups than maxFrames: `merge` joins the most similar neighbours until they fit (keeps
   * every frame's content); `truncate` keeps the first maxFrames (what fixed-length padding does). */
  cap: z.enum(['merge', 'truncate']).default('merge'),
  /**
   * What token selection ranks by: `none`, similarity to the frame mean (unguided); `fixed`, to the
   * frame mean plus a seeded random linear map of [text; audio] (guided by text and audio, so only
   * variants that use both may read it: the run config refuses other combinations).
   */
  guidance: z.enum(['none', 'fixed']).default('none'),
  guidanceSeed: z.int().min(0).max(0xffffffff).default(0),
  /**
   * Not a parameter of the output: utterances per stored chunk and heartbeat of a shard activity (the
   * most work a lost worker costs; smaller is more store writes). Kept out of every key and stored
   * document (activities/compress/key.ts storedVscParams); absent = 64.
   */
  chunkUtterances: z.int().min(1).max(100_000).optional(),
};

const VscObjectSchema = z.strictObject(VSC_FIELDS);

/**
 * The weight of the merged (dropped) tokens, 1 - keepWeight, rounded to 15 significant digits so that
 * a decimal keepWeight gives the decimal weight (0.9 -> exactly 0.1, not 0.09999999999999998): the
 * weight used before the rename, and so the same sequences and cache keys.
 */
export function mergeWeight(keepWeight: number): number {
  return Number((1 - keepWeight).toPrecision(15));
}

/**
 * Parameters written before `alpha` became `keepWeight` (stage reports, model recipes, workflow
 * inputs of runs started earlier) carry `alpha` = the merged tokens' weight: read as keepWeight.
 */
function fromStored(value: unknown): unknown {
  if (!value || typeof value !== 'object' || !('alpha' in value) || 'keepWeight' in value) return value;
  const { alpha, ...rest } = value as Record<string, unknown>;
  return typeof alpha === 'number' ? { ...rest, keepWeight: mergeWeight(alpha) } : value;
}

/** VSC parameters as code and stored documents carry them (legacy `alpha` read as keepWeight). */
export const VscParamsSchema = z.preprocess(fromStored, VscObjectSchema);

/**
 * The run config's `compress:` section: as VscParamsSchema, but `alpha` is refused with its mapping,
 * since our old `alpha` weighed the dropped tokens and the reference's weighs the kept one: a value
 * copied from the paper would invert the update.
 */
export const VscConfigSchema = z
  .strictObject({
    ...VSC_FIELDS,
    alpha: z
      .never({
        error:
          "renamed to keepWeight, with the reference's meaning: the weight a kept token keeps (the paper's alpha 0.9 is keepWeight 0.9; the old compress.alpha x is keepWeight 1 - x)",
      })
      .optional(),
  })
  .transform(({ alpha: _alpha, ...rest }) => rest);

export type VscParams = z.infer<typeof VscObjectSchema>;
export type VscParamsInput = z.input<typeof VscObjectSchema>;

export function vscParams(input: VscParamsInput = {}): VscParams {
  return VscObjectSchema.parse(input);
}

/** Bumped whenever the same parameters would compute different sequences. */
export const VSC_CODE_VERSION = 1;

export const ShardNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'shard names are letters, digits, dots, underscores and hyphens');

/** Arrow schema of an output shard; dims are in the metadata too, for readers that check them first. */
export function vscArrowSchema(maxFrames: number, dim: number, vscKey: string): Schema {
  return new Schema(
    [
      new Field('utteranceId', new Utf8(), false),
      new Field('length', new Int32(), false),
      new Field('sequence', new FixedSizeList(maxFrames * dim, new Field('item', new Float32(), false)), false),
    ],
    new Map([
      ['mer.schema', 'visual-vsc-shard'],
      ['mer.schemaVersion', '1'],
      ['mer.frames', String(maxFrames)],
      ['mer.dim', String(dim)],
      ['mer.vscKey', vscKey],
    ]),
  );
}

const count = z.int().nonnegative();

/** What VSC read and wrote; a stage's figures are its shards' sums (ratio recomputed from them). */
const volume = {
  utterances: count,
  /** Input visual values (frames x tokens x dim summed over utterances) and valid output values. */
  valuesIn: count,
  valuesOut: count,
  /** valuesIn / valuesOut: how many times smaller the visual representation became. */
  ratio: z.number().nonnegative(),
  /** Bytes of the stored float16 sequences read, and of the written shard file(s). */
  bytesIn: count,
  bytesOut: count,
};

export const VscShardReportSchema = z.object({
  shard: z.string(),
  ...volume,
  framesIn: count,
  framesOut: count,
  /** Utterances whose `fixed` guidance lacked the text or audio vector (zeros were used). */
  guidanceMissing: count,
  /** Wall time of the attempt that committed the shard, and how many utterances an earlier attempt had done. */
  seconds: z.number().nonnegative(),
  resumedFrom: count,
});
export type VscShardReport = z.infer<typeof VscShardReportSchema>;

export const VscStageReportSchema = z.object({
  vscKey: z.string(),
  params: VscParamsSchema,
  shards: z.array(VscShardReportSchema),
  ...volume,
  byteRatio: z.number().nonnegative(),
  /** Sum over shards of each committing attempt's wall time (shards run in parallel, so not elapsed time). */
  seconds: z.number().nonnegative(),
  utterancesPerSecond: z.number().nonnegative(),
});
export type VscStageReport = z.infer<typeof VscStageReportSchema>;
