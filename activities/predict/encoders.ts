/**
 * The encoders `mer predict` runs: the folders the model was trained with (the recipe's extract
 * folders, or `--models DIR` holding DIR/text, DIR/audio, DIR/visual), each checked against the
 * fingerprint in the recipe. Another encoder would give features the model never saw: that is an
 * error naming the folder and both fingerprints, unless the caller accepts it (then a warning).
 */
import { join, resolve } from 'node:path';
import type { Modality } from '../../schemas/extract.ts';
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { openAudioEncoder, type AudioEncoder } from '../extract/audio-encoder.ts';
import { readModelFolder, type ModelFolder } from '../extract/model-folder.ts';
import { TransformerTextEncoder } from '../extract/text-encoder.ts';
import { VisualEncoder } from '../extract/visual-encoder.ts';
import type { ModelConfig } from '../model/config.ts';
import type { PredictRecipe } from './model.ts';

export interface PredictEncoders {
  text?: TransformerTextEncoder;
  audio?: AudioEncoder;
  visual?: VisualEncoder;
  folders: Partial<Record<Modality, ModelFolder>>;
}

export interface EncoderOptions {
  /** DIR with text/, audio/, visual/; default: the folders recorded in the recipe. */
  modelsDir?: string;
  /** A fingerprint mismatch becomes a warning instead of an error. */
  allowMismatch?: boolean;
  runtime: OnnxRuntimeSettings;
  warn?: (message: string) => void;
}

/** The folder each modality's encoder is read from. */
export function encoderFolderPath(recipe: PredictRecipe, modality: Modality, modelsDir?: string): string {
  return modelsDir ? join(resolve(modelsDir), modality) : resolve(recipe.extract[modality].model);
}

/** Reads and fingerprints the folders of `need`; every mismatch is reported before any session opens. */
export async function checkEncoderFolders(
  recipe: PredictRecipe,
  need: readonly Modality[],
  opts: Omit<EncoderOptions, 'runtime'>,
): Promise<Partial<Record<Modality, ModelFolder>>> {
  const folders: Partial<Record<Modality, ModelFolder>> = {};
  const problems: string[] = [];
  for (const m of need) {
    const dir = encoderFolderPath(recipe, m, opts.modelsDir);
    let folder: ModelFolder;
    try {
      folder = await readModelFolder(m, dir, recipe.extract[m].file);
    } catch (err) {
      // the recipe holds the training workers' paths, which need not exist here
      if (err instanceof MerError && err.type === ErrorTypes.ModelMissing && !opts.modelsDir) {
        throw new MerError(
          err.type,
          `${err.message} (the folder the model was trained with; give --models DIR holding DIR/text, DIR/audio, DIR/visual)`,
          err.details,
        );
      }
      throw err;
    }
    folders[m] = folder;
    const want = recipe.encoders[m];
    if (folder.sha256 !== want) {
      problems.push(
        `the ${m} encoder folder ${folder.dir} has fingerprint sha256 ${folder.sha256}, but the model was trained with the ${m} encoder of fingerprint sha256 ${want}`,
      );
    }
  }
  if (problems.length) {
    const hint = opts.modelsDir
      ? 'give --models the encoder folders used at training'
      : 'the recipe names the folders used at training; give --models DIR (DIR/text, DIR/audio, DIR/visual) with those encoders';
    if (!opts.allowMismatch) {
      throw new MerError(
        ErrorTypes.ModelMismatch,
        `${problems.join('; ')}. Another encoder gives features the model never saw: ${hint}, or pass --allow-encoder-mismatch to predict anyway`,
        {
          folders: need.map((m) => folders[m]?.dir),
        },
      );
    }
    for (const p of problems) opts.warn?.(`${p}; predicting anyway (--allow-encoder-mismatch): results may be wrong`);
  }
  return folders;
}

/** Opens the encoders of `need` and checks their output sizes against the model's inputs. */
export async function openEncoders(
  recipe: PredictRecipe,
  config: ModelConfig,
  need: readonly Modality[],
  opts: EncoderOptions,
): Promise<PredictEncoders> {
  const folders = await checkEncoderFolders(recipe, need, opts);
  const out: PredictEncoders = { folders };
  const mismatch = (m: Modality, dim: number, want: number, what: string) =>
    new MerError(
      ErrorTypes.ModelMismatch,
      `${folders[m]!.dir}: the ${m} encoder gives ${dim}-d vectors but the model reads ${want}-d ${what}`,
      { folder: folders[m]!.dir },
    );
  if (folders.text) {
    out.text = await TransformerTextEncoder.open(folders.text, opts.runtime);
    if (config.modalities.includes('t') && out.text.dim !== config.inputs.text)
      throw mismatch('text', out.text.dim, config.inputs.text, 'text vectors');
  }
  if (folders.audio) {
    out.audio = await openAudioEncoder(folders.audio, opts.runtime);
    if (config.modalities.includes('a') && out.audio.dim !== config.inputs.audio)
      throw mismatch('audio', out.audio.dim, config.inputs.audio, 'audio vectors');
  }
  if (folders.visual) {
    out.visual = await VisualEncoder.open(folders.visual, opts.runtime, recipe.extract.visual);
    if (out.visual.dim !== config.inputs.visual)
      throw mismatch('visual', out.visual.dim, config.inputs.visual, 'frame vectors');
  }
  return out;
}
