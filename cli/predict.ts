/**
 * `mer predict --model <key|file> --input <video|folder>`: a trained model on new clips (see
 * activities/predict). The model is an exported `model.onnx`: a file, or a training key whose
 * `models/<key>/model.onnx` is in the store (`--store`, default the local store).
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StoreConfigSchema } from '../schemas/config.ts';
import { modelKeys, modelPrefix, trainKeyFromReference, trainKeyOfModel } from '../schemas/layout.ts';
import { releaseEncoderSessions } from '../activities/extract/sessions.ts';
import { predictClips, type PredictResult } from '../activities/predict/index.ts';
import { closeStores, createStore } from '../activities/store/index.ts';
import { StoreNotFoundError } from '../activities/store/types.ts';
import { ConfigError, defaultStoreRoot, parseStoreFlag } from './config.ts';

export interface PredictFlags {
  model: string;
  input: string;
  text?: string;
  /** `--context <utterance...>` (oldest first), or false for `--no-context`. */
  context?: string[] | false;
  models?: string;
  allowEncoderMismatch?: boolean;
  store?: string;
  s3Endpoint?: string;
  device?: 'cpu' | 'cuda';
  threads?: number;
  json?: boolean;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** `--model`: an existing file, else a training key (`<key>`, `models/<key>` or `models/<key>/model.onnx`, or a unique prefix of a key) in the store. */
export async function loadModel(
  model: string,
  storeFlag: string | undefined,
  endpoint: string | undefined,
): Promise<{ bytes: Uint8Array; name: string }> {
  if (!model.trim()) throw new ConfigError('--model: give a training key or a model.onnx file');
  const file = resolve(model);
  if (await isFile(file)) return { bytes: await readFile(file), name: file };
  const key = trainKeyFromReference(model);
  if (model.endsWith('.onnx') && !model.startsWith('models/')) throw new ConfigError(`--model: ${file} does not exist`);
  if (!/^[A-Za-z0-9._-]+$/.test(key))
    throw new ConfigError(
      `--model: ${model} is neither a file nor a training key (models/<key>/model.onnx in the store)`,
    );
  const parsed = StoreConfigSchema.safeParse(parseStoreFlag(storeFlag ?? defaultStoreRoot(), endpoint));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`--store: ${issue.path.join('.') || 'store'}: ${issue.message}`);
  }
  const spec = parsed.data.kind === 'local' ? { ...parsed.data, root: resolve(parsed.data.root) } : parsed.data;
  const store = createStore(spec);
  const exact = modelKeys(key).onnx;
  try {
    return { bytes: await store.get(exact), name: `${store.describe}/${exact}` };
  } catch (err) {
    if (!(err instanceof StoreNotFoundError)) throw err;
  }
  // a unique prefix of a training key, as with git hashes
  const matches = (await store.list(modelPrefix(key)))
    .map((o) => o.key)
    .filter((k) => trainKeyOfModel(k) !== undefined);
  if (matches.length === 1) return { bytes: await store.get(matches[0]), name: `${store.describe}/${matches[0]}` };
  if (matches.length > 1) {
    throw new ConfigError(
      `--model: ${key} matches ${matches.length} models in ${store.describe}: ${matches
        .slice(0, 5)
        .map((k) => trainKeyOfModel(k))
        .join(', ')}${matches.length > 5 ? ', ...' : ''}; give more of the key`,
    );
  }
  throw new ConfigError(
    `--model: no file ${file} and no ${exact} in the store ${store.describe} (--store picks another store)`,
  );
}

const fixed = (p: number) => p.toFixed(3);

/** The table: one row per clip, sorted by file name; probabilities with three decimals. */
export function renderTable(r: PredictResult): string[] {
  const anyFlags = r.predictions.some((p) => p.flags.length > 0);
  const header = ['clip', 'predicted', ...r.classes, ...(anyFlags ? ['flags'] : [])];
  const rows = r.predictions.map((p) => [
    p.clip,
    p.predicted,
    ...r.classes.map((c) => fixed(p.probabilities[c])),
    ...(anyFlags ? [p.flags.join(',')] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const numeric = (i: number) => i >= 2 && i < 2 + r.classes.length;
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric(i) ? c.padStart(widths[i]) : i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export async function runPredict(o: PredictFlags): Promise<void> {
  const progress = !o.json && process.stderr.isTTY;
  try {
    const { bytes, name } = await loadModel(o.model, o.store, o.s3Endpoint);
    const r = await predictClips({
      model: bytes,
      modelName: name,
      input: o.input,
      ...(o.text !== undefined ? { text: o.text } : {}),
      ...(o.context === false ? { noContext: true } : o.context ? { context: o.context } : {}),
      ...(o.models ? { modelsDir: o.models } : {}),
      allowEncoderMismatch: o.allowEncoderMismatch ?? false,
      runtime: { device: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) },
      warn: (m) => console.error(`mer predict: warning: ${m}`),
      onClip: progress ? (done, total, clip) => process.stderr.write(`\r\x1b[2K${done}/${total} ${clip}`) : undefined,
    });
    if (progress) process.stderr.write('\r\x1b[2K');
    if (o.json) {
      console.log(
        JSON.stringify(
          r.predictions.map((p) => ({
            clip: p.clip,
            predicted: p.predicted,
            probabilities: p.probabilities,
            flags: p.flags,
          })),
          null,
          2,
        ),
      );
    } else {
      const m = r.model.metadata;
      const about = [m.variant, m.dataset, m.fold ? `fold ${m.fold}` : ''].filter(Boolean).join(', ');
      console.error(`model ${name}${about ? ` (${about})` : ''}: ${r.predictions.length} clip(s)`);
      for (const l of renderTable(r)) console.log(l);
    }
    for (const f of r.failures) console.error(`mer predict: ${f.path}: ${f.reason}`);
    if (r.failures.length) process.exitCode = 1;
  } finally {
    await releaseEncoderSessions();
    await closeStores();
  }
}
