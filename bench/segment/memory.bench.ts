/**
 * Peak RSS of a worker process running one segment shard, for two shard sizes and three corpus
 * sizes: a shard holds its manifest rows and at most a few utterances' media at a time (frames stream
 * from ffmpeg, at most two utterances are being written), so its memory does not follow the corpus.
 * The plan step, which reads the whole manifest once per stage, is measured apart: that one grows with
 * the corpus. Each measurement is a fresh process (shard-child.ts); the baseline is the same process
 * with the modules loaded and no work done.
 *
 * MELD layout (a clip per utterance): the `tiny` synthetic corpus with its manifest replicated 2x,
 * 16x and 64x (~110, ~900 and ~3,600 utterances; every one is a row of its own).
 */
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';
import { acquireCorpus, replicate } from './corpus.ts';
import type { ShardChildResult } from './shard-child.ts';

const BENCH = 'segment/memory';
const child = fileURLToPath(new URL('./shard-child.ts', import.meta.url));

async function runChild(args: string[]): Promise<ShardChildResult> {
  const r = await exec(process.execPath, ['--import', 'tsx', child, ...args]);
  if (r.code !== 0)
    throw new Error(
      `shard-child ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ShardChildResult;
}

export default async function run(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'mer-bench-segmem-'));
  try {
    const base = await acquireCorpus(work, 'meld', 'tiny');
    const small = await replicate(base, 2);
    const medium = await replicate(base, 16);
    const large = await replicate(base, 64);
    const root = base.store.kind === 'local' ? base.store.root : '';
    const baseline = await runChild(['baseline']);
    const mib = (kib: number) => kib / 1024;
    const rows: BenchRow[] = [
      { bench: BENCH, metric: 'baseline (modules loaded, no work)', value: mib(baseline.peakRssKiB), unit: 'MiB' },
    ];
    for (const [shard, corpus, label] of [
      [64, small, 'small'],
      [64, medium, 'medium'],
      [64, large, 'large'],
      [128, medium, 'medium'],
    ] as const) {
      // Same corpus and parameters give the same stage key: start each measurement from nothing.
      rmSync(join(root, 'segments'), { recursive: true, force: true });
      const args = [root, corpus.acquired.manifestKey, 'meld', String(shard)];
      const planned = await runChild(['plan', ...args]);
      const r = await runChild(['shard', ...args, JSON.stringify(planned.plan)]);
      rows.push({
        bench: BENCH,
        metric: `peak RSS, shard of ${shard}, ${label} corpus (${planned.plan!.utterances} utterances)`,
        value: mib(r.peakRssKiB),
        unit: 'MiB',
        notes: `${r.rows} utterances cut in ${(r.ms / 1000).toFixed(1)} s; +${mib(r.peakRssKiB - baseline.peakRssKiB).toFixed(0)} MiB over the baseline`,
      });
      if (shard === 64) {
        rows.push({
          bench: BENCH,
          metric: `peak RSS, plan step, ${label} corpus (${planned.plan!.utterances} utterances)`,
          value: mib(planned.peakRssKiB),
          unit: 'MiB',
          notes: `reads and validates the whole manifest once per stage; ${(planned.ms / 1000).toFixed(1)} s`,
        });
      }
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
