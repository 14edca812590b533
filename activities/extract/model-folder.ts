/**
 * An encoder folder in the Hugging Face layout, read and fingerprinted: the sha256 of every file
 * the encoder uses goes into the features' cache key, so replacing a model (or its tokenizer)
 * recomputes exactly what depends on it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { encoderFamily, supportedModelTypes } from '../../schemas/encoder-families.ts';
import type { Modality } from '../../schemas/extract.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { stableStringify, sha256Hex } from '../common/hash.ts';

export type JsonObject = Record<string, unknown>;

export interface ModelFile {
  /** Relative to the folder, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
}

export interface ModelFolder {
  modality: Modality;
  dir: string;
  /** Absolute path of the ONNX graph (external data files, if any, lie beside it). */
  onnxPath: string;
  files: ModelFile[];
  /** Hash over the files' relative paths and hashes. */
  sha256: string;
  config: JsonObject;
  /** text: tokenizer.json's text. */
  tokenizerJson?: string;
  /** audio, visual: preprocessor_config.json. */
  preprocessor?: JsonObject;
}

const EXPORT_HINT =
  'see "Exporting the encoders" in activities/extract/README.md for exporting encoders into this layout';

const hashCache = new Map<string, { stamp: string; sha256: string }>();

/**
 * sha256 of a file, remembered per process while the file is unchanged (models are large). Size and
 * mtime alone are not enough: `rsync -a`, `cp -p` or `touch -r` put another checkpoint of the same
 * size in place with the old mtime, which would keep the old fingerprint (and the old cached
 * session). The inode and ctime cannot be carried over: a replaced or rewritten file changes one.
 */
async function fileSha256(path: string): Promise<{ size: number; sha256: string }> {
  const st = await stat(path, { bigint: true });
  const stamp = [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
  const size = Number(st.size);
  const hit = hashCache.get(path);
  if (hit && hit.stamp === stamp) return { size, sha256: hit.sha256 };
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  hashCache.set(path, { stamp, sha256 });
  return { size, sha256 };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<JsonObject> {
  const text = await readFile(path, 'utf8');
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as JsonObject;
  } catch (err) {
    throw new MerError(ErrorTypes.ModelCorrupt, `${path}: not valid JSON (${(err as Error).message})`, { file: path });
  }
}

/** ONNX external-data files written beside the graph by torch.onnx.export / optimum. */
async function externalDataFiles(onnxPath: string): Promise<string[]> {
  const dir = dirname(onnxPath);
  const base = basename(onnxPath);
  const names = await readdir(dir);
  return names.filter((n) => n.startsWith(base) && /^[._]data$/.test(n.slice(base.length))).sort();
}

export async function readModelFolder(
  modality: Modality,
  folder: string,
  file = 'onnx/model.onnx',
): Promise<ModelFolder> {
  const dir = resolve(folder);
  const need = ['config.json', modality === 'text' ? 'tokenizer.json' : 'preprocessor_config.json', file];
  const missing: string[] = [];
  for (const rel of need) if (!(await isFile(join(dir, rel)))) missing.push(rel);
  if (missing.length) {
    throw new MerError(
      ErrorTypes.ModelMissing,
      `${modality} encoder folder ${dir} lacks ${missing.join(', ')}; ${EXPORT_HINT}`,
      { folder: dir, missing },
    );
  }
  const onnxPath = join(dir, file);
  const rels = [
    ...need,
    ...(await externalDataFiles(onnxPath)).map((n) => join(dirname(file), n).split('\\').join('/')),
  ];
  const files: ModelFile[] = [];
  for (const rel of rels) files.push({ path: rel, ...(await fileSha256(join(dir, rel))) });
  const sha256 = sha256Hex(stableStringify(files.map((f) => [f.path, f.sha256])));

  const config = await readJson(join(dir, 'config.json'));
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a JSON value; a non-string is reported as what it prints as
  const type = String(config.model_type ?? '');
  if (encoderFamily(modality, type) === undefined) {
    throw new MerError(
      ErrorTypes.ModelMismatch,
      `${join(dir, 'config.json')}: model_type '${type}' is not an encoder this stage supports for ${modality} (${supportedModelTypes(modality).join(', ')})`,
      { folder: dir, modelType: type },
    );
  }
  const out: ModelFolder = { modality, dir, onnxPath, files, sha256, config };
  if (modality === 'text') out.tokenizerJson = await readFile(join(dir, 'tokenizer.json'), 'utf8');
  else out.preprocessor = await readJson(join(dir, 'preprocessor_config.json'));
  return out;
}

/** A positive integer from a config, or a named mismatch error. */
export function configInt(folder: ModelFolder, key: string, source: JsonObject = folder.config): number {
  const v = source[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new MerError(
      ErrorTypes.ModelMismatch,
      `${folder.dir}: ${key} is ${JSON.stringify(v)}, expected a positive integer`,
      { folder: folder.dir, key },
    );
  }
  return v;
}

export function configIntList(folder: ModelFolder, key: string): number[] {
  const v = folder.config[key];
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) {
    throw new MerError(
      ErrorTypes.ModelMismatch,
      `${folder.dir}/config.json: ${key} is ${JSON.stringify(v)}, expected a list of positive integers`,
      { folder: folder.dir, key },
    );
  }
  return v as number[];
}
