/**
 * Loading a stored training split and training one epoch, in a fresh process, for epoch.bench.ts:
 * the peak RSS of a process that did nothing else is what a training worker needs.
 *
 *   node --import tsx bench/train/epoch-child.ts epoch <storeRoot> <layout> <compact|paper> <threads> <steps>
 *   node --import tsx bench/train/epoch-child.ts baseline
 *
 * `epoch` reads the layout written by corpus.ts, loads the partition with `loadFeatureSets` and runs
 * `train()` for one epoch (MELD flavour, batch 32, no validation). `steps`: `0` runs the whole epoch;
 * `N` stops training after N optimiser steps (through the trainer's abort signal) and extrapolates
 * the epoch time from the mean of steps 2..N; `auto:<budgetS>:<N>` times the first steps and runs
 * the whole epoch when it is projected to take at most budgetS seconds, else stops after N steps.
 * Prints one JSON line.
 */
import { peakRssKiB } from '../peak-rss.ts';
import {
  defaultLossConfig,
  defaultOptimizerConfig,
  presetModelConfig,
  type Preset,
} from '../../activities/model/config.ts';
import { batchesPerEpoch, train } from '../../activities/model/trainer.ts';
import type { EpochRecord } from '../../activities/model/checkpoint.ts';
import { createStore } from '../../activities/store/index.ts';
import { loadFeatureSets } from '../../activities/train/dataset.ts';
import { BATCH, CLASSES, DIMS, layoutKey, type Layout } from './corpus.ts';

export interface EpochChildResult {
  /** VmHWM, KiB: at the end, and right after loading (before the model exists). */
  peakRssKiB: number;
  peakAfterLoadKiB: number;
  loadMs: number;
  shardsRead: number;
  /** Bytes of the loaded feature arrays (t, a, v, vLengths, labels). */
  featureBytes: number;
  n: number;
  /** Samples an epoch trains on (a trailing batch of one is skipped). */
  samplesPerEpoch: number;
  batches: number;
  /** Optimiser steps taken; equals `batches` for a whole epoch. */
  steps: number;
  full: boolean;
  /** Whole epoch: the trainer's own epoch time (sum of its step times: batch gather, masks, step).
   * Capped run: mean step time after the first, times `batches`. */
  epochSeconds: number;
  /** Mean time of steps 2.. (the first includes onnxruntime's warm-up). */
  stepMs: number;
  /** From the train() call to its first step's end: graph build, session creation, first step. */
  setupMs: number;
  loss: number;
}

class StepCap extends Error {}

/** `auto` decides after this many steps (the first, with onnxruntime's warm-up, is left out). */
const PROBE_STEPS = 6;

const [mode, storeRoot, layoutName, preset, threadsArg, stepsArg] = process.argv.slice(2);
if (mode === 'baseline') {
  console.log(JSON.stringify({ peakRssKiB: peakRssKiB() }));
} else if (mode === 'epoch') {
  const store = createStore({ kind: 'local', root: storeRoot });
  const layout = JSON.parse((await store.get(layoutKey(layoutName))).toString('utf8')) as Layout;
  const t0 = performance.now();
  const loaded = await loadFeatureSets(store, layout.sources, { train: layout.partition });
  const loadMs = performance.now() - t0;
  const peakAfterLoadKiB = peakRssKiB();
  const set = loaded.sets.train;
  const featureBytes = [set.t, set.a, set.v, set.vLengths, set.labels].reduce((s, x) => s + (x?.byteLength ?? 0), 0);

  const model = presetModelConfig(preset as Preset, { ...DIMS }, CLASSES, { dataset: 'meld' });
  const [stepsMode, budgetArg, capArg] = String(stepsArg ?? '0').split(':');
  const auto = stepsMode === 'auto';
  let maxSteps = auto ? 0 : Number(stepsMode);
  if (
    !Number.isInteger(maxSteps) ||
    maxSteps < 0 ||
    (auto && !(Number(budgetArg) > 0 && Number(capArg) >= PROBE_STEPS))
  )
    throw new Error(`epoch-child: bad steps ${stepsArg}`);
  const threads = Number(threadsArg);
  const batches = batchesPerEpoch(set.n, BATCH);
  const stops = new AbortController();
  const stepEnds: number[] = [];
  let record: EpochRecord | null = null;
  let lastLoss = NaN;
  const started = performance.now();
  try {
    await train(
      { train: set },
      {
        model,
        loss: defaultLossConfig(),
        optimizer: defaultOptimizerConfig('meld'),
        batchSize: BATCH,
        maxEpochs: 1,
        patience: 1,
        seed: 1,
        checkpointEverySteps: 0,
      },
      {
        runtime: { threads },
        signal: stops.signal,
        onStep: (info) => {
          stepEnds.push(performance.now());
          lastLoss = info.loss;
          if (auto && info.step === PROBE_STEPS) {
            const projectedS = (((stepEnds[PROBE_STEPS - 1] - stepEnds[0]) / (PROBE_STEPS - 1)) * batches) / 1000;
            if (projectedS > Number(budgetArg)) maxSteps = Number(capArg);
          }
          if (maxSteps > 0 && info.step >= maxSteps) stops.abort(new StepCap(`stopped after ${info.step} steps`));
        },
        onEpoch: (r) => {
          record = r;
        },
      },
    );
  } catch (err) {
    if (!(err instanceof StepCap)) throw err;
  }
  const gaps = stepEnds.slice(1).map((t, i) => t - stepEnds[i]);
  const stepMs = gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length);
  const done = record as EpochRecord | null;
  const out: EpochChildResult = {
    peakRssKiB: peakRssKiB(),
    peakAfterLoadKiB,
    loadMs,
    shardsRead: loaded.shardsRead,
    featureBytes,
    n: set.n,
    samplesPerEpoch: set.n % BATCH === 1 ? set.n - 1 : set.n,
    batches,
    steps: stepEnds.length,
    full: done !== null,
    epochSeconds: done ? done.seconds : (stepMs * batches) / 1000,
    stepMs,
    setupMs: (stepEnds[0] ?? performance.now()) - started,
    loss: done ? done.loss : lastLoss,
  };
  console.log(JSON.stringify(out));
} else {
  throw new Error(`epoch-child: unknown mode ${String(mode)}`);
}
