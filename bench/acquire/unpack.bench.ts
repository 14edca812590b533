/**
 * Unpacking throughput of `unpackToStore` from a .tar.gz file into a LocalStore, against GNU
 * `tar -xzf` of the same archive into a folder on the same disk, in MB/s of uncompressed output, for
 * two archive sizes; and the unpacking's peak RSS at each size, measured in a child process
 * (unpack-child.ts) so the bench process's own memory does not count. The point of the RSS rows is
 * that memory stays flat as the archive grows (tar entries stream; only entries up to 8 MiB are
 * buffered, a bounded number at a time).
 *
 * The archive is corpus-like: many 100-500 KB files plus a few multi-MB ones, of bytes that gzip
 * shrinks to roughly 70% (recorded media compress little), built with `tar -czf` from a generated
 * folder. Everything lives in one temp folder that is removed at the end.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from '../types.ts';
import type { UnpackChildResult } from './unpack-child.ts';

const BENCH = 'acquire/unpack';
const MiB = 1024 * 1024;
const SESSION_BYTES = 64 * MiB;
/** The small archive is one session; the large one four (same kind of content, 4x the bytes). */
const SIZES = [
  { label: '64 MiB', sessions: 1 },
  { label: '256 MiB', sessions: 4 },
] as const;
const REPS = 3;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const childScript = fileURLToPath(new URL('./unpack-child.ts', import.meta.url));

