/**
 * One training epoch of the fusion model on a corpus the size of MELD's training split (9,989
 * utterances, synthetic features at the real encoders' sizes: text 768, audio 768, visual 15 x 768,
 * 7 classes), for the `compact` and `paper` presets (MELD flavour, batch 32, no validation): seconds
 * per epoch and samples/s, features loaded from stored shards with `loadFeatureSets` and trained with
 * `train()`; and the peak RSS of that load + epoch with the same utterances in few shards (20 of ~500)
 * and in many (80 of ~125). Shards are read one row group at a time into arrays sized for the split,
 * so the peak must not follow the number of shards: the many/few ratio should stay within ~10%.
 *
 * Each run is a fresh process (epoch-child.ts); the baseline is the same process with the modules
 * loaded and no work done. The few-shard run gives the epoch time. When its first steps project an
 * epoch longer than MER_BENCH_TRAIN_EPOCH_BUDGET_S (default 180 s: each preset is run twice, and the
 * file should stay within ~10 minutes), it stops after MER_BENCH_TRAIN_CAP_STEPS (default 40) steps
 * and the epoch time is extrapolated from them, which the row's unit and notes say; the many-shard
 * run then takes the same number of steps, so the two peaks compare like with like.
 *
 * MER_BENCH_TRAIN_UTTERANCES (default 9989) shrinks the corpus for quick runs; MER_BENCH_THREADS
 * (default 1, as engine/train-throughput) sets onnxruntime's intra-op threads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Preset } from '../../activities/model/config.ts';
import { createStore } from '../../activities/store/index.ts';
import { exec } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';
import { BATCH, MELD_TRAIN_UTTERANCES, writeCorpus } from './corpus.ts';
import type { EpochChildResult } from './epoch-child.ts';

const BENCH = 'train/epoch';
const LAYOUTS = [
  { name: 'few', shards: 20 },
  { name: 'many', shards: 80 },
] as const;
/** Many/few peak RSS ratio still called flat. */
const FLAT = 0.1;
const child = fileURLToPath(new URL('./epoch-child.ts', import.meta.url));

