/**
 * A record of every encoder inference a process runs, for tests that measure redone work across
 * worker processes. It wraps onnxruntime's `InferenceSession.prototype.run` (the real computation
 * still runs): each call appends `<modality> <items>` to a log file before it starts, so a call cut
 * short by a SIGKILL is still counted. Items are the batch dimension of the encoder's input:
 * utterances for text and audio, frames for visual.
 *
 * In a child worker it is a preload (`node --import tsx --import <this file>`, see child-worker.ts)
 * configured by MER_TEST_INFERENCE_LOG (the log file) and MER_TEST_INFERENCE_SLOW_MS
 * (`visual=250,audio=0`: a pause before each such call, to stretch a shard out so it can be killed
 * part way); in the test process itself call `installInferenceLog`.
 *
 * Training steps (the fused train-step graph, recognised by its `adam:update_scale` input) are logged
 * too, as `train <batch rows>`, and MER_TEST_TRAIN_STEP_MS pauses before each one (the step itself
 * runs unchanged), so a training can be killed mid-epoch; see `readTrainSteps`.
 *
 * Compress shards (a cpu worker): MER_TEST_COMPRESS_CHUNK sets the `chunkUtterances` of every
 * compressVisualShard activity the process registers (the stored chunk size: it changes no output),
 * and every chunk stored under `_partial/` is logged as `vsc-chunk <rows> <key>` before it is written;
 * MER_TEST_COMPRESS_SLOW_MS pauses between that line and the write. See `installCompressHooks`.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import * as ort from 'onnxruntime-node';
import type { CompressShardInput } from '../../activities/compress/shard.ts';
import { LocalStore } from '../../activities/store/local.ts';
import type { Modality } from '../../schemas/extract.ts';

const INPUT_OF: ReadonlyArray<[string, Modality]> = [
  ['input_ids', 'text'],
  ['input_values', 'audio'],
  ['pixel_values', 'visual'],
];

/** This module, for a child worker's `preload`. */
export const INFERENCE_LOG_PRELOAD = fileURLToPath(import.meta.url);

/**
 * A child `mer worker` on one queue with this module preloaded, logging to `log`; `env` sets its
 * slow-downs and hooks (the *_ENV settings below). For test/helpers/pipeline-test.ts `spawnWorker`.
 */
export function loggedWorker(taskQueuePrefix: string, queue: 'cpu' | 'gpu', log: string, env: NodeJS.ProcessEnv = {}) {
  return {
    taskQueuePrefix,
    queues: [queue],
    preload: [INFERENCE_LOG_PRELOAD],
    env: { [INFERENCE_LOG_ENV]: log, ...env },
  };
}
export const INFERENCE_LOG_ENV = 'MER_TEST_INFERENCE_LOG';
export const INFERENCE_SLOW_ENV = 'MER_TEST_INFERENCE_SLOW_MS';
export const TRAIN_STEP_SLOW_ENV = 'MER_TEST_TRAIN_STEP_MS';
export const COMPRESS_CHUNK_ENV = 'MER_TEST_COMPRESS_CHUNK';
export const COMPRESS_SLOW_ENV = 'MER_TEST_COMPRESS_SLOW_MS';

/** The train-step graph's Adam input (activities/model/graphs.ts IO.updateScale): only that graph has it. */
const TRAIN_STEP_INPUT = 'adam:update_scale';

export interface InferenceTotals {
  /** Encoder calls. */
  calls: number;
  /** Utterances (text, audio) or frames (visual) fed. */
  items: number;
}

type Run = (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>, ...rest: unknown[]) => Promise<unknown>;

/**
 * Starts logging (and optionally slowing) this process's encoder calls and training steps
 * (`trainStepMs`: a pause before each step); returns the undo.
 */
export function installInferenceLog(
  file: string,
  slowMs: Partial<Record<Modality, number>> = {},
  trainStepMs = 0,
): () => void {
  // typed as a factory; at run time it is the session class whose instances the encoders hold
  const proto = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;
  const original = proto.run;
  proto.run = async function (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>, ...rest: unknown[]) {
    const hit = INPUT_OF.find(([name]) => feeds && typeof feeds === 'object' && name in feeds);
    if (hit) {
      const [name, modality] = hit;
      appendFileSync(file, `${modality} ${feeds[name].dims[0]}\n`);
      const pause = slowMs[modality] ?? 0;
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    } else if (feeds && typeof feeds === 'object' && TRAIN_STEP_INPUT in feeds) {
      appendFileSync(file, `train ${feeds.labels?.dims[0] ?? 0}\n`);
      if (trainStepMs > 0) await new Promise((r) => setTimeout(r, trainStepMs));
    }
    return original.call(this, feeds, ...rest);
  };
  return () => {
    proto.run = original;
  };
}

