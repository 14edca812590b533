/** Running an exported inference model (buildInferenceGraph / TrainResult.exportInference) on
 * cached features, in chunks so large evaluation sets do not need one giant batch. */
import onnxProto from 'onnx-proto';
import { floatData, openSession } from '../engine/session.ts';
import type { RuntimeOptions } from '../engine/session.ts';
import type { ModelConfig } from './config.ts';
import { ModelConfigSchema } from './config.ts';
import { gatherBatch, validateFeatures } from './data.ts';
import type { UnlabelledFeatureSet } from './data.ts';
import { featureFeeds } from './feeds.ts';
import { IO } from './graphs.ts';
import { argmaxRows } from './metrics.ts';

export interface Predictions {
  /** [n, C] row-major. */
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
  readonly predicted: Int32Array;
}

/** The model configuration stored in an exported model's metadata. */
export function exportedConfig(model: Uint8Array): ModelConfig {
  const proto = onnxProto.onnx.ModelProto.decode(model);
  const entry = proto.metadataProps.find((p) => p.key === 'model_config');
  if (!entry?.value)
    throw new Error('predict: the model carries no model_config metadata (not exported by this engine?)');
  return ModelConfigSchema.parse(JSON.parse(entry.value));
}

export async function predict(
  model: Uint8Array,
  features: UnlabelledFeatureSet,
  runtime: RuntimeOptions = {},
  chunk = 512,
): Promise<Predictions> {
  const cfg = exportedConfig(model);
  validateFeatures('predict', features, cfg);
  const session = await openSession(model, runtime);
  try {
    const c = cfg.numClasses;
    const logits = new Float32Array(features.n * c);
    const probabilities = new Float32Array(features.n * c);
    for (let start = 0; start < features.n; start += chunk) {
      const rows = Int32Array.from({ length: Math.min(chunk, features.n - start) }, (_, i) => start + i);
      const out = await session.run(featureFeeds(cfg, gatherBatch(features, cfg, rows, false), 'float32'));
      logits.set(floatData(out[IO.logits]), start * c);
      probabilities.set(floatData(out[IO.probabilities]), start * c);
    }
    return { logits, probabilities, predicted: argmaxRows(logits, c) };
  } finally {
    await session.release();
  }
}
