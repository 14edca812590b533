/**
 * Segment stage throughput per dataset layout, run as it runs in production: the SegmentDataset
 * workflow on a real Temporal dev server with an in-process worker, media read from a local store,
 * outputs stored. Against it, the exact ffmpeg/ffprobe commands that run issued (recorded by wrapper
 * scripts that log argv and stdin), replayed from a plain serial bash loop that writes each command's
 * outputs to a file: the difference is the orchestration overhead (Temporal, heartbeats, reading the
 * pipes, deflate, content-hashed atomic store writes). Both sides go through the same wrappers, so
 * their cost cancels.
 *
 * IEMOCAP: the `tiny` synthetic corpus (10 dialogs, 50 turns) with its manifest replicated 4x (200
 * rows; each shard decodes the dialog videos its turns come from). MELD: the `tiny` corpus's clips
 * with the manifest replicated 2x (~110 rows; a clip per row, as in the real layout). Replication
 * keeps the synthesis cheap; every row is still cut and stored on its own. Shards of 64; the serial
 * runs keep one shard in flight, the parallel ones the default 4 (bounded by the shard count).
 * Stage and shell loop are measured back to back, so the machine's load hits both alike.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { clearToolCache, resolveTool } from '../../activities/common/ffmpeg.ts';
import { SegmentParamsSchema, TemporalSettingsSchema } from '../../schemas/config.ts';
import type { DatasetSegmentResult } from '../../schemas/config.ts';
import { startTemporal } from '../../test/helpers/temporal.ts';
import { createMerWorkers } from '../../workers/factory.ts';
import type { SegmentDatasetInput } from '../../workflows/segment.ts';
import { exec } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';
import { acquireCorpus, replicate, type BenchCorpus } from './corpus.ts';

const BENCH = 'segment/throughput';

/** ffmpeg/ffprobe wrappers that record each invocation (argv NUL-separated, stdin when piped) into `dir`. */
function recordingWrappers(
  dir: string,
  real: { ffmpeg: string; ffprobe: string },
): { ffmpeg: string; ffprobe: string } {
  mkdirSync(dir, { recursive: true });
  const make = (name: 'ffmpeg' | 'ffprobe') => {
    const path = join(dir, `rec-${name}`);
    writeFileSync(
      path,
      [
        '#!/bin/sh',
        `n="${dir}/$(date +%s%N)-${name}"`,
        `printf '%s\\0' "$@" > "$n.args"`,
        `case "$*" in *pipe:0*) cat > "$n.stdin"; exec '${real[name]}' "$@" < "$n.stdin";; *) exec '${real[name]}' "$@";; esac`,
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    return path;
  };
  return { ffmpeg: make('ffmpeg'), ffprobe: make('ffprobe') };
}

/**
 * A bash script running the recorded invocations in order, through `via`, each writing its outputs
 * (frames on stdout, audio on fd 3) to a file in `outDir`, as a shell pipeline would keep them.
 */
function replayScript(
  recorded: string,
  via: { ffmpeg: string; ffprobe: string },
  outDir: string,
): { script: string; commands: number } {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const files = readdirSync(recorded)
    .filter((f) => f.endsWith('.args'))
    .sort();
  // No `set -e`: the corpus's corrupt clip makes ffprobe fail, as it does in the stage.
  const lines = ['#!/bin/bash'];
  for (const f of files) {
    const base = f.slice(0, -'.args'.length);
    const tool = base.endsWith('-ffprobe') ? via.ffprobe : via.ffmpeg;
    const args = readFileSync(join(recorded, f), 'latin1').split('\0').slice(0, -1);
    const stdin = readdirSync(recorded).includes(`${base}.stdin`) ? ` < ${q(join(recorded, `${base}.stdin`))}` : '';
    const out = q(join(outDir, 'out'));
    lines.push(`${q(tool)} ${args.map(q).join(' ')}${stdin} >${out}.1 3>${out}.3 2>/dev/null || true`);
  }
  return { script: lines.join('\n') + '\n', commands: files.length };
}

async function runStage(
  env: TestWorkflowEnvironment,
  corpus: BenchCorpus,
  parallelism: number,
  id: string,
): Promise<{ ms: number; result: DatasetSegmentResult }> {
  const temporal = TemporalSettingsSchema.parse({ taskQueues: { cpu: 'bench-seg-cpu', gpu: 'bench-seg-gpu' } });
  const input: SegmentDatasetInput = {
    dataset: corpus.acquired.dataset,
    acquired: corpus.acquired,
    store: corpus.store,
    segment: SegmentParamsSchema.parse({ shardSize: 64, parallelism }),
    temporal,
    searchAttributes: false,
  };
  const t0 = performance.now();
  const result = (await env.client.workflow.execute('SegmentDataset', {
    taskQueue: temporal.taskQueues.cpu,
    workflowId: id,
    args: [input],
  })) as DatasetSegmentResult;
  return { ms: performance.now() - t0, result };
}

export default async function run(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'mer-bench-segthr-'));
  const saved = { FFMPEG_PATH: process.env.FFMPEG_PATH, FFPROBE_PATH: process.env.FFPROBE_PATH };
  let env: TestWorkflowEnvironment | undefined;
  try {
    const real = { ffmpeg: (await resolveTool('ffmpeg')).path, ffprobe: (await resolveTool('ffprobe')).path };
    const corpora = {
      iemocap: await replicate(await acquireCorpus(work, 'iemocap', 'tiny'), 4),
      meld: await replicate(await acquireCorpus(work, 'meld', 'tiny'), 2),
    };
    env = await startTemporal();
    const [worker] = await createMerWorkers({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueues: { cpu: 'bench-seg-cpu', gpu: 'bench-seg-gpu' },
      queues: ['cpu'],
      workflows: true,
    });
    const rows: BenchRow[] = [];
    await worker.runUntil(async () => {
      for (const [name, corpus] of Object.entries(corpora)) {
        const recorded = join(work, `rec-${name}`);
        const wrappers = recordingWrappers(recorded, real);
        Object.assign(process.env, { FFMPEG_PATH: wrappers.ffmpeg, FFPROBE_PATH: wrappers.ffprobe });
        clearToolCache();
        const serial = await runStage(env!, corpus, 1, `bench-${name}-serial`);
        const n = serial.result.utterances;
        if (serial.result.ok === 0) throw new Error(`${name}: nothing produced`);

        const { script, commands } = replayScript(
          recorded,
          recordingWrappers(join(work, `replay-${name}`), real),
          work,
        );
        writeFileSync(join(work, `replay-${name}.sh`), script);
        const shell = await exec('bash', [join(work, `replay-${name}.sh`)]);
        if (shell.code !== 0) throw new Error(`replay of ${name} exited ${shell.code}: ${shell.stderr.slice(-500)}`);

        rmSync(join(corpus.store.kind === 'local' ? corpus.store.root : '', 'segments'), {
          recursive: true,
          force: true,
        });
        const parallel = await runStage(env!, corpus, 4, `bench-${name}-parallel`);
        rmSync(join(corpus.store.kind === 'local' ? corpus.store.root : '', 'segments'), {
          recursive: true,
          force: true,
        });

        const stageRate = (n / serial.ms) * 1000;
        const shellRate = (n / shell.ms) * 1000;
        rows.push({
          bench: BENCH,
          metric: `${name}: utterances/s, stage on Temporal, 1 shard at a time`,
          value: stageRate,
          unit: 'utt/s',
          reference: { name: 'same ffmpeg commands, serial bash loop', value: shellRate },
          ratio: stageRate / shellRate,
          notes:
            `${n} utterances, ${serial.result.quarantined} quarantined, ${commands} ffmpeg/ffprobe runs; stage ${(serial.ms / 1000).toFixed(1)} s, loop ${(shell.ms / 1000).toFixed(1)} s; ` +
            'the stage also deflates 2.25 MB of frames and stores 3 objects per utterance',
        });
        rows.push({
          bench: BENCH,
          metric: `${name}: utterances/s, stage on Temporal, 4 shards in flight`,
          value: (n / parallel.ms) * 1000,
          unit: 'utt/s',
          notes: `shards of 64 on this machine's cores`,
        });
      }
    });
    return rows;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    clearToolCache();
    await env?.teardown();
    rmSync(work, { recursive: true, force: true });
  }
}
