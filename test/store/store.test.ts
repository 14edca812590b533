import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import {
  LocalStore,
  S3Store,
  StoreConflictError,
  StoreNotFoundError,
  closeStores,
  createStore,
  type ObjectStore,
} from '../../activities/store/index.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';

const MiB = 1024 * 1024;

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A real stream over `buf` in uneven chunks (so part boundaries never line up), optionally failing at byte `failAt`. */
function streamOf(buf: Buffer, failAt?: number): Readable {
  const chunk = 64 * 1024 + 13;
  let off = 0;
  return new Readable({
    read() {
      if (failAt !== undefined && off >= failAt) {
        this.destroy(new Error('source disk went away'));
        return;
      }
      if (off >= buf.length) {
        this.push(null);
        return;
      }
      const end = Math.min(off + chunk, buf.length, failAt ?? Infinity);
      this.push(buf.subarray(off, end));
      off = end;
    },
  });
}

async function rejectsNotFound(p: Promise<unknown>, key: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreNotFoundError, `expected StoreNotFoundError, got ${String(err)}`);
    assert.equal(err.key, key);
    return true;
  });
}

interface Subject {
  store: ObjectStore;
  /** Incomplete-write debris the store left behind: temp files (local) or open multipart uploads (S3). */
  leftovers(): Promise<number>;
  /** Whether a put of this many bytes goes multipart, and how to confirm it did. */
  confirmMultipart?(key: string, parts: number): Promise<void>;
}

