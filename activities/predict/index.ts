/**
 * `mer predict`: new clips through the steps a training utterance went through (segment -> extract
 * -> compress, with the settings and encoders recorded in the model's `mer_inference` recipe), then
 * the exported inference graph. Runs in-process: no Temporal, no store writes.
 */
import { OnnxRuntimeSettingsSchema, type OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { cudaLibrariesMissing } from '../common/cuda.ts';
import { mapLimit } from '../common/concurrency.ts';
import { ffmpegVersion } from '../common/ffmpeg.ts';
import { predict } from '../model/predict.ts';
import { SegmentTools } from '../segment/tools.ts';
import { attachTranscripts, findClips } from './clips.ts';
import { clipContexts } from './context.ts';
import { openEncoders } from './encoders.ts';
import { ClipFeaturizer, encodersNeeded, featureSet, type ClipFeatures } from './features.ts';
import { readInferenceModel, type InferenceModel } from './model.ts';
import { segmentClip } from './segment.ts';

export { VIDEO_EXTENSIONS } from './clips.ts';
export { readInferenceModel, type InferenceModel, type PredictRecipe } from './model.ts';
export type { ClipFeatures } from './features.ts';

export interface PredictOptions {
  /** The exported model's bytes and a name for messages (file path or store key). */
  model: Uint8Array;
  modelName: string;
  /** A video file or a folder of them. */
  input: string;
  /** Transcript of a single clip; otherwise sidecar `<name>.txt` files. */
  text?: string;
  /** Previous utterances of a single clip's dialogue, oldest first; otherwise sidecar `<name>.context.txt` files. */
  context?: string[];
  /** Encode clips without dialogue context even though the model was trained with it. */
  noContext?: boolean;
  /** Encoder folders DIR/text, DIR/audio, DIR/visual instead of the recipe's. */
  modelsDir?: string;
  allowEncoderMismatch?: boolean;
  runtime?: Partial<OnnxRuntimeSettings>;
  /** Clips cut (ffmpeg) at once; encoding runs one clip at a time. Default 2. */
  concurrency?: number;
  warn?: (message: string) => void;
  onClip?: (done: number, total: number, clip: string) => void;
  signal?: AbortSignal;
}

export interface PreparedClipResult {
  clip: string;
  path: string;
  features: ClipFeatures | null;
  /** Why the clip could not be prepared (segment or extract found it unusable). */
  error: string | null;
}

export interface PreparedClips {
  model: InferenceModel;
  /** Every input clip, sorted by file name. */
  clips: PreparedClipResult[];
}

export interface ClipPrediction {
  clip: string;
  path: string;
  predicted: string;
  probabilities: Record<string, number>;
  flags: string[];
}

export interface PredictResult {
  model: InferenceModel;
  classes: string[];
  predictions: ClipPrediction[];
  failures: Array<{ clip: string; path: string; reason: string }>;
}

/** Validates the inputs, then segments and encodes every clip: the features the model will read. */
export async function prepareClips(opts: PredictOptions): Promise<PreparedClips> {
  const model = readInferenceModel(opts.model, opts.modelName);
  const { config, recipe } = model;
  const found = await findClips(opts.input);
  const clips = await attachTranscripts(found.clips, {
    text: opts.text,
    folder: found.folder,
    required: config.modalities.includes('t'),
  });
  const contexts = await clipContexts(
    clips.map((c) => c.path),
    {
      utterances: recipe.extract.text.contextUtterances,
      readsText: encodersNeeded(config, recipe).includes('text'),
      given: opts.context,
      none: opts.noContext,
      folder: found.folder,
    },
  );
  const runtime = OnnxRuntimeSettingsSchema.parse(opts.runtime ?? {});
  const encoders = await openEncoders(recipe, config, encodersNeeded(config, recipe), {
    modelsDir: opts.modelsDir,
    allowMismatch: opts.allowEncoderMismatch ?? false,
    runtime,
    warn: opts.warn,
  });
  const featurizer = new ClipFeaturizer(encoders, recipe, config);
  const tools = await SegmentTools.create(await ffmpegVersion({ signal: opts.signal }), opts.signal);
  // ffmpeg runs overlap; the encoders run one clip at a time (one onnxruntime session each)
  let encoding: Promise<unknown> = Promise.resolve();
  let done = 0;
  const indexed = clips.map((c, i) => ({ ...c, context: contexts[i] ?? [] }));
  const results = await mapLimit(
    indexed,
    Math.max(1, opts.concurrency ?? 2),
    async (c): Promise<PreparedClipResult> => {
      const media = await segmentClip(c.path, recipe.segment, tools);
      const turn = encoding.then(() => featurizer.prepare(media, c.text, c.context));
      encoding = turn.catch(() => {});
      const prepared = await turn;
      opts.onClip?.(++done, clips.length, c.clip);
      return prepared.ok
        ? { clip: c.clip, path: c.path, features: prepared.features, error: null }
        : { clip: c.clip, path: c.path, features: null, error: prepared.reason };
    },
  );
  return { model, clips: results };
}

/** Per-clip class probabilities from the exported graph; clips that could not be prepared are failures. */
export async function predictClips(opts: PredictOptions): Promise<PredictResult> {
  const prepared = await prepareClips(opts);
  const { model } = prepared;
  const ok = prepared.clips.filter((c) => c.features !== null);
  const failures = prepared.clips
    .filter((c) => c.features === null)
    .map((c) => ({ clip: c.clip, path: c.path, reason: c.error ?? 'not prepared' }));
  const predictions: ClipPrediction[] = [];
  if (ok.length) {
    const rt = OnnxRuntimeSettingsSchema.parse(opts.runtime ?? {});
    let device = rt.device;
    const why = device === 'cuda' ? cudaLibrariesMissing() : null;
    if (why) {
      opts.warn?.(`the CUDA execution provider is not installed (${why}); running the model on the CPU`);
      device = 'cpu';
    }
    const out = await predict(
      model.bytes,
      featureSet(
        ok.map((c) => c.features!),
        model.config,
      ),
      {
        executionProvider: device,
        deviceId: rt.deviceId,
        ...(rt.threads > 0 ? { threads: rt.threads } : {}),
      },
    );
    const k = model.classes.length;
    ok.forEach((c, i) => {
      const probabilities: Record<string, number> = {};
      model.classes.forEach((name, j) => (probabilities[name] = out.probabilities[i * k + j]!));
      predictions.push({
        clip: c.clip,
        path: c.path,
        predicted: model.classes[out.predicted[i]],
        probabilities,
        flags: c.features!.flags,
      });
    });
  }
  return { model, classes: model.classes, predictions, failures };
}
