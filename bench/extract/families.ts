/**
 * One benchmark row set per encoder family (issue 17): every folder `MER_REAL_MODELS/<model_type>/`
 * whose config.json names a supported model_type (schemas/encoder-families.ts; the family branches'
 * `--real DIR` scripts write them there) is run through the extract stage's own ModalityRunner
 * (activities/extract/runners.ts) on the stage's batch shapes: 16 utterances of text, one 4 s
 * utterance of audio, one utterance of 15 frames. The session calls the runner makes are timed and
 * their input tensors kept (a wrap of InferenceSession.run, as test/helpers/inference-log.ts does),
 * so Python onnxruntime times the same file on the very same tensors (ratio = theirs / ours: > 1 is
 * faster), and the FLOPs come from the graph itself (graph-flops.ts), whatever the architecture.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { encodeSegmentWav } from '../../activities/common/wav.ts';
import { ort } from '../../activities/engine/session.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { openRunner } from '../../activities/extract/runners.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { encoderFamily } from '../../schemas/encoder-families.ts';
import { ExtractParamsSchema, type Modality } from '../../schemas/extract.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { blankSegmentRow, SEGMENT_FRAME_SIZE, type SegmentRow } from '../../schemas/segment.ts';
import { framesRgb, lcgSamples } from '../../test/extract/inputs.ts';
import { median } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';
import { modalityOfModelType } from '../../cli/model-type.ts';
import { graphFlops } from './graph-flops.ts';

const BENCH = 'extract/families';
const TEXT_BATCH = 16;
const AUDIO_SECONDS = 4;
const FRAMES = 15;

export interface FamilyFolder {
  dir: string;
  modelType: string;
  modality: Modality;
  family: string;
}

/** The family folders under `root`: subfolders whose config.json names a supported model_type. */
export function familyFolders(root: string | undefined): FamilyFolder[] {
  if (!root || !existsSync(root)) return [];
  const out: FamilyFolder[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    const config = join(dir, 'config.json');
    if (!statSync(dir).isDirectory() || !existsSync(config) || !existsSync(join(dir, 'onnx/model.onnx'))) continue;
    const modelType = (JSON.parse(readFileSync(config, 'utf8')) as { model_type?: unknown }).model_type;
    if (typeof modelType !== 'string') continue;
    const modality = modalityOfModelType(modelType);
    if (modality) out.push({ dir, modelType, modality, family: encoderFamily(modality, modelType)! });
  }
  return out;
}

function segmentRow(id: string, over: Partial<SegmentRow>): SegmentRow {
  return blankSegmentRow(id, { endSec: 1, ...over });
}

interface Call {
  ms: number;
  feeds: Record<string, ort.Tensor>;
}

/** Times every session.run of this process and keeps its feeds; returns the calls and the undo. */
function recordRuns(): { calls: Call[]; undo: () => void } {
  type Run = (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>, ...rest: unknown[]) => Promise<unknown>;
  // typed as a factory; at run time it is the session class whose instances the encoders hold
  const proto = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;
  const original = proto.run;
  const calls: Call[] = [];
  proto.run = async function (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>, ...rest: unknown[]) {
    const t0 = performance.now();
    const out = await original.call(this, feeds, ...rest);
    calls.push({ ms: performance.now() - t0, feeds });
    return out;
  };
  return { calls, undo: () => void (proto.run = original) };
}

export interface FamilyMeasure {
  /** Median ms of the encoder session call(s) of one runner batch. */
  sessionMs: number;
  /** Median ms of the whole runner batch (store reads, preprocessing, inference, float16). */
  runnerMs: number;
  items: number;
  unit: string;
  shape: string;
  /** The feeds of one batch's single session call, for Python and the FLOP count. */
  feeds: Record<string, ort.Tensor>;
}

