import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename } from 'node:path';

/**
 * Serves files over HTTP on 127.0.0.1 with byte-range support, like the archive hosts do. The demo
 * uses it to fetch the synthetic MELD archive through the same resumable download path as the real one.
 */
export async function serveFiles(
  files: string[],
): Promise<{ urlOf(path: string): string; close(): Promise<void>; server: Server }> {
  const byName = new Map(files.map((f) => [`/${basename(f)}`, f]));
  const server = createServer((req, res) => {
    const path = byName.get((req.url ?? '').split('?')[0]);
    if (!path || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(path).size;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${end}/${size}`,
        'Content-Length': end - start + 1,
        'Accept-Ranges': 'bytes',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(path, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { 'Content-Length': size, 'Accept-Ranges': 'bytes' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    urlOf: (p) => `http://127.0.0.1:${port}/${basename(p)}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
