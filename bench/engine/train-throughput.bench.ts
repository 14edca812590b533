/**
 * Training throughput of the fusion model on this machine: samples per second of the fused ONNX
 * training step (forward, loss, backward, Adam) at batch 32 for the `compact` and `paper` presets,
 * with achieved matrix-product GFLOP/s, against the same model in PyTorch eager mode on CPU with
 * the same thread count (scripts/engine/torch_bench.py, run with the interpreter named by
 * MER_TORCH_PYTHON; without it the reference is reported missing).
 *
 * Feature sizes are the default encoders' (bert-base 768, wav2vec2-base 768, Swin-Tiny 768, 15
 * frames after VSC, 6 IEMOCAP classes). Threads: MER_BENCH_THREADS (default 1).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultLossConfig, defaultOptimizerConfig, presetModelConfig } from '../../activities/model/config.ts';
import type { Preset } from '../../activities/model/config.ts';
import { stepMasks } from '../../activities/model/feeds.ts';
import { Rng } from '../../activities/model/rng.ts';
import { TrainStepRunner } from '../../activities/model/runtime.ts';
import { initialWeights, parameterCount } from '../../activities/model/state.ts';
import type { BenchRow } from '../types.ts';

const BATCH = 32;
const DIMS = { text: 768, audio: 768, visual: 768, frames: 15 };
const CLASSES = 6;
const STEPS: Record<Preset, { warmup: number; timed: number }> = {
  compact: { warmup: 3, timed: 20 },
  paper: { warmup: 2, timed: 6 },
};
const BENCH = 'engine/train-throughput';

interface Measured {
  samplesPerSecond: number;
  gflops: number;
  stepMs: number;
  params: number;
}

async function measureEngine(preset: Preset, threads: number): Promise<Measured> {
  const model = presetModelConfig(preset, DIMS, CLASSES);
  const runner = await TrainStepRunner.create(model, defaultLossConfig(), defaultOptimizerConfig(), { threads });
  try {
    runner.load(initialWeights(runner.layout, 1));
    const rng = new Rng(7, 1);
    const normal = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
    const batch = {
      n: BATCH,
      t: normal(BATCH * DIMS.text),
      a: normal(BATCH * DIMS.audio),
      v: normal(BATCH * DIMS.frames * DIMS.visual),
      vLen: BigInt64Array.from({ length: BATCH }, () => BigInt(DIMS.frames)),
      labels: BigInt64Array.from({ length: BATCH }, (_, i) => BigInt(i % CLASSES)),
    };
    const { warmup, timed } = STEPS[preset];
    let step = 0;
    // masks are drawn inside the timed loop: they are part of every real training step
    const once = async (): Promise<void> => {
      step++;
      await runner.step(batch, stepMasks(runner.layout.masks, BATCH, 1, step), step);
    };
    for (let i = 0; i < warmup; i++) await once();
    const start = performance.now();
    for (let i = 0; i < timed; i++) await once();
    const stepMs = (performance.now() - start) / timed;
    return {
      stepMs,
      samplesPerSecond: (BATCH / stepMs) * 1000,
      gflops: runner.flopsPerStep(BATCH) / (stepMs * 1e6),
      params: parameterCount(runner.layout),
    };
  } finally {
    await runner.release();
  }
}

interface TorchResult {
  samples_per_s: number;
  step_ms: number;
  torch: string;
}

function measureTorch(preset: Preset, threads: number): TorchResult | string {
  const python = process.env.MER_TORCH_PYTHON;
  if (!python)
    return 'set MER_TORCH_PYTHON to a python with torch (see scripts/engine/README.md) to measure the PyTorch reference';
  if (!existsSync(python)) return `MER_TORCH_PYTHON=${python} does not exist`;
  const script = fileURLToPath(new URL('../../scripts/engine/torch_bench.py', import.meta.url));
  const { warmup, timed } = STEPS[preset];
  const run = spawnSync(
    python,
    [
      script,
      '--preset',
      preset,
      '--threads',
      String(threads),
      '--batch',
      String(BATCH),
      '--steps',
      String(timed),
      '--warmup',
      String(warmup),
      '--dims',
      `${DIMS.text},${DIMS.audio},${DIMS.visual},${DIMS.frames},${CLASSES}`,
    ],
    { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OMP_NUM_THREADS: String(threads) } },
  );
  if (run.status !== 0)
    return `PyTorch reference failed: ${(run.stderr || run.error?.message || '').trim().split('\n').slice(-1)[0]}`;
  try {
    return JSON.parse(run.stdout.trim().split('\n').pop()!) as TorchResult;
  } catch {
    return `PyTorch reference printed no result: ${run.stdout.slice(-200)}`;
  }
}

export default async function run(): Promise<BenchRow[]> {
  const threads = Number(process.env.MER_BENCH_THREADS ?? 1);
  const rows: BenchRow[] = [];
  for (const preset of ['compact', 'paper'] as const) {
    const ours = await measureEngine(preset, threads);
    const torch = measureTorch(preset, threads);
    const common = `batch ${BATCH}, ${threads} thread(s), ${(ours.params / 1e6).toFixed(1)}M parameters, float32, CPU`;
    const throughput: BenchRow = {
      bench: BENCH,
      metric: `${preset} training samples/s`,
      value: ours.samplesPerSecond,
      unit: 'samples/s',
      notes: `${common}; step ${ours.stepMs.toFixed(1)} ms incl. dropout-mask generation`,
    };
    if (typeof torch === 'string') {
      throughput.notes += `; reference missing: ${torch}`;
    } else {
      throughput.reference = { name: `PyTorch ${torch.torch} eager CPU`, value: torch.samples_per_s };
      throughput.ratio = ours.samplesPerSecond / torch.samples_per_s;
    }
    rows.push(throughput);
    rows.push({
      bench: BENCH,
      metric: `${preset} training step GFLOP/s`,
      value: ours.gflops,
      unit: 'GFLOP/s',
      notes: `matrix-product FLOPs of forward + backward per step (${((ours.gflops * ours.stepMs) / 1000).toFixed(2)} GFLOP) over the step time; ${common}`,
    });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
