import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadToStore } from '../../activities/acquire/downloader/resumable-download.ts';
import { partsReadable } from '../../activities/acquire/downloader/parts.ts';
import { downloadPartKey } from '../../schemas/layout.ts';
import { redactUrlForLog } from '../../activities/common/redact.ts';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { LocalStore } from '../../activities/store/local.ts';

const MiB = 1024 * 1024;
const CHUNK = 1 * MiB;

/** Deterministic pseudo-random bytes (AES-CTR keystream), so failures reproduce. */
function randomFile(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Behaviour {
  body: Buffer;
  etag: string;
  lastModified: string;
  /** Each response is cut (connection closed) after this many body bytes. */
  dropAfter?: number;
  /** Only the first N responses are cut. */
  dropResponses?: number;
  ignoreRange?: boolean;
  /** Answer the first N requests with 503. */
  failFirst?: number;
  /** The first response sends this many bytes, then goes silent with the connection open. */
  stallAfter?: number;
}

interface Served {
  path: string;
  range?: string;
  status: number;
}

class TestServer {
  server: Server;
  behaviour: Behaviour;
  bytesSent = 0;
  requests: Served[] = [];
  responsesCut = 0;
  stalled = 0;
  base = '';

  constructor(behaviour: Behaviour) {
    this.behaviour = behaviour;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => res.destroy());
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(behaviour?: Partial<Behaviour>): void {
    this.behaviour = { ...this.behaviour, ...behaviour };
    this.bytesSent = 0;
    this.requests = [];
    this.responsesCut = 0;
    this.stalled = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private record(req: IncomingMessage, status: number): void {
    this.requests.push({ path: new URL(req.url ?? '/', 'http://x').pathname, range: req.headers.range, status });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const b = this.behaviour;
    switch (url.pathname) {
      case '/missing':
        this.record(req, 404);
        res.writeHead(404).end('no such file');
        return;
      case '/forbidden':
        this.record(req, 403);
        res.writeHead(403).end('expired');
        return;
      case '/redirect':
        this.record(req, 302);
        res.writeHead(302, { location: `/hop${url.search}` }).end();
        return;
      case '/hop':
        this.record(req, 307);
        res.writeHead(307, { location: `${this.base}/file.bin${url.search}` }).end();
        return;
      case '/dead':
        this.record(req, 0);
        res.socket?.destroy();
        return;
      case '/file.bin':
        break;
      default:
        this.record(req, 404);
        res.writeHead(404).end();
        return;
    }
    if (b.failFirst && this.requests.length < b.failFirst) {
      this.record(req, 503);
      res.writeHead(503, { 'retry-after': '0' }).end('busy');
      return;
    }
    const size = b.body.length;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const headers: Record<string, string | number> = {
      etag: b.etag,
      'last-modified': b.lastModified,
      'content-type': 'application/octet-stream',
    };
    let start = 0;
    if (m && !b.ignoreRange) {
      start = Number(m[1]);
      if (start >= size) {
        this.record(req, 416);
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      this.record(req, 206);
      res.writeHead(206, {
        ...headers,
        'accept-ranges': 'bytes',
        'content-range': `bytes ${start}-${size - 1}/${size}`,
        'content-length': size - start,
      });
    } else {
      this.record(req, 200);
      res.writeHead(200, {
        ...headers,
        ...(b.ignoreRange ? {} : { 'accept-ranges': 'bytes' }),
        'content-length': size,
      });
    }
    if (b.stallAfter !== undefined && this.stalled++ === 0) {
      this.bytesSent += b.stallAfter;
      res.write(b.body.subarray(start, start + b.stallAfter));
      return;
    }
    const cut = b.dropAfter !== undefined && (b.dropResponses === undefined || this.responsesCut < b.dropResponses);
    const limit = cut ? Math.min(size - start, b.dropAfter as number) : size - start;
    const willCut = limit < size - start;
    if (willCut) this.responsesCut++;
    let sent = 0;
    while (sent < limit) {
      if (res.destroyed) return;
      const piece = b.body.subarray(start + sent, start + Math.min(limit, sent + 64 * 1024));
      sent += piece.length;
      this.bytesSent += piece.length;
      if (!res.write(piece)) await drainOrClose(res);
    }
    // Half-close after the bytes already written: the client sees a body shorter than its
    // Content-Length, exactly as when a long transfer loses its connection.
    if (willCut) res.socket?.end();
    else res.end();
  }
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function readAll(store: LocalStore, parts: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of partsReadable(store, parts)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('downloadToStore', () => {
  const file = randomFile(6 * MiB + 12_345, 'download-test');
  const srv = new TestServer({ body: file, etag: '"v1"', lastModified: 'Tue, 01 Oct 2024 10:00:00 GMT' });
  let dir: string;
  let store: LocalStore;
  const fast = { backoff: { initialMs: 5, maxMs: 20 } };

  before(async () => {
    await srv.start();
    dir = await mkdtemp(join(tmpdir(), 'mer-download-'));
    store = new LocalStore(join(dir, 'store'));
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('reconnects from the exact next byte when the connection drops mid-file', async () => {
    srv.reset({ dropAfter: 2_500_000, dropResponses: undefined, ignoreRange: false, failFirst: 0 });
    const seen: number[] = [];
    const r = await downloadToStore({
      store,
      url: `${srv.base}/file.bin?token=abc`,
      partsPrefix: 'dl/drops',
      chunkBytes: CHUNK,
      onProgress: (p) => seen.push(p.partsDone),
      ...fast,
    });
    assert.equal(r.totalBytes, file.length);
    assert.equal(r.reconnects, 2);
    assert.equal(r.restarted, false);
    assert.equal(r.bytesFetched, file.length);
    // Not one byte served twice: every resume started at the first missing byte.
    assert.equal(srv.bytesSent, file.length);
    assert.deepEqual(
      srv.requests.map((q) => q.range),
      [undefined, 'bytes=2500000-', 'bytes=5000000-'],
    );
    assert.equal(r.parts.length, 7);
    assert.deepEqual(
      r.parts,
      Array.from({ length: 7 }, (_, i) => downloadPartKey('dl/drops', i + 1)),
    );
    for (const [i, key] of r.parts.entries()) {
      const info = await store.head(key);
      assert.equal(info?.size, i < 6 ? CHUNK : 12_345, key);
    }
    assert.equal(sha(await readAll(store, r.parts)), sha(file));
    assert.ok(seen.includes(7));
  });

  test('a second call resumes from the parts a cancelled call stored, fetching only the rest', async () => {
    srv.reset({ dropAfter: undefined, ignoreRange: false, failFirst: 0 });
    const ac = new AbortController();
    await assert.rejects(
      downloadToStore({
        store,
        url: `${srv.base}/file.bin`,
        partsPrefix: 'dl/resume',
        chunkBytes: CHUNK,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.partsDone === 2) ac.abort();
        },
        ...fast,
      }),
      (err: Error) => err.name === 'AbortError',
    );
    srv.reset();
    const r = await downloadToStore({
      store,
      url: `${srv.base}/file.bin`,
      partsPrefix: 'dl/resume',
      chunkBytes: CHUNK,
      resume: { partsDone: 2 },
      ...fast,
    });
    assert.equal(r.resumedParts, 2);
    assert.equal(r.restarted, false);
    assert.equal(srv.requests[0].range, `bytes=${2 * CHUNK}-`);
    assert.equal(srv.bytesSent, file.length - 2 * CHUNK);
    assert.equal(r.bytesFetched, file.length - 2 * CHUNK);
    assert.equal(sha(await readAll(store, r.parts)), sha(file));
  });

  test('resume claims more parts than the store holds: only the stored ones are trusted', async () => {
    srv.reset({ dropAfter: undefined, ignoreRange: false });
    const first = await downloadToStore({
      store,
      url: `${srv.base}/file.bin`,
      partsPrefix: 'dl/partial',
      chunkBytes: CHUNK,
      ...fast,
    });
    await store.delete(first.parts[3]); // part 4 lost
    srv.reset();
    const r = await downloadToStore({
      store,
      url: `${srv.base}/file.bin`,
      partsPrefix: 'dl/partial',
      chunkBytes: CHUNK,
      resume: { partsDone: 6 },
      ...fast,
    });
    assert.equal(r.resumedParts, 3);
    assert.equal(srv.bytesSent, file.length - 3 * CHUNK);
    assert.equal(sha(await readAll(store, r.parts)), sha(file));
  });

  test('a source that changed between attempts (new ETag) is downloaded again from byte 0', async () => {
    srv.reset({ dropAfter: undefined, ignoreRange: false });
    const ac = new AbortController();
    await assert.rejects(
      downloadToStore({
        store,
        url: `${srv.base}/file.bin`,
        partsPrefix: 'dl/changed',
        chunkBytes: CHUNK,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.partsDone === 3) ac.abort();
        },
        ...fast,
      }),
    );
    const v2 = randomFile(5 * MiB + 7, 'download-test-v2');
    srv.reset({ body: v2, etag: '"v2"', lastModified: 'Wed, 02 Oct 2024 10:00:00 GMT' });
    try {
      const r = await downloadToStore({
        store,
        url: `${srv.base}/file.bin`,
        partsPrefix: 'dl/changed',
        chunkBytes: CHUNK,
        resume: { partsDone: 3 },
        ...fast,
      });
      assert.equal(r.restarted, true);
      assert.match(r.restartReasons.join(' '), /ETag "v1" -> "v2"/);
      assert.equal(r.totalBytes, v2.length);
      assert.equal(r.parts.length, 6);
      assert.equal(sha(await readAll(store, r.parts)), sha(v2));
      // Nothing of the old file's parts is left behind.
      assert.deepEqual(
        (await store.list('dl/changed/part-')).map((o) => o.key),
        r.parts,
      );
    } finally {
      srv.reset({ body: file, etag: '"v1"', lastModified: 'Tue, 01 Oct 2024 10:00:00 GMT' });
    }
  });

  test('a server that ignores Range (200 instead of 206) is reported as a restart and data stays exact', async () => {
    srv.reset({ ignoreRange: true, dropAfter: 3_000_000, dropResponses: 1 });
    try {
      const r = await downloadToStore({
        store,
        url: `${srv.base}/file.bin`,
        partsPrefix: 'dl/norange',
        chunkBytes: CHUNK,
        ...fast,
      });
      assert.equal(r.restarted, true);
      assert.match(r.restartReasons[0], /ignored the Range request/);
      assert.equal(r.reconnects, 1);
      assert.equal(srv.requests[1].range, 'bytes=3000000-');
      assert.equal(srv.requests[1].status, 200);
      assert.equal(r.bytesFetched, 3_000_000 + file.length);
      assert.equal(sha(await readAll(store, r.parts)), sha(file));
    } finally {
      srv.reset({ ignoreRange: false, dropAfter: undefined, dropResponses: undefined });
    }
  });

  test('follows redirects and retries a 503', async () => {
    srv.reset({ failFirst: 3 });
    const r = await downloadToStore({
      store,
      url: `${srv.base}/redirect?token=x`,
      partsPrefix: 'dl/redirect',
      chunkBytes: 4 * MiB,
      ...fast,
    }).finally(() => {
      srv.behaviour.failFirst = 0;
    });
    assert.deepEqual(
      srv.requests.map((q) => `${q.path} ${q.status}`),
      ['/redirect 302', '/hop 307', '/file.bin 503', '/redirect 302', '/hop 307', '/file.bin 200'],
    );
    assert.equal(r.reconnects, 1);
    assert.equal(r.parts.length, 2);
    assert.equal(sha(await readAll(store, r.parts)), sha(file));
  });

  test('a connection that goes silent is dropped after idleTimeoutMs and resumed', async () => {
    srv.reset({ stallAfter: 1_500_000, failFirst: 0, dropAfter: undefined, ignoreRange: false });
    try {
      const r = await downloadToStore({
        store,
        url: `${srv.base}/file.bin`,
        partsPrefix: 'dl/stall',
        chunkBytes: CHUNK,
        idleTimeoutMs: 150,
        ...fast,
      });
      assert.equal(r.reconnects, 1);
      assert.equal(srv.requests[1].range, 'bytes=1500000-');
      assert.equal(srv.bytesSent, file.length);
      assert.equal(sha(await readAll(store, r.parts)), sha(file));
    } finally {
      srv.reset({ stallAfter: undefined });
    }
  });

  for (const [path, status] of [
    ['/missing', 404],
    ['/forbidden', 403],
  ] as const) {
    test(`HTTP ${status} is a non-retryable SourceUnreachable that does not leak the query string`, async () => {
      srv.reset();
      await assert.rejects(
        downloadToStore({
          store,
          url: `${srv.base}${path}?token=SECRET-TOKEN&sig=abc`,
          partsPrefix: 'dl/err',
          chunkBytes: CHUNK,
          ...fast,
        }),
        (err: unknown) => {
          assert.ok(err instanceof MerError);
          assert.equal(err.type, ErrorTypes.SourceUnreachable);
          assert.match(err.message, new RegExp(`HTTP ${status}`));
          assert.ok(err.message.includes(`${srv.base}${path}`), err.message);
          assert.ok(!err.message.includes('SECRET') && !err.message.includes('sig='), err.message);
          assert.ok(!JSON.stringify(err.details).includes('SECRET'));
          assert.match(err.message, /48 h/);
          return true;
        },
      );
      assert.equal(srv.requests.length, 1, 'not retried');
    });
  }

  test('gives up with a plain (retryable) Error after maxReconnects connections without data', async () => {
    srv.reset();
    await assert.rejects(
      downloadToStore({
        store,
        url: `${srv.base}/dead?token=SECRET`,
        partsPrefix: 'dl/dead',
        chunkBytes: CHUNK,
        maxReconnects: 2,
        ...fast,
      }),
      (err: unknown) => {
        assert.ok(err instanceof Error && !(err instanceof MerError));
        assert.match(err.message, /3 connections in a row/);
        assert.ok(!err.message.includes('SECRET'));
        return true;
      },
    );
    assert.equal(srv.requests.length, 3);
  });

  test('partsReadable reports a lost part as SourceMissing', async () => {
    await store.put('dl/lost/part-000001', 'abc');
    const chunks: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of partsReadable(store, ['dl/lost/part-000001', 'dl/lost/part-000002']))
          chunks.push(c as Buffer);
      })(),
      (err: unknown) =>
        err instanceof MerError && err.type === ErrorTypes.SourceMissing && /part-000002/.test(err.message),
    );
    assert.equal(Buffer.concat(chunks).toString(), 'abc');
  });

  test('redactUrlForLog keeps scheme, host and path only', () => {
    assert.equal(
      redactUrlForLog('https://user:pw@example.org:8443/a/b.tar.gz?X-Amz-Signature=1#frag'),
      'https://example.org:8443/a/b.tar.gz',
    );
  });
});
