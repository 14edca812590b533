/**
 * The config-time check of an encoder folder (issue 17): a folder that exists on the launching
 * machine has its config.json read, and a `model_type` the extract stage does not support for that
 * modality (unknown, or an encoder of another modality) is refused before anything starts, with the
 * file and the supported list. A folder that does not exist here is a worker path and is left to the
 * worker (activities/extract/model-folder.ts refuses the same there). `mer encode` uses the same
 * check to find which modality a folder encodes.
 *
 * Decision: refusals are MerConfigInvalid (MerError), so the CLI prints the type as pipeline
 * failures do; the registry itself is schemas/encoder-families.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorTypes, MerError } from '../activities/common/errors.ts';
import { ENCODER_FAMILIES, encoderFamily, supportedModelTypes } from '../schemas/encoder-families.ts';
import { EXTRACT_MODALITIES, type Modality } from '../schemas/extract.ts';

export interface FolderModelType {
  /** The config.json read. */
  file: string;
  modelType: string;
}

function refuse(message: string, details: Record<string, unknown>): MerError {
  return new MerError(ErrorTypes.ConfigInvalid, message, details);
}

export const article = (m: Modality) => (m === 'audio' ? `an ${m}` : `a ${m}`);

/** Every supported model_type, by modality, for messages. */
export function supportedList(): string {
  return EXTRACT_MODALITIES.map((m) => `${m}: ${supportedModelTypes(m).join(', ')}`).join('; ');
}

/** The modality whose families include this model_type, or undefined. */
export function modalityOfModelType(modelType: string): Modality | undefined {
  return EXTRACT_MODALITIES.find((m) => Object.hasOwn(ENCODER_FAMILIES[m], modelType));
}

/**
 * config.json's model_type of a folder on this machine, or null when the folder does not exist here.
 * `what` names the setting in messages (`extract.text.model`, `--model`).
 */
export function readFolderModelType(dir: string, what: string): FolderModelType | null {
  if (!existsSync(dir)) return null;
  if (!statSync(dir).isDirectory()) throw refuse(`${what}: ${dir} is not a folder`, { folder: dir });
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw refuse(
      `${what}: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); an encoder folder holds config.json, its tokenizer or preprocessor config and onnx/model.onnx (activities/extract/README.md)`,
      { file },
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw refuse(`${what}: ${file} is not valid JSON (${(err as Error).message})`, { file });
  }
  const type = (config as { model_type?: unknown } | null)?.model_type;
  if (typeof type !== 'string' || !type)
    throw refuse(`${what}: ${file} has no model_type; supported: ${supportedList()}`, { file });
  return { file, modelType: type };
}

/** Refuses a local folder whose model_type is not a `modality` encoder; a folder not here passes. */
export function checkEncoderFolder(modality: Modality, dir: string, what: string): FolderModelType | null {
  const found = readFolderModelType(dir, what);
  if (!found || encoderFamily(modality, found.modelType) !== undefined) return found;
  const other = modalityOfModelType(found.modelType);
  const why = other
    ? `is ${article(other)} encoder (${encoderFamily(other, found.modelType)}), not ${article(modality)} one`
    : `is not an encoder family the extract stage supports`;
  throw refuse(
    `${what}: ${found.file}: model_type '${found.modelType}' ${why}; supported ${modality} model types: ${supportedModelTypes(modality).join(', ')}`,
    { file: found.file, modelType: found.modelType, modality, supported: supportedModelTypes(modality) },
  );
}
