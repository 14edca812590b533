/**
 * Download throughput of `downloadToStore` from an HTTP server on 127.0.0.1 (Range support, ETag,
 * served from a file by this process) into a LocalStore with 8 MiB parts, for two file sizes, against
 * `curl -o` of the same URL; and the downloader's peak RSS at each size, measured in a child process
 * (download-child.ts) so the server's memory does not count. The point of the RSS rows is that
 * memory stays flat as the file grows: at most two parts (one filling, one being stored) are held,
 * on top of a fixed allowance for received buffers that the GC has not reclaimed yet.
 *
 * Loopback has no latency or loss, so this is the pipeline's own ceiling, not a network figure. The
 * generated file and every store are removed at the end.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from '../types.ts';
import type { DownloadChildResult } from './download-child.ts';
import { exec, median } from './unpack.bench.ts';

const BENCH = 'acquire/download';
const MiB = 1024 * 1024;
const PART_BYTES = 8 * MiB;
const SIZES = [
  { label: '64 MiB', bytes: 64 * MiB },
  { label: '256 MiB', bytes: 256 * MiB },
] as const;
const REPS = 3;

const childScript = fileURLToPath(new URL('./download-child.ts', import.meta.url));

async function runChild(args: string[]): Promise<DownloadChildResult> {
  const r = await exec(process.execPath, ['--import', 'tsx', childScript, ...args]);
  if (r.code !== 0)
    throw new Error(
      `download-child ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as DownloadChildResult;
}

/** Incompressible bytes, written in slices so the bench process never holds the whole file. */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const c = createCipheriv('aes-256-ctr', createHash('sha256').update('mer-bench-download').digest(), Buffer.alloc(16));
  const out = createWriteStream(path);
  const zeros = Buffer.alloc(8 * MiB);
  for (let done = 0; done < bytes; done += zeros.length) {
    if (!out.write(c.update(zeros.subarray(0, Math.min(zeros.length, bytes - done))))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/**
 * `/<n>.bin` serves the first n bytes of the source file, honouring `Range: bytes=N-` (all the
 * downloader sends) with 206 and a Content-Range, like a static file host.
 */
async function startServer(source: string) {
  const server = createServer((req, res) => {
    const m = /^\/(\d+)\.bin$/.exec(req.url ?? '');
    const size = m ? Number(m[1]) : NaN;
    if (!m || size > statSync(source).size) {
      res.writeHead(404).end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= size) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    const headers = {
      'Content-Length': size - start,
      'Accept-Ranges': 'bytes',
      ETag: `"bench-${size}"`,
      'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
    };
    if (range) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${size - 1}/${size}` });
    else res.writeHead(200, headers);
    createReadStream(source, { start, end: size - 1, highWaterMark: MiB }).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    urlOf: (bytes: number) => `http://127.0.0.1:${port}/${bytes}.bin`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export default async function run(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'mer-bench-download-'));
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    const source = join(work, 'source.bin');
    await writeRandomFile(source, Math.max(...SIZES.map((s) => s.bytes)));
    server = await startServer(source);
    const baseline = await runChild(['--baseline']);
    const curlCheck = await exec('curl', ['--version']).catch(() => null);
    const haveCurl = curlCheck !== null && curlCheck.code === 0;

    const rows: BenchRow[] = [];
    const peaks: number[] = [];
    for (const size of SIZES) {
      const url = server.urlOf(size.bytes);
      const oursMs: number[] = [];
      const curlMs: number[] = [];
      let rss = 0;
      for (let rep = 0; rep < REPS; rep++) {
        const storeRoot = join(work, `store-${rep}`);
        const r = await runChild([url, storeRoot, String(PART_BYTES)]);
        rmSync(storeRoot, { recursive: true, force: true });
        if (r.totalBytes !== size.bytes || r.parts !== Math.ceil(size.bytes / PART_BYTES)) {
          throw new Error(
            `downloadToStore stored ${r.totalBytes} bytes in ${r.parts} parts; expected ${size.bytes} bytes`,
          );
        }
        oursMs.push(r.ms);
        rss = Math.max(rss, r.peakRssKiB);
        if (haveCurl) {
          const out = join(work, `curl-${rep}.bin`);
          const c = await exec('curl', ['-s', '-f', '-o', out, url]);
          if (c.code !== 0) throw new Error(`curl failed (${c.code}): ${c.stderr.trim()}`);
          curlMs.push(c.ms);
          rmSync(out, { force: true });
        }
      }
      peaks.push(rss);
      const mb = size.bytes / 1e6;
      const ours = mb / (median(oursMs) / 1000);
      const row: BenchRow = {
        bench: BENCH,
        metric: `download ${size.label} MB/s`,
        value: ours,
        unit: 'MB/s',
        notes:
          `127.0.0.1, ${PART_BYTES / MiB} MiB parts into a LocalStore (each part hashed and renamed into place); median of ${REPS}, ` +
          `${median(oursMs).toFixed(0)} ms for the downloadToStore call in a child; the server (this process) shares the 2 cores`,
      };
      if (haveCurl) {
        const curl = mb / (median(curlMs) / 1000);
        row.reference = { name: 'curl -o (one file)', value: curl };
        row.ratio = ours / curl;
        row.notes += `; curl ${median(curlMs).toFixed(0)} ms incl. its process start`;
      } else {
        row.notes += '; reference missing: curl not found';
      }
      rows.push(row);
    }
    for (let i = 0; i < SIZES.length; i++) {
      const growth =
        i > 0
          ? `; ${((peaks[i] - peaks[0]) / 1024).toFixed(1)} MiB more than at ${SIZES[0].label} for ${SIZES[i].bytes / SIZES[0].bytes}x the data`
          : '';
      rows.push({
        bench: BENCH,
        metric: `peak RSS downloading ${SIZES[i].label}`,
        value: peaks[i] / 1024,
        unit: 'MiB',
        notes:
          `peak RSS (VmHWM; getrusage maxRSS would include the parent's RSS at fork) of a child process that ran only this download (max over ${REPS} runs); the same child with modules loaded and ` +
          `nothing downloaded peaks at ${(baseline.peakRssKiB / 1024).toFixed(0)} MiB; of that, ~2 parts (${(2 * PART_BYTES) / MiB} MiB) is held data by design and the rest socket and stream buffers awaiting GC, which does not grow with the file${growth}`,
      });
    }
    return rows;
  } finally {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