/** Per-modality totals of a log file (a missing file is an empty log). */
export function readInferenceLog(file: string): Record<Modality, InferenceTotals> {
  const out: Record<Modality, InferenceTotals> = {
    text: { calls: 0, items: 0 },
    audio: { calls: 0, items: 0 },
    visual: { calls: 0, items: 0 },
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [m, n] = line.split(' ');
    if (m !== 'text' && m !== 'audio' && m !== 'visual') continue;
    out[m].calls++;
    out[m].items += Number(n);
  }
  return out;
}

/** Training steps a log file records: steps started (a step cut short by a kill included) and their rows. */
export function readTrainSteps(file: string): InferenceTotals {
  return readTagged(file, 'train');
}

/** Compress chunks a log file records: chunks computed (stored, or about to be when the worker died) and their rows. */
export function readCompressChunks(file: string): InferenceTotals & { keys: string[] } {
  return {
    ...readTagged(file, 'vsc-chunk'),
    keys: logLines(file)
      .filter((l) => l[0] === 'vsc-chunk')
      .map((l) => l[2] ?? ''),
  };
}

function logLines(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.split(' '));
  } catch {
    return [];
  }
}

function readTagged(file: string, tag: string): InferenceTotals {
  const out = { calls: 0, items: 0 };
  for (const [t, n] of logLines(file)) {
    if (t !== tag) continue;
    out.calls++;
    out.items += Number(n);
  }
  return out;
}

/**
 * In a cpu worker: `chunkUtterances` for every compressVisualShard activity it registers (injected
 * into the activity's input where `Worker.create` receives the activities), and a log line (plus an
 * optional pause) before each `_partial/` chunk a LocalStore writes. Returns the undo.
 */
export function installCompressHooks(opts: { file?: string; chunkUtterances?: number; slowMs?: number }): () => void {
  // The originals themselves (not bound copies): the undo puts back exactly what was there; `call` gives them their `this`.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = Worker.create;
  const create: typeof Worker.create = (options) => original.call(Worker, options);
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const put = LocalStore.prototype.put;
  if (opts.chunkUtterances) {
    const chunk = opts.chunkUtterances;
    Worker.create = (options) => {
      const acts = options.activities as Record<string, (...args: unknown[]) => Promise<unknown>> | undefined;
      const compress = acts?.compressVisualShard;
      if (!acts || !compress) return create(options);
      return create({
        ...options,
        activities: {
          ...acts,
          compressVisualShard: (input: CompressShardInput) => compress({ ...input, chunkUtterances: chunk }),
        },
      });
    };
  }
  LocalStore.prototype.put = async function (this: LocalStore, key, ...rest) {
    const m = /\/_partial\/.*\/(\d{8})-(\d{8})\.parquet$/.exec(key);
    if (m) {
      if (opts.file) appendFileSync(opts.file, `vsc-chunk ${Number(m[2]) - Number(m[1])} ${key}\n`);
      if (opts.slowMs) await new Promise((r) => setTimeout(r, opts.slowMs));
    }
    return put.call(this, key, ...rest);
  };
  return () => {
    Worker.create = original;
    LocalStore.prototype.put = put;
  };
}

/** `visual=250,audio=10` -> { visual: 250, audio: 10 }. */
export function parseSlow(spec: string | undefined): Partial<Record<Modality, number>> {
  const out: Partial<Record<Modality, number>> = {};
  for (const part of (spec ?? '').split(',')) {
    const [m, ms] = part.split('=');
    if ((m === 'text' || m === 'audio' || m === 'visual') && Number(ms) > 0) out[m] = Number(ms);
  }
  return out;
}

// As a preload in a child worker: configured from its environment.
const logFile = process.env[INFERENCE_LOG_ENV];
if (logFile)
  installInferenceLog(
    logFile,
    parseSlow(process.env[INFERENCE_SLOW_ENV]),
    Number(process.env[TRAIN_STEP_SLOW_ENV] ?? 0) || 0,
  );
if (process.env[COMPRESS_CHUNK_ENV] || process.env[COMPRESS_SLOW_ENV]) {
  installCompressHooks({
    file: logFile,
    chunkUtterances: Number(process.env[COMPRESS_CHUNK_ENV] ?? 0) || undefined,
    slowMs: Number(process.env[COMPRESS_SLOW_ENV] ?? 0) || undefined,
  });
}