/** One family through openRunner on the stage's batch shape. */
export async function measureFamily(f: FamilyFolder, threads: number, iters: number): Promise<FamilyMeasure> {
  const root = await mkdtemp(join(tmpdir(), 'mer-family-bench-'));
  const store = new LocalStore(root);
  try {
    const params = ExtractParamsSchema.parse({
      text: { model: f.dir, batchSize: TEXT_BATCH },
      audio: { model: f.dir },
      visual: { model: f.dir, batchFrames: 32 },
    });
    let rows: SegmentRow[];
    let texts: string[] = [];
    if (f.modality === 'text') {
      const { benchTexts } = await import('./encoders.bench.ts');
      texts = benchTexts(TEXT_BATCH);
      rows = texts.map((_, i) => segmentRow(`u${i}`, {}));
    } else if (f.modality === 'audio') {
      const samples = lcgSamples(AUDIO_SECONDS * 16000, 7);
      await store.put('a/u0.wav', encodeSegmentWav(new Uint8Array(samples.buffer)));
      rows = [segmentRow('u0', { audioKey: 'a/u0.wav', sampleRate: 16000, samples: samples.length })];
    } else {
      await store.put('v/u0.rgb.deflate', deflateRawSync(framesRgb(FRAMES, 3)));
      rows = [
        segmentRow('u0', {
          framesKey: 'v/u0.rgb.deflate',
          frameCount: FRAMES,
          frameHeight: SEGMENT_FRAME_SIZE,
          frameWidth: SEGMENT_FRAME_SIZE,
        }),
      ];
    }
    const runner = await openRunner({
      modality: f.modality,
      folder: await readModelFolder(f.modality, f.dir),
      runtime: { ...OnnxRuntimeSettingsSchema.parse({}), threads },
      store,
      ...params,
      manifestKey: 'bench',
      texts: { text: (id) => texts[Number(id.slice(1))], context: () => [] },
    });
    const batches = runner.plan(rows.filter((r) => runner.screen(r) === null));
    if (batches.length !== 1) throw new Error(`${f.dir}: the runner planned ${batches.length} batches, expected 1`);
    const rec = recordRuns();
    const session: number[] = [];
    const whole: number[] = [];
    try {
      await runner.run(batches[0]); // warm-up
      for (let i = 0; i < iters; i++) {
        rec.calls.length = 0;
        const t0 = performance.now();
        await runner.run(batches[0]);
        whole.push(performance.now() - t0);
        session.push(rec.calls.reduce((s, c) => s + c.ms, 0));
      }
    } finally {
      rec.undo();
    }
    if (rec.calls.length !== 1) throw new Error(`${f.dir}: one batch made ${rec.calls.length} session calls`);
    const feeds = rec.calls[0].feeds;
    const dims = Object.entries(feeds)
      .map(([k, t]) => `${k} [${t.dims.join(', ')}]`)
      .join(', ');
    const items = f.modality === 'text' ? TEXT_BATCH : f.modality === 'audio' ? 1 : FRAMES;
    return {
      sessionMs: median(session),
      runnerMs: median(whole),
      items,
      unit: f.modality === 'visual' ? 'frames/s' : 'utterances/s',
      shape: dims,
      feeds,
    };
  } finally {
    await releaseEncoderSessions();
    await rm(root, { recursive: true, force: true });
  }
}

type Tensors = Record<string, { data: BigInt64Array | Float32Array; dtype: 'int64' | 'float32'; shape: number[] }>;

/** The feeds as the Python reference reads them (raw little-endian tensors). */
export function feedTensors(feeds: Record<string, ort.Tensor>): Tensors {
  const out: Tensors = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (t.type !== 'int64' && t.type !== 'float32') throw new Error(`feed ${name} is ${t.type}`);
    out[name] = { data: t.data as BigInt64Array | Float32Array, dtype: t.type, shape: [...t.dims] };
  }
  return out;
}

type PythonRef = { ort_ms: number; onnxruntime: string } | string;

/**
 * Rows per family: our session throughput (and, in the notes, the whole runner batch), beside
 * Python onnxruntime on the same file and tensors when `python` is given, and achieved GFLOP/s.
 */
export async function familyRows(
  root: string | undefined,
  threads: number,
  peak: number,
  python: (kind: Modality, model: string, tensors: Tensors, threads: number, iters: number) => PythonRef,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const f of familyFolders(root)) {
    const iters = f.modality === 'text' ? 7 : f.modality === 'audio' ? 5 : 4;
    const label = `${f.family} (${f.modelType})`;
    let m: FamilyMeasure;
    try {
      m = await measureFamily(f, threads, iters);
    } catch (err) {
      rows.push({ bench: BENCH, metric: `${label} ${f.modality}`, value: NaN, unit: '', notes: String(err) });
      continue;
    }
    const perSecond = (ms: number) => (m.items / ms) * 1000;
    const common = `${m.shape}; ${threads} thread(s), CPU; ${f.dir}`;
    const row: BenchRow = {
      bench: BENCH,
      metric: `${label} ${m.unit} (onnxruntime-node)`,
      value: perSecond(m.sessionMs),
      unit: m.unit,
      notes: `${m.sessionMs.toFixed(1)} ms per session call, ${m.runnerMs.toFixed(1)} ms per runner batch (store, preprocessing, float16 included); ${common}`,
    };
    const ref = python(f.modality, f.dir, feedTensors(m.feeds), threads, iters);
    if (typeof ref === 'string') row.notes += `; Python reference missing: ${ref}`;
    else
      Object.assign(row, {
        reference: { name: `Python onnxruntime ${ref.onnxruntime}`, value: perSecond(ref.ort_ms) },
        ratio: ref.ort_ms / m.sessionMs,
      });
    rows.push(row);
    const flops = await graphFlops(join(f.dir, 'onnx/model.onnx'), m.feeds);
    const gflops = flops / (m.sessionMs * 1e6);
    rows.push({
      bench: BENCH,
      metric: `${label} achieved GFLOP/s`,
      value: gflops,
      unit: 'GFLOP/s',
      reference: { name: 'onnxruntime MatMul', value: peak },
      ratio: gflops / peak,
      notes: `${(flops / 1e9).toFixed(2)} GFLOP per call, counted from the graph's MatMul, Gemm and Conv nodes as run; ${common}`,
    });
  }
  return rows;
}
