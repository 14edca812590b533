/**
 * An exported inference model (models/<trainKey>/model.onnx) as `mer predict` needs it: the fusion
 * model's configuration, its class names and the recipe (`mer_inference`) that says how the training
 * features were made, every part validated against the stage schemas so a bad field is named.
 */
import onnxProto from 'onnx-proto';
import type { z } from 'zod';
import { SegmentParamsSchema, type SegmentParams } from '../../schemas/config.ts';
import { VscParamsSchema, type VscParams } from '../../schemas/compress.ts';
import { ExtractParamsSchema, type ExtractParams, type Modality } from '../../schemas/extract.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { exportedConfig } from '../model/predict.ts';

export interface PredictRecipe {
  dataset: string;
  labelSet: string;
  segment: SegmentParams;
  extract: ExtractParams;
  vsc: VscParams;
  /** sha256 fingerprints (activities/extract/model-folder.ts) of the encoder folders used at training. */
  encoders: Record<Modality, string>;
}

export interface InferenceModel {
  /** Where the model came from, for messages. */
  name: string;
  bytes: Uint8Array;
  config: ModelConfig;
  classes: string[];
  recipe: PredictRecipe;
  /** Every metadata property (trainKey, fold, variant, best_epoch, ...). */
  metadata: Record<string, string>;
}

const SHA256 = /^[0-9a-f]{64}$/;

function invalid(name: string, message: string): MerError {
  return new MerError(ErrorTypes.ConfigInvalid, `${name}: ${message}`, { model: name });
}

function parsePart<T>(name: string, field: string, schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [field, ...issue.path.map(String)].join('.');
  throw invalid(name, `metadata mer_inference.${path}: ${issue.message}`);
}

/** Reads and checks an exported model; `name` (a file or store key) goes into every error. */
export function readInferenceModel(bytes: Uint8Array, name: string): InferenceModel {
  let metadata: Record<string, string>;
  try {
    const proto = onnxProto.onnx.ModelProto.decode(bytes);
    metadata = Object.fromEntries(proto.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
  } catch (err) {
    throw invalid(name, `not an ONNX model (${(err as Error).message})`);
  }
  let config: ModelConfig;
  try {
    config = exportedConfig(bytes);
  } catch (err) {
    throw invalid(name, `metadata model_config: ${(err as Error).message}`);
  }
  const raw = metadata.mer_inference;
  if (!raw) {
    throw invalid(
      name,
      'the model carries no mer_inference metadata (the recipe of segment, extract and compress settings), so new clips cannot be prepared like its training features; export it from a pipeline run that ran segment, extract and compress',
    );
  }
  let json: Record<string, unknown>;
  try {
    const v = JSON.parse(raw) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    json = v as Record<string, unknown>;
  } catch (err) {
    throw invalid(name, `metadata mer_inference is not valid JSON (${(err as Error).message})`);
  }
  const encoders = {} as Record<Modality, string>;
  const enc = (json.encoders ?? {}) as Record<string, unknown>;
  for (const m of ['text', 'audio', 'visual'] as const) {
    const v = enc[m];
    if (typeof v !== 'string' || !SHA256.test(v))
      throw invalid(
        name,
        `metadata mer_inference.encoders.${m} is ${JSON.stringify(v)}, expected a sha256 fingerprint`,
      );
    encoders[m] = v;
  }
  const recipe: PredictRecipe = {
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- model metadata JSON; a non-string fails the schema check after
    dataset: String(json.dataset ?? ''),
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- model metadata JSON; a non-string fails the schema check after
    labelSet: String(json.labelSet ?? ''),
    segment: parsePart(name, 'segment', SegmentParamsSchema, json.segment),
    extract: parsePart(name, 'extract', ExtractParamsSchema, json.extract),
    vsc: parsePart(name, 'vsc', VscParamsSchema, json.vsc),
    encoders,
  };
  const fromMeta = metadata.classes
    ? metadata.classes.split(',')
    : Array.isArray(json.classes)
      ? (json.classes as unknown[]).map(String)
      : [];
  const classes =
    fromMeta.length === config.numClasses ? fromMeta : Array.from({ length: config.numClasses }, (_, i) => `class${i}`);
  if (recipe.vsc.maxFrames !== config.inputs.frames && config.modalities.includes('v')) {
    throw invalid(
      name,
      `metadata mer_inference.vsc.maxFrames is ${recipe.vsc.maxFrames} but the model reads ${config.inputs.frames} visual frames`,
    );
  }
  return { name, bytes, config, classes, recipe, metadata };
}
