/**
 * Extract-stage encoder throughput on this machine, per encoder at the stage's batch shapes:
 * - text: BERT, a batch of 16 utterances (5-30 words, padded to the longest), utterances/s;
 * - audio: wav2vec2, one 4 s utterance (MELD's mean is about 3.2 s), utterances/s and audio s/s;
 * - visual: Swin, one utterance of 15 frames, frames/s;
 * each with achieved GFLOP/s (bench/extract/flops.ts) against onnxruntime's own MatMul throughput
 * ([512 x 768] x [768 x 768], the shape of a BERT-base projection) at the same thread count, and the
 * same input tensors timed in Python onnxruntime and PyTorch eager mode (ratio = ours / theirs, so
 * > 1 is faster) when MER_EXTRACT_PYTHON names a python with torch, transformers and onnxruntime
 * (scripts/extract/README.md); otherwise the references are reported missing.
 * Then peak RSS and throughput of whole shard activities (store reads, inference, float16, Parquet,
 * commit) run in a child process: two shards per size, one session per model for both.
 *
 * Models: real-size random-weight ones from `scripts/extract/make_tiny_models.py --real DIR` in
 * MER_REAL_MODELS (default /tmp/mer-real-models when it exists); else the tiny test fixtures, noted
 * in every row. Threads: MER_BENCH_THREADS (default 1).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Modality } from '../../schemas/extract.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { openAudioEncoder } from '../../activities/extract/audio-encoder.ts';
import { isQuarantine } from '../../activities/extract/encoder.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { TransformerTextEncoder, type TextInput } from '../../activities/extract/text-encoder.ts';
import { VisualEncoder, type VisualInput } from '../../activities/extract/visual-encoder.ts';
import { Graph } from '../../activities/engine/graph.ts';
import { matmul } from '../../activities/engine/ops/linalg.ts';
import { serializeGraph } from '../../activities/engine/serialize.ts';
import { openSession, ort } from '../../activities/engine/session.ts';
import { framesRgb, lcgSamples } from '../../test/extract/inputs.ts';
import { median } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';
import { bertFlops, swinFlops, wav2vec2Flops } from './flops.ts';
import { familyRows } from './families.ts';

const BENCH = 'extract/encoders';
const TEXT_BATCH = 16;
const AUDIO_SECONDS = 4;
const FRAMES = 15;
const SHARD_SIZES = [8, 24];
const here = fileURLToPath(new URL('.', import.meta.url));

export function modelFolders(): { dir: Record<Modality, string>; note: string } {
  const real = process.env.MER_REAL_MODELS ?? '/tmp/mer-real-models';
  const names = { text: 'bert-base-uncased', audio: 'wav2vec2-base', visual: 'swin-tiny-patch4-window7-224' };
  if (existsSync(join(real, names.text, 'onnx/model.onnx'))) {
    return {
      dir: { text: join(real, names.text), audio: join(real, names.audio), visual: join(real, names.visual) },
      note: `real-size random-weight models in ${real}`,
    };
  }
  const tiny = fileURLToPath(new URL('../../test/fixtures/models/', import.meta.url));
  return {
    dir: { text: join(tiny, 'tiny-bert'), audio: join(tiny, 'tiny-wav2vec2'), visual: join(tiny, 'tiny-swin') },
    note: 'TINY test models (no real-size ones: run scripts/extract/make_tiny_models.py --real /tmp/mer-real-models); numbers not representative',
  };
}

const WORDS =
  'i you know what the hell is going on here okay so we were just talking about that really great party last night and she said no way'.split(
    ' ',
  );
export function benchTexts(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const len = 5 + ((i * 7) % 26);
    return (
      Array.from({ length: len }, (_, j) => WORDS[(i * 13 + j * 5) % WORDS.length]).join(' ') +
      (i % 3 === 0 ? '?' : '.')
    );
  });
}

async function timeIt(fn: () => Promise<unknown>, warmup: number, iters: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function matmulGflops(threads: number): Promise<number> {
  const [m, k, nn] = [512, 768, 768];
  const g = new Graph('float32');
  const a = g.input('a', 'float32', [m, k]);
  const b = g.input('b', 'float32', [k, nn]);
  g.output(matmul(a, b), 'y');
  const session = await openSession(serializeGraph(g), { threads });
  try {
    const feeds = {
      a: new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]),
      b: new ort.Tensor('float32', new Float32Array(k * nn).fill(0.25), [k, nn]),
    };
    const ms = await timeIt(() => session.run(feeds), 3, 15);
    return (2 * m * k * nn) / (ms * 1e6);
  } finally {
    await session.release();
  }
}

type Tensors = Record<string, { data: BigInt64Array | Float32Array; dtype: 'int64' | 'float32'; shape: number[] }>;

interface PythonRef {
  ort_ms: number;
  torch_ms?: number;
  onnxruntime: string;
  torch?: string;
  max_abs_diff_ort_torch?: number;
}

export function pythonReference(
  kind: Modality,
  model: string,
  tensors: Tensors,
  threads: number,
  iters: number,
  extraArgs: string[] = [],
): PythonRef | string {
  const python = process.env.MER_EXTRACT_PYTHON;
  if (!python)
    return 'set MER_EXTRACT_PYTHON to a python with torch, transformers and onnxruntime (scripts/extract/README.md)';
  if (!existsSync(python)) return `MER_EXTRACT_PYTHON=${python} does not exist`;
  const dir = mkdtempSync(join(tmpdir(), 'mer-extract-bench-'));
  try {
    const spec: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(tensors)) {
      writeFileSync(join(dir, `${name}.bin`), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      spec[name] = { file: `${name}.bin`, dtype: t.dtype, shape: t.shape };
    }
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify({ tensors: spec }));
    const script = fileURLToPath(new URL('../../scripts/extract/bench_reference.py', import.meta.url));
    const run = spawnSync(
      python,
      [
        script,
        '--model',
        model,
        '--kind',
        kind,
        '--inputs',
        join(dir, 'inputs.json'),
        '--threads',
        String(threads),
        '--iters',
        String(iters),
        ...extraArgs,
      ],
      {
        encoding: 'utf8',
        timeout: 600_000,
        env: { ...process.env, OMP_NUM_THREADS: String(threads) },
      },
    );
    if (run.status !== 0)
      return `Python reference failed: ${(run.stderr || run.error?.message || '').trim().split('\n').slice(-1)[0]}`;
    return JSON.parse(run.stdout.trim().split('\n').pop()!) as PythonRef;
  } catch (err) {
    return `Python reference failed: ${String(err)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Measured {
  kind: Modality;
  ms: number;
  items: number;
  unit: string;
  flops: number;
  tensors: Tensors;
  shape: string;
}

async function measureText(dir: string, threads: number): Promise<Measured> {
  const folder = await readModelFolder('text', dir);
  const enc = await TransformerTextEncoder.open(folder, { ...OnnxRuntimeSettingsSchema.parse({}), threads });
  const batch = benchTexts(TEXT_BATCH).map((t) => enc.prepare(t, [], 128) as TextInput);
  const s = Math.max(...batch.map((x) => x.ids.length));
  const ids = new BigInt64Array(TEXT_BATCH * s);
  const mask = new BigInt64Array(TEXT_BATCH * s);
  batch.forEach((x, i) => x.ids.forEach((id, t) => ((ids[i * s + t] = BigInt(id)), (mask[i * s + t] = 1n))));
  const ms = await timeIt(() => enc.encode(batch), 2, 7);
  const shape = [TEXT_BATCH, s];
  return {
    kind: 'text',
    ms,
    items: TEXT_BATCH,
    unit: 'utterances/s',
    flops: bertFlops(folder.config, TEXT_BATCH, s),
    shape: `batch ${TEXT_BATCH} x ${s} tokens (padded; utterances ${Math.min(...batch.map((x) => x.ids.length))}-${s} tokens)`,
    tensors: {
      input_ids: { data: ids, dtype: 'int64', shape },
      attention_mask: { data: mask, dtype: 'int64', shape },
      token_type_ids: { data: new BigInt64Array(TEXT_BATCH * s), dtype: 'int64', shape },
    },
  };
}

async function measureAudio(dir: string, threads: number): Promise<Measured> {
  const folder = await readModelFolder('audio', dir);
  const enc = await openAudioEncoder(folder, { ...OnnxRuntimeSettingsSchema.parse({}), threads });
  const samples = AUDIO_SECONDS * 16000;
  const input = enc.prepare(lcgSamples(samples, 7), 16000, 15);
  if (isQuarantine(input)) throw new Error(input.quarantine);
  const ms = await timeIt(() => enc.encode([input]), 1, 5);
  return {
    kind: 'audio',
    ms,
    items: 1,
    unit: 'utterances/s',
    flops: wav2vec2Flops(folder.config, 1, samples),
    shape: `batch 1 x ${AUDIO_SECONDS} s (${enc.framesFor(samples)} frames)`,
    tensors: enc.feeds([input]),
  };
}

async function measureVisual(dir: string, threads: number): Promise<Measured> {
  const folder = await readModelFolder('visual', dir);
  const enc = await VisualEncoder.open(folder, { ...OnnxRuntimeSettingsSchema.parse({}), threads });
  const input = enc.prepare(framesRgb(FRAMES, 3), FRAMES) as VisualInput;
  const ms = await timeIt(() => enc.encode([input], FRAMES), 1, 4);
  return {
    kind: 'visual',
    ms,
    items: FRAMES,
    unit: 'frames/s',
    flops: swinFlops(folder.config, FRAMES),
    shape: `batch ${FRAMES} frames x 224 x 224`,
    tensors: { pixel_values: { data: input.pixels, dtype: 'float32', shape: [FRAMES, 3, 224, 224] } },
  };
}

interface ChildResult {
  modality: Modality;
  utterancesPerShard: number;
  shards: number;
  shardSeconds: number[];
  maxRssMiB: number;
  peakAfterShardsMiB: number[];
  sessions: number;
}

function shardChild(modality: Modality, dir: string, size: number, threads: number): ChildResult | string {
  const child = join(here, 'shard-child.ts');
  const run = spawnSync(process.execPath, ['--import', 'tsx', child, modality, dir, String(size), String(threads)], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (run.status !== 0)
    return `shard child failed: ${(run.stderr || run.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`;
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as ChildResult;
}

export default async function run(): Promise<BenchRow[]> {
  const threads = Number(process.env.MER_BENCH_THREADS ?? 1);
  const { dir, note } = modelFolders();
  const rows: BenchRow[] = [];
  const peak = await matmulGflops(threads);
  rows.push({
    bench: BENCH,
    metric: 'onnxruntime MatMul GFLOP/s',
    value: peak,
    unit: 'GFLOP/s',
    notes: `[512 x 768] x [768 x 768] float32, ${threads} thread(s): the ceiling the encoders are compared with`,
  });

  for (const measure of [measureText, measureAudio, measureVisual]) {
    const kind = measure === measureText ? 'text' : measure === measureAudio ? 'audio' : 'visual';
    const m = await measure(dir[kind], threads);
    await releaseEncoderSessions();
    const perSecond = (m.items / m.ms) * 1000;
    const common = `${m.shape}; ${threads} thread(s), CPU; ${note}`;
    const ref = pythonReference(kind, dir[kind], m.tensors, threads, kind === 'visual' ? 4 : 7);
    const refPerSecond = (ms: number) => (m.items / ms) * 1000;
    const base: BenchRow = {
      bench: BENCH,
      metric: `${kind} ${m.unit} (onnxruntime-node)`,
      value: perSecond,
      unit: m.unit,
      notes: `${m.ms.toFixed(1)} ms per call; ${common}`,
    };
    if (typeof ref === 'string') {
      base.notes += `; references missing: ${ref}`;
      rows.push(base);
    } else {
      rows.push({
        ...base,
        reference: { name: `Python onnxruntime ${ref.onnxruntime}`, value: refPerSecond(ref.ort_ms) },
        ratio: ref.ort_ms / m.ms,
      });
      if (ref.torch_ms !== undefined) {
        rows.push({
          bench: BENCH,
          metric: `${kind} ${m.unit} vs PyTorch eager`,
          value: perSecond,
          unit: m.unit,
          reference: { name: `PyTorch ${ref.torch} eager`, value: refPerSecond(ref.torch_ms) },
          ratio: ref.torch_ms / m.ms,
          notes: `same weights and input tensors; PyTorch vs Python onnxruntime outputs differ by at most ${ref.max_abs_diff_ort_torch?.toExponential(1)}; ${common}`,
        });
      }
    }
    if (kind === 'audio')
      rows.push({
        bench: BENCH,
        metric: 'audio seconds per second',
        value: (AUDIO_SECONDS / m.ms) * 1000,
        unit: 'x real time',
        notes: common,
      });
    const gflops = m.flops / (m.ms * 1e6);
    rows.push({
      bench: BENCH,
      metric: `${kind} achieved GFLOP/s`,
      value: gflops,
      unit: 'GFLOP/s',
      reference: { name: 'onnxruntime MatMul', value: peak },
      ratio: gflops / peak,
      notes: `${(m.flops / 1e9).toFixed(2)} GFLOP per call (matrix products and convolutions); ${common}`,
    });
  }

  for (const kind of ['text', 'audio', 'visual'] as const) {
    for (const size of SHARD_SIZES) {
      const r = shardChild(kind, dir[kind], size, threads);
      if (typeof r === 'string') {
        rows.push({
          bench: BENCH,
          metric: `${kind} shard activity, ${size} utterances`,
          value: NaN,
          unit: 'utterances/s',
          notes: r,
        });
        continue;
      }
      const common = `${r.shards} shards of ${size} utterances in one process, ${r.sessions} session(s) created; ${threads} thread(s); ${note}`;
      const [first, second] = r.shardSeconds;
      rows.push({
        bench: BENCH,
        metric: `${kind} shard activity utterances/s (${size}/shard)`,
        value: r.utterancesPerShard / second,
        unit: 'utterances/s',
        notes: `second shard (session already loaded): store reads, inference, float16, Parquet write, commit; the first shard took ${first.toFixed(1)} s against ${second.toFixed(1)} s, the difference is mostly session creation; ${common}`,
      });
      rows.push({
        bench: BENCH,
        metric: `${kind} worker peak RSS (${size}/shard)`,
        value: r.maxRssMiB,
        unit: 'MiB',
        notes: `VmHWM of the worker process, model session included; after shard 1 / 2: ${r.peakAfterShardsMiB.map((m) => m.toFixed(0)).join(' / ')} MiB; ${common}`,
      });
    }
  }
  // one row pair per family folder MER_REAL_MODELS/<model_type>/ (issue 17; families.ts)
  const python: Parameters<typeof familyRows>[3] = (k, m, t, th, it) =>
    pythonReference(k, m, t, th, it, ['--skip-torch']);
  rows.push(...(await familyRows(process.env.MER_REAL_MODELS ?? '/tmp/mer-real-models', threads, peak, python)));
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
