import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename } from 'node:path';

export interface ServedRequest {
  path: string;
  rangeStart: number;
  bytesSent: number;
}

/**
 * A static archive host on 127.0.0.1 with Range support that counts every byte it sends, optionally
 * throttled so a test can act (kill a worker) in the middle of a download.
 */
export async function startArchiveServer(files: string[], opts: { bytesPerSecond?: number } = {}) {
  const data = new Map(files.map((f) => [`/${basename(f)}`, readFileSync(f)]));
  const requests: ServedRequest[] = [];
  const server = createServer((req, res) => {
    const body = data.get((req.url ?? '').split('?')[0]);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const rec: ServedRequest = { path: req.url ?? '', rangeStart: start, bytesSent: 0 };
    requests.push(rec);
    const headers = { 'Content-Length': body.length - start, 'Accept-Ranges': 'bytes', ETag: '"synthetic"' };
    if (m) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` });
    else res.writeHead(200, headers);
    const slice = 64 * 1024;
    let pos = start;
    const delay = opts.bytesPerSecond ? (slice / opts.bytesPerSecond) * 1000 : 0;
    const pump = (): void => {
      if (res.destroyed) return;
      if (pos >= body.length) {
        res.end();
        return;
      }
      const chunk = body.subarray(pos, Math.min(pos + slice, body.length));
      pos += chunk.length;
      rec.bytesSent += chunk.length;
      const ok = res.write(chunk);
      if (delay) setTimeout(pump, delay);
      else if (ok) setImmediate(pump);
      else res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    requests,
    urlOf: (f: string) => `http://127.0.0.1:${port}/${basename(f)}`,
    bytesServed: () => requests.reduce((a, r) => a + r.bytesSent, 0),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
