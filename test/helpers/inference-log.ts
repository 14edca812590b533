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
 */
import { appendFileSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Modality } from '../../schemas/extract.ts';

const INPUT_OF: ReadonlyArray<[string, Modality]> = [
  ['input_ids', 'text'],
  ['input_values', 'audio'],
  ['pixel_values', 'visual'],
];

export const INFERENCE_LOG_ENV = 'MER_TEST_INFERENCE_LOG';
export const INFERENCE_SLOW_ENV = 'MER_TEST_INFERENCE_SLOW_MS';

export interface InferenceTotals {
  /** Encoder calls. */
  calls: number;
  /** Utterances (text, audio) or frames (visual) fed. */
  items: number;
}

type Run = (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>, ...rest: unknown[]) => Promise<unknown>;

/** Starts logging (and optionally slowing) this process's encoder calls; returns the undo. */
export function installInferenceLog(file: string, slowMs: Partial<Record<Modality, number>> = {}): () => void {
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
    }
    return original.call(this, feeds, ...rest);
  };
  return () => {
    proto.run = original;
  };
}

/** Per-modality totals of a log file (a missing file is an empty log). */
export function readInferenceLog(file: string): Record<Modality, InferenceTotals> {
  const out: Record<Modality, InferenceTotals> = { text: { calls: 0, items: 0 }, audio: { calls: 0, items: 0 }, visual: { calls: 0, items: 0 } };
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
if (logFile) installInferenceLog(logFile, parseSlow(process.env[INFERENCE_SLOW_ENV]));
