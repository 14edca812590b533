import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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
  const hidden = new Set<string>();
  const held = new Map<string, { released: Promise<void>; release: () => void }>();
  const notFound: string[] = [];
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    const gate = held.get(path);
    if (gate) await gate.released;
    const body = hidden.has(path) ? undefined : data.get(path);
    if (!body) {
      notFound.push(req.url ?? '');
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
  };
  // A held request waits for its release; node's server does not await its handler.
  const server = createServer((req, res) => void serve(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const key = (f: string) => `/${basename(f)}`;
  return {
    requests,
    /** Request URLs answered 404 (unknown or hidden files), query strings included. */
    notFound,
    urlOf: (f: string) => `http://127.0.0.1:${port}/${basename(f)}`,
    bytesServed: () => requests.reduce((a, r) => a + r.bytesSent, 0),
    /** Bytes sent for one file (all its requests, ranges included). */
    bytesServedFor: (f: string) =>
      requests.filter((r) => r.path.split('?')[0] === key(f)).reduce((a, r) => a + r.bytesSent, 0),
    /** Answer 404 for this file until show(): a link that is broken and later fixed. */
    hide: (f: string) => void hidden.add(key(f)),
    show: (f: string) => void hidden.delete(key(f)),
    /** Requests for this file wait until release(): lets a test order events across downloads. */
    hold: (f: string) => {
      if (held.has(key(f))) return;
      let release = () => {};
      const released = new Promise<void>((r) => (release = r));
      held.set(key(f), { released, release });
    },
    release: (f: string) => {
      held.get(key(f))?.release();
      held.delete(key(f));
    },
    close: () =>
      new Promise<void>((r) => {
        for (const g of held.values()) g.release();
        held.clear();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