async function runChild(args: string[]): Promise<EpochChildResult> {
  const r = await exec(process.execPath, ['--import', 'tsx', child, ...args]);
  if (r.code !== 0)
    throw new Error(
      `epoch-child ${args.slice(0, 5).join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as EpochChildResult;
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!(v > 0)) throw new Error(`${name} must be a positive number, got ${raw}`);
  return v;
}

export default async function run(): Promise<BenchRow[]> {
  const n = Math.floor(envNumber('MER_BENCH_TRAIN_UTTERANCES', MELD_TRAIN_UTTERANCES));
  const threads = Math.floor(envNumber('MER_BENCH_THREADS', 1));
  const budgetS = envNumber('MER_BENCH_TRAIN_EPOCH_BUDGET_S', 180);
  const capSteps = Math.max(8, Math.floor(envNumber('MER_BENCH_TRAIN_CAP_STEPS', 40)));
  const work = mkdtempSync(join(tmpdir(), 'mer-bench-train-'));
  try {
    const t0 = performance.now();
    await writeCorpus(createStore({ kind: 'local', root: work }), n, LAYOUTS);
    const writeS = (performance.now() - t0) / 1000;
    const mib = (kib: number) => kib / 1024;
    const baseline = await runChild(['baseline']);
    const size =
      n === MELD_TRAIN_UTTERANCES
        ? 'MELD train size'
        : `MER_BENCH_TRAIN_UTTERANCES; MELD train is ${MELD_TRAIN_UTTERANCES.toLocaleString('en-US')}`;
    const corpus = `${n.toLocaleString('en-US')} synthetic utterances (${size}), text/audio 768, visual 15 x 768, 7 classes`;
    const rows: BenchRow[] = [
      {
        bench: BENCH,
        metric: 'baseline (modules loaded, no work)',
        value: mib(baseline.peakRssKiB),
        unit: 'MiB',
        notes: `store of ${corpus}, in ${LAYOUTS.map((l) => `${l.shards}`).join(' and ')} shards, written in ${writeS.toFixed(0)} s`,
      },
    ];
    for (const preset of ['compact', 'paper'] as const satisfies readonly Preset[]) {
      process.stderr.write(`  ${preset}: ${LAYOUTS[0].shards} shards ...\n`);
      const few = await runChild([
        'epoch',
        work,
        LAYOUTS[0].name,
        preset,
        String(threads),
        `auto:${budgetS}:${capSteps}`,
      ]);
      process.stderr.write(
        `  ${preset}: ${LAYOUTS[1].shards} shards (${few.full ? 'whole epoch' : `${few.steps} steps`}) ...\n`,
      );
      const many = await runChild([
        'epoch',
        work,
        LAYOUTS[1].name,
        preset,
        String(threads),
        few.full ? '0' : String(few.steps),
      ]);
      const common = `batch ${BATCH}, ${threads} thread(s), float32 CPU, MELD flavour, no validation; ${corpus}`;
      const how = few.full
        ? `whole epoch of ${few.batches} steps (the trainer's epoch time: batch gather, dropout masks, fused step)`
        : `EXTRAPOLATED: the first steps projected more than ${budgetS} s, so ${few.steps} of ${few.batches} steps were run; epoch = mean of steps 2..${few.steps} (${few.stepMs.toFixed(0)} ms) x ${few.batches}`;
      const setup = `; not counted: ${(few.loadMs / 1000).toFixed(1)} s load from ${few.shardsRead} shard files, ${(few.setupMs / 1000).toFixed(1)} s graph build + session + first step`;
      rows.push({
        bench: BENCH,
        metric: `${preset} epoch time`,
        value: few.epochSeconds,
        unit: few.full ? 's/epoch' : 's/epoch (extrapolated)',
        notes: `${how}${setup}; ${common}`,
      });
      rows.push({
        bench: BENCH,
        metric: `${preset} training samples/s`,
        value: few.samplesPerEpoch / few.epochSeconds,
        unit: few.full ? 'samples/s' : 'samples/s (extrapolated)',
        notes: `${few.samplesPerEpoch} samples per epoch over the epoch time above`,
      });
      const span = few.full ? 'load + whole epoch' : `load + ${few.steps} steps`;
      const rss = (r: EpochChildResult, shards: number): string =>
        `${span}, ${r.shardsRead} shard files (${shards} per modality) read in ${(r.loadMs / 1000).toFixed(1)} s; ${mib(r.peakAfterLoadKiB).toFixed(0)} MiB after the load; +${mib(r.peakRssKiB - baseline.peakRssKiB).toFixed(0)} MiB over the baseline, of which ${(r.featureBytes / 2 ** 20).toFixed(0)} MiB are the loaded feature arrays`;
      rows.push({
        bench: BENCH,
        metric: `${preset} peak RSS, ${LAYOUTS[0].shards} shards`,
        value: mib(few.peakRssKiB),
        unit: 'MiB',
        notes: rss(few, LAYOUTS[0].shards),
      });
      const ratio = many.peakRssKiB / few.peakRssKiB;
      const flat = Math.abs(ratio - 1) <= FLAT;
      rows.push({
        bench: BENCH,
        metric: `${preset} peak RSS, ${LAYOUTS[1].shards} shards`,
        value: mib(many.peakRssKiB),
        unit: 'MiB',
        reference: { name: `${LAYOUTS[0].shards} shards`, value: mib(few.peakRssKiB) },
        ratio,
        notes: `${flat ? `flat: within ${FLAT * 100}% of` : `NOT flat: more than ${FLAT * 100}% away from`} the ${LAYOUTS[0].shards}-shard peak; ${rss(many, LAYOUTS[1].shards)}`,
      });
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