export interface Proc {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Asynchronous on purpose: a blocking spawn would also freeze anything the parent serves (download.bench.ts). */
export function exec(cmd: string, args: string[], cwd = repoRoot): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function runChild(args: string[]): Promise<UnpackChildResult> {
  const r = await exec(process.execPath, ['--import', 'tsx', childScript, ...args]);
  if (r.code !== 0)
    throw new Error(
      `unpack-child ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as UnpackChildResult;
}

/**
 * 16 MiB of bytes that deflate to about 70%: each 4 KiB block is 2.75 KiB of keystream followed by
 * 1.25 KiB repeated from within the last 24 KiB (inside deflate's 32 KiB window).
 */
function semiCompressiblePool(): Buffer {
  const size = 16 * MiB;
  const c = createCipheriv('aes-256-ctr', createHash('sha256').update('mer-bench-extract').digest(), Buffer.alloc(16));
  const pool = Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
  const noise = 2816;
  for (let block = 0; block < size; block += 4096) {
    if (block < 24 * 1024) continue;
    const from = block - 24 * 1024 + (pool[block] % 20) * 1024;
    pool.copy(pool, block + noise, from, from + (4096 - noise));
  }
  return pool;
}

/** Deterministic sizes and offsets, so every run builds the same archives. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Writes Session<k>: a few multi-MB "dialog videos" and 100-500 KB "utterance" files, SESSION_BYTES in all. */
function writeSession(root: string, k: number, pool: Buffer, rand: () => number): { files: number; bytes: number } {
  const dir = join(root, 'Corpus', `Session${k}`);
  let files = 0;
  let bytes = 0;
  const put = (rel: string, size: number): void => {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    const off = Math.floor(rand() * (pool.length - size));
    // A per-file header so no two files are byte-identical.
    const head = Buffer.from(`${rel}\n`.padEnd(64, '#'));
    writeFileSync(path, Buffer.concat([head, pool.subarray(off, off + size - head.length)]));
    files++;
    bytes += size;
  };
  const big = [3, 5, 9].map((m) => Math.round((m + rand()) * MiB));
  big.forEach((size, i) => put(`dialog/avi/DivX/Ses0${k}_dialog${i}.avi`, size));
  let n = 0;
  while (bytes < SESSION_BYTES) {
    const size = Math.min(SESSION_BYTES - bytes, Math.round(100_000 + rand() * 400_000));
    if (size < 1024) break;
    const dialog = Math.floor(n / 40);
    put(
      `sentences/wav/Ses0${k}_dialog${dialog}/Ses0${k}_dialog${dialog}_F${String(n % 40).padStart(3, '0')}.wav`,
      size,
    );
    n++;
  }
  return { files, bytes };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export default async function run(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'mer-bench-unpack-'));
  try {
    const src = join(work, 'src');
    const pool = semiCompressiblePool();
    const rand = lcg(42);
    const sessions: Array<{ files: number; bytes: number }> = [];
    for (let k = 1; k <= Math.max(...SIZES.map((s) => s.sessions)); k++)
      sessions.push(writeSession(src, k, pool, rand));

    const baseline = await runChild(['--baseline']);
    const rows: BenchRow[] = [];
    const peaks: number[] = [];
    for (const size of SIZES) {
      const archive = join(work, `corpus-${size.sessions}.tar.gz`);
      const members = Array.from({ length: size.sessions }, (_, i) => `Corpus/Session${i + 1}`);
      const built = await exec('tar', ['-czf', archive, '-C', src, ...members]);
      if (built.code !== 0) throw new Error(`tar -czf failed: ${built.stderr.trim()}`);
      const expectFiles = sessions.slice(0, size.sessions).reduce((a, s) => a + s.files, 0);
      const expectBytes = sessions.slice(0, size.sessions).reduce((a, s) => a + s.bytes, 0);
      const archiveBytes = statSync(archive).size;

      const tarMs: number[] = [];
      const oursMs: number[] = [];
      let rss = 0;
      let sha = '';
      for (let rep = 0; rep < REPS; rep++) {
        // Alternated, so drift in machine load hits both sides alike.
        const tarDest = join(work, `tar-out-${rep}`);
        mkdirSync(tarDest);
        const t = await exec('tar', ['-xzf', archive, '-C', tarDest]);
        if (t.code !== 0) throw new Error(`tar -xzf failed: ${t.stderr.trim()}`);
        tarMs.push(t.ms);
        rmSync(tarDest, { recursive: true, force: true });

        const storeRoot = join(work, `store-${rep}`);
        const r = await runChild([archive, storeRoot]);
        rmSync(storeRoot, { recursive: true, force: true });
        if (r.files !== expectFiles || r.bytesOut !== expectBytes) {
          throw new Error(
            `unpackToStore wrote ${r.files} files / ${r.bytesOut} bytes; the archive holds ${expectFiles} / ${expectBytes}`,
          );
        }
        oursMs.push(r.ms);
        rss = Math.max(rss, r.peakRssKiB);
        sha = r.sha256;
      }
      peaks.push(rss);
      const mb = expectBytes / 1e6;
      const ours = mb / (median(oursMs) / 1000);
      const tar = mb / (median(tarMs) / 1000);
      rows.push({
        bench: BENCH,
        metric: `tar.gz ${size.label} unpack MB/s`,
        value: ours,
        unit: 'MB/s',
        reference: { name: 'tar -xzf', value: tar },
        ratio: ours / tar,
        notes:
          `${expectFiles} files, ${mb.toFixed(0)} MB out of a ${(archiveBytes / 1e6).toFixed(0)} MB archive (page-cached); median of ${REPS}, ` +
          `ours ${median(oursMs).toFixed(0)} ms vs tar ${median(tarMs).toFixed(0)} ms; ours also computes the archive sha256 (${sha.slice(0, 12)}…) ` +
          `and each file's sha256 in the same pass, tar hashes nothing and gunzips in a separate gzip process; ` +
          `our time is the unpackToStore call inside a child, tar's includes its process start; neither fsyncs`,
      });
    }
    for (let i = 0; i < SIZES.length; i++) {
      const mib = peaks[i] / 1024;
      const growth =
        i > 0
          ? `; ${((peaks[i] - peaks[0]) / 1024).toFixed(1)} MiB more than at ${SIZES[0].label} for ${SIZES[i].sessions / SIZES[0].sessions}x the data`
          : '';
      rows.push({
        bench: BENCH,
        metric: `peak RSS unpacking ${SIZES[i].label} tar.gz`,
        value: mib,
        unit: 'MiB',
        notes:
          `peak RSS (VmHWM; getrusage maxRSS would include the parent's RSS at fork) of a child process that ran only this unpacking (max over ${REPS} runs); the same child with modules loaded ` +
          `and nothing unpacked peaks at ${(baseline.peakRssKiB / 1024).toFixed(0)} MiB${growth}`,
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