/** The behaviour every ObjectStore must share; run once per implementation. */
function contract(name: string, open: () => Promise<Subject>, teardown: () => Promise<void>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let s: Subject;
    let store: ObjectStore;
    let scratch: string;
    before(async () => {
      s = await open();
      store = s.store;
      scratch = await mkdtemp(join(tmpdir(), 'mer-store-dl-'));
    });
    after(async () => {
      await store?.close();
      await rm(scratch, { recursive: true, force: true });
      await teardown();
    });

    test('small string, Uint8Array and empty bodies round-trip byte-exact with correct sha256/size', async () => {
      const text = 'emotion: 😀 happy — ça va\n';
      const r1 = await store.put('rt/text.txt', text, { contentType: 'text/plain' });
      assert.deepEqual(r1, { key: 'rt/text.txt', size: Buffer.byteLength(text), sha256: sha256(text) });
      assert.equal((await store.get('rt/text.txt')).toString('utf8'), text);

      // A view into a larger buffer: only the viewed bytes may be written.
      const backing = randomBytes(4096);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 1000);
      const r2 = await store.put('rt/bytes.bin', view);
      assert.equal(r2.size, 1000);
      assert.equal(r2.sha256, sha256(view));
      assert.ok((await store.get('rt/bytes.bin')).equals(view));

      const r3 = await store.put('rt/empty', new Uint8Array(0));
      assert.deepEqual(r3, { key: 'rt/empty', size: 0, sha256: sha256('') });
      assert.equal((await store.get('rt/empty')).length, 0);
      assert.deepEqual(await store.head('rt/empty'), { key: 'rt/empty', size: 0 });

      // Characters that need URL encoding or are special to S3 signing and to file systems.
      const odd = 'rt/odd name+plus%25 #hash?q=1&x=ü.txt';
      await store.put(odd, 'odd');
      assert.equal((await store.get(odd)).toString(), 'odd');
      assert.deepEqual(await store.head(odd), { key: odd, size: 3 });
      assert.ok((await store.list('rt/odd')).some((o) => o.key === odd));

      // Overwrite replaces the whole object.
      await store.put('rt/text.txt', 'short');
      assert.equal((await store.get('rt/text.txt')).toString(), 'short');
    });

    test('a streamed 24 MiB body round-trips (multipart on S3) and getStream/getFile return the same bytes', async () => {
      const data = randomBytes(24 * MiB);
      const digest = sha256(data);
      const r = await store.put('big/blob.bin', streamOf(data));
      assert.deepEqual(r, { key: 'big/blob.bin', size: data.length, sha256: digest });
      await s.confirmMultipart?.('big/blob.bin', 5);
      assert.deepEqual(await store.head('big/blob.bin'), { key: 'big/blob.bin', size: data.length });

      assert.equal(sha256(await readAll(await store.getStream('big/blob.bin'))), digest);
      const target = join(scratch, 'nested', 'dir', 'blob.bin');
      await store.getFile('big/blob.bin', target);
      assert.equal(sha256(await readFile(target)), digest);
      assert.deepEqual(await readdir(join(scratch, 'nested', 'dir')), ['blob.bin'], 'getFile left temp files behind');

      // putFile takes the same path as streams; size and hash come back for the file's bytes.
      const r2 = await store.putFile('big/copy.bin', target);
      assert.deepEqual(r2, { key: 'big/copy.bin', size: data.length, sha256: digest });

      // Ranges across a part boundary (5 MiB parts on S3) are exact.
      const start = 5 * MiB - 17;
      const range = await readAll(await store.getStream('big/blob.bin', { start, end: start + 100 }));
      assert.ok(range.equals(data.subarray(start, start + 100)));
      assert.equal(await s.leftovers(), 0);
    });

    test('byte ranges: [start, end), open-ended, clamped, empty', async () => {
      const body = Buffer.from('0123456789abcdefghij');
      await store.put('range/r.txt', body);
      const read = async (range: { start: number; end?: number }): Promise<string> =>
        (await readAll(await store.getStream('range/r.txt', range))).toString();
      assert.equal(await read({ start: 0, end: 1 }), '0');
      assert.equal(await read({ start: 3, end: 7 }), '3456');
      assert.equal(await read({ start: 15 }), 'fghij');
      assert.equal(await read({ start: 18, end: 1000 }), 'ij');
      assert.equal(await read({ start: 5, end: 5 }), '');
      assert.equal(await read({ start: 20 }), '');
      assert.equal(await read({ start: 25 }), '');
      await rejectsNotFound(store.getStream('range/missing', { start: 0, end: 4 }), 'range/missing');
      await rejectsNotFound(store.getStream('range/missing', { start: 4, end: 4 }), 'range/missing');
    });

    test('head and exists', async () => {
      await store.put('head/a.json', '{"a":1}');
      assert.deepEqual(await store.head('head/a.json'), { key: 'head/a.json', size: 7 });
      assert.equal(await store.exists('head/a.json'), true);
      assert.equal(await store.head('head/nope.json'), null);
      assert.equal(await store.exists('head/nope.json'), false);
      // A "directory" is not an object.
      assert.equal(await store.exists('head'), false);
    });

    test('list: prefix match (not folder-bound), sorted by key, across many pages', async () => {
      const keys: string[] = [];
      for (let i = 0; i < 30; i++) keys.push(`list/shard-${String(i).padStart(3, '0')}.parquet`);
      keys.push('list/a/deep/x', 'list/a/y', 'list/ab', 'list/b', 'list/Z', 'list/é', 'list/z');
      const shuffled = [...keys].sort(() => Math.random() - 0.5);
      for (let i = 0; i < shuffled.length; i += 8) {
        await Promise.all(shuffled.slice(i, i + 8).map((k, j) => store.put(k, 'x'.repeat(j + 1))));
      }
      await store.put('listing-outside', 'not under list/');

      const all = await store.list('list/');
      assert.deepEqual(
        all.map((o) => o.key),
        [...keys].sort(),
      );
      assert.equal(all.find((o) => o.key === shuffled[2])?.size, 3);

      assert.deepEqual(
        (await store.list('list/a')).map((o) => o.key),
        ['list/a/deep/x', 'list/a/y', 'list/ab'],
      );
      assert.deepEqual(
        (await store.list('list/a/')).map((o) => o.key),
        ['list/a/deep/x', 'list/a/y'],
      );
      assert.equal((await store.list('list/shard-')).length, 30);
      assert.deepEqual(await store.list('list/nothing-here/'), []);
      assert.deepEqual(await store.list('no-such-prefix'), []);
      assert.ok((await store.list('')).some((o) => o.key === 'listing-outside'));
    });

    test('delete and deletePrefix', async () => {
      for (const k of ['del/a/1', 'del/a/2', 'del/a/sub/3', 'del/ab', 'del/b/1']) await store.put(k, k);
      await store.delete('del/a/1');
      assert.equal(await store.exists('del/a/1'), false);
      await store.delete('del/a/1'); // deleting what is gone is not an error
      await store.delete('del/never-existed');

      assert.equal(await store.deletePrefix('del/a/'), 2);
      assert.deepEqual(
        (await store.list('del/')).map((o) => o.key),
        ['del/ab', 'del/b/1'],
      );
      assert.equal(await store.deletePrefix('del/a/'), 0);

      await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(`del/many/${i}`, String(i))));
      assert.equal(await store.deletePrefix('del/many/'), 10);
      assert.deepEqual(await store.list('del/many/'), []);
      assert.equal(await store.deletePrefix('del/'), 2);
      assert.deepEqual(await store.list('del/'), []);
    });

    test('missing objects raise StoreNotFoundError; getFile then leaves no file', async () => {
      await rejectsNotFound(store.get('nf/x'), 'nf/x');
      await rejectsNotFound(store.getStream('nf/x'), 'nf/x');
      const target = join(scratch, 'nf', 'x.bin');
      await rejectsNotFound(store.getFile('nf/x', target), 'nf/x');
      assert.deepEqual(await readdir(join(scratch, 'nf')).catch(() => []), []);
    });

    test('ifNoneMatch: create-if-absent; the loser gets StoreConflictError and the first write stands', async () => {
      const a = await store.put('cond/once', 'first', { ifNoneMatch: true });
      assert.equal(a.sha256, sha256('first'));
      await assert.rejects(store.put('cond/once', 'second', { ifNoneMatch: true }), StoreConflictError);
      assert.equal((await store.get('cond/once')).toString(), 'first');

      // Large (multipart on S3) conditional write onto an existing key.
      const big = randomBytes(6 * MiB);
      await assert.rejects(store.put('cond/once', streamOf(big), { ifNoneMatch: true }), StoreConflictError);
      assert.equal((await store.get('cond/once')).toString(), 'first');
      const r = await store.put('cond/big', streamOf(big), { ifNoneMatch: true });
      assert.equal(r.sha256, sha256(big));

      // Racing writers: exactly one wins.
      const results = await Promise.allSettled(
        ['w1', 'w2', 'w3', 'w4'].map((w) => store.put('cond/race', w, { ifNoneMatch: true })),
      );
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
      for (const x of results) if (x.status === 'rejected') assert.ok(x.reason instanceof StoreConflictError);
      assert.equal(await s.leftovers(), 0);
    });

    test('commit markers', async () => {
      assert.equal(await store.committed('stage/seg'), null);
      await store.put('stage/seg/shard-000.parquet', 'p');
      const m = await store.commit('stage/seg', {
        stage: 'segment',
        summary: { shards: 1, keys: ['shard-000.parquet'] },
      });
      assert.equal(m.stage, 'segment');
      assert.ok(!Number.isNaN(Date.parse(m.committedAt)));
      assert.deepEqual(await store.committed('stage/seg'), m);
      assert.deepEqual(
        (await store.list('stage/seg/')).map((o) => o.key),
        ['stage/seg/_COMMIT', 'stage/seg/shard-000.parquet'],
      );
      assert.equal(await store.committed('stage/other'), null);
      await store.delete('stage/seg/_COMMIT');
      assert.equal(await store.committed('stage/seg'), null);
    });

    test('a failing input stream leaves no object (and the previous version intact)', async () => {
      const data = randomBytes(12 * MiB);
      const failSmall = store.put('atomic/new', streamOf(data, 300 * 1024));
      await assert.rejects(failSmall, /source disk went away/);
      // Fails after two 5 MiB parts have been sent on S3.
      await assert.rejects(store.put('atomic/new', streamOf(data, 11 * MiB)), /source disk went away/);
      assert.equal(await store.exists('atomic/new'), false);
      assert.deepEqual(await store.list('atomic/'), []);

      await store.put('atomic/old', 'version 1');
      await assert.rejects(store.put('atomic/old', streamOf(data, 11 * MiB)), /source disk went away/);
      assert.equal((await store.get('atomic/old')).toString(), 'version 1');
      assert.equal(await s.leftovers(), 0);
    });

    test('keys that could escape the root or differ between S3 and file systems are rejected', async () => {
      for (const bad of ['', '/abs', 'trailing/', '../up', 'a/../b', 'a//b', 'a\\b', './a']) {
        await assert.rejects(store.put(bad, 'x'), /invalid store key/, bad);
      }
      await assert.rejects(store.get('../etc/passwd'), /invalid store key/);
    });
  });
}

