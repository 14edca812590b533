/**
 * The encoder's identity as the stage records it (issue 17): config.json's model_type and the path,
 * size and sha256 of each file read. Each shard's commit marker records it (the worker has the
 * folder; finalize, which writes report.json, may run where the folder is not), and the report names
 * the family from the registry (schemas/encoder-families.ts).
 */
import { encoderFamily } from '../../schemas/encoder-families.ts';
import type { Modality } from '../../schemas/extract.ts';
import { EncoderIdentitySchema, type EncoderIdentity } from '../../schemas/report.ts';
import type { ModelFolder } from './model-folder.ts';

/** What a shard's commit summary records of its encoder. */
export function modelIdentity(folder: ModelFolder): { modelType: string; modelFiles: EncoderIdentity['files'] } {
  return {
    modelType: String(folder.config.model_type),
    modelFiles: folder.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
  };
}

/** The identity from a shard's commit summary, or null for a shard committed before it was recorded. */
export function encoderOf(modality: Modality, summary: Record<string, unknown>): EncoderIdentity | null {
  const { modelType, modelFiles } = summary;
  if (typeof modelType !== 'string') return null;
  const family = encoderFamily(modality, modelType);
  if (!family) return null;
  return EncoderIdentitySchema.parse({ family, modelType, files: modelFiles });
}