// ---------------------------------------------------------------------------------------------------

let localRoot = '';
contract(
  'LocalStore',
  async () => {
    localRoot = await mkdtemp(join(tmpdir(), 'mer-store-local-'));
    const countTmp = async (dir: string): Promise<number> => {
      let n = 0;
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory()) n += await countTmp(join(dir, e.name));
        else if (e.name.startsWith('.mer-tmp-')) n++;
      }
      return n;
    };
    return { store: new LocalStore(localRoot), leftovers: () => countTmp(localRoot) };
  },
  async () => {
    await rm(localRoot, { recursive: true, force: true });
  },
);

let server: S3TestServer | undefined;
let raw: S3Client | undefined;
contract(
  'S3Store on versitygw',
  async () => {
    server = await startS3Server({ bucket: 'mer-contract' });
    const srv = server;
    raw = new S3Client({
      endpoint: srv.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const client = raw;
    const prefix = 'contract';
    // Smallest legal parts and tiny list/delete batches, so multipart, pagination and batching run on small data.
    const store = new S3Store({ ...srv.spec, prefix, partSize: 5 * MiB, listPageSize: 7, deleteBatchSize: 3 });
    return {
      store,
      leftovers: async () =>
        (await client.send(new ListMultipartUploadsCommand({ Bucket: srv.bucket }))).Uploads?.length ?? 0,
      confirmMultipart: async (key, parts) => {
        // A multipart object's ETag is "<md5 of part md5s>-<part count>".
        const h = await client.send(new HeadObjectCommand({ Bucket: srv.bucket, Key: `${prefix}/${key}` }));
        assert.match(h.ETag ?? '', new RegExp(`-${parts}"?$`), `ETag ${h.ETag} is not a ${parts}-part upload`);
      },
    };
  },
  async () => {
    raw?.destroy();
    await server?.dispose();
  },
);

describe('S3Store specifics (versitygw)', () => {
  let srv: S3TestServer;
  before(async () => {
    srv = await startS3Server({ bucket: 'mer-specific', prefix: 'runs/r1' });
  });
  after(async () => {
    await closeStores();
    await srv?.dispose();
  });

  test('createStore caches one instance per distinct spec and never describes credentials', async () => {
    const a = createStore(srv.spec);
    assert.equal(createStore({ ...srv.spec }), a);
    assert.equal(createStore({ ...srv.spec, prefix: '/runs/r1/' }), a, 'equivalent prefixes share the instance');
    const b = createStore({ ...srv.spec, prefix: 'runs/r2' });
    assert.notEqual(b, a);
    assert.ok(a instanceof S3Store);
    assert.equal(a.describe, `s3://mer-specific/runs/r1/ at ${srv.endpoint}`);
    for (const st of [a, b]) {
      assert.ok(!st.describe.includes(srv.secretAccessKey) && !st.describe.includes(srv.accessKeyId));
    }
    const dir = await mkdtemp(join(tmpdir(), 'mer-store-spec-'));
    try {
      const l = createStore({ kind: 'local', root: dir });
      assert.ok(l instanceof LocalStore);
      assert.equal(createStore({ kind: 'local', root: `${dir}/` }), l);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.throws(() => createStore({ kind: 's3', bucket: 'No_Such_Name' }), /bucket names/);
  });

  test('prefixes isolate stores in one bucket; objects are stored raw (no aws-chunked framing)', async () => {
    const a = createStore(srv.spec);
    const b = createStore({ ...srv.spec, prefix: 'runs/r2' });
    const body = randomBytes(70_000);
    await a.put('x/data.bin', body);
    await b.put('x/other.bin', 'other');
    assert.deepEqual(
      (await a.list('')).map((o) => o.key),
      ['x/data.bin'],
    );
    assert.deepEqual(
      (await b.list('x/')).map((o) => o.key),
      ['x/other.bin'],
    );
    assert.equal(await b.exists('x/data.bin'), false);
    // versitygw's POSIX backend keeps objects as plain files: the bytes on disk must be exactly the body.
    const onDisk = await readFile(join(srv.dataDir, 'mer-specific', 'runs', 'r1', 'x', 'data.bin'));
    assert.ok(onDisk.equals(body));
    assert.equal(await b.deletePrefix(''), 1);
    assert.deepEqual(
      (await a.list('')).map((o) => o.key),
      ['x/data.bin'],
    );
  });

  test('an outage surfaces as an error (not NotFound), and the same store works after the server restarts', async () => {
    const st = new S3Store({ ...srv.spec, maxAttempts: 2 });
    try {
      await st.put('outage/before', 'kept across restart');
      await srv.stop();
      await assert.rejects(st.get('outage/before'), (err: unknown) => !(err instanceof StoreNotFoundError));
      await srv.restart();
      assert.equal((await st.get('outage/before')).toString(), 'kept across restart');
      const file = join(srv.dataDir, '..', 'upload.txt');
      await writeFile(file, 'via putFile');
      assert.equal((await st.putFile('outage/after', file)).sha256, sha256('via putFile'));
    } finally {
      await st.close();
    }
  });
});
