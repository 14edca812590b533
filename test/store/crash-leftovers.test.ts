import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { LocalStore, S3Store, closeStores, collectGarbage } from '../../activities/store/index.ts';
import { runMer } from '../helpers/cli.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';

/**
 * Issue 14, class 8: what a writer killed between write and rename leaves (a local temp file, an S3
 * multipart upload) is removed by age on the next write to its folder or by the stage's commit, and
 * `mer gc` reports it (count, bytes, oldest) and removes it with --delete. Nothing is killed for real:
 * the leftovers are crafted, with old mtimes. A temp file of a writer at work is never taken.
 */

const HOUR = 3600_000;
const MiB = 1024 * 1024;

/** A temp file as LocalStore names them, last written `ageMs` ago. */
async function leftover(root: string, rel: string, bytes: number, ageMs: number): Promise<string> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes, 7));
  const t = new Date(Date.now() - ageMs);
  await utimes(path, t, t);
  return path;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('local store leftovers', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'mer-leftovers-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('the next write to a folder removes its stale temp files, and only those', async () => {
    const root = join(scratch, 'write');
    const stale = await leftover(root, 'seg/shard-1/.mer-tmp-0123456789ab', 1000, 2 * HOUR);
    const fresh = await leftover(root, 'seg/shard-1/.mer-tmp-fresh0000000', 10, 60_000);
    const elsewhere = await leftover(root, 'seg/shard-2/.mer-tmp-ba9876543210', 500, 3 * HOUR);
    const store = new LocalStore(root);
    await store.put('seg/shard-1/rows.parquet', 'rows');
    assert.equal(await exists(stale), false, 'the stale temp file in the folder written to is gone');
    assert.equal(await exists(fresh), true, 'a young temp file may be a writer at work: kept');
    assert.equal(await exists(elsewhere), true, 'another folder waits for its own write or commit');
    assert.deepEqual(
      (await store.list('seg/')).map((o) => o.key),
      ['seg/shard-1/rows.parquet'],
    );
  });

  test("the stage's commit removes stale temp files anywhere under its prefix, not outside it", async () => {
    const root = join(scratch, 'commit');
    const deep = await leftover(root, 'features/k1/shards/s1/parts/.mer-tmp-aaaaaaaaaaaa', 4096, 5 * HOUR);
    const top = await leftover(root, 'features/k1/.mer-tmp-bbbbbbbbbbbb', 1, 2 * HOUR);
    const fresh = await leftover(root, 'features/k1/shards/s2/.mer-tmp-cccccccccccc', 1, 0);
    const sibling = await leftover(root, 'features/k10/.mer-tmp-dddddddddddd', 1, 5 * HOUR);
    const store = new LocalStore(root);
    await store.commit('features/k1', { stage: 'extract', summary: {} });
    assert.equal(await exists(deep), false);
    assert.equal(await exists(top), false);
    assert.equal(await exists(fresh), true);
    assert.equal(await exists(sibling), true, 'features/k10 is not under features/k1');
    assert.ok(await store.committed('features/k1'));
  });

  test('collectGarbage reports count, bytes and oldest; removing keeps a concurrent writer whole', async () => {
    const root = join(scratch, 'gc');
    await leftover(root, 'a/.mer-tmp-000000000001', 3000, 26 * HOUR);
    await leftover(root, 'a/b/c/.mer-tmp-000000000002', 700, 2 * HOUR);
    // Not garbage: a symlink named like a temp file (its target outside the store must survive),
    // a folder named like one, and an object.
    const outside = join(scratch, 'outside.txt');
    await writeFile(outside, 'not the store');
    await symlink(outside, join(root, 'a', '.mer-tmp-link00000000'));
    await mkdir(join(root, 'a', '.mer-tmp-dir000000000'));
    const store = new LocalStore(root);
    await store.put('z/object', 'kept');

    // A real writer at work: its temp file exists, is young, and must survive gc and commit.
    const body = new PassThrough();
    const writing = store.put('a/b/in-flight.bin', body);
    body.write(Buffer.alloc(MiB, 1));
    let tmp: string | undefined;
    for (let i = 0; i < 100 && !tmp; i++) {
      await new Promise((r) => setTimeout(r, 10));
      tmp = (await readdir(join(root, 'a', 'b'))).find((n) => n.startsWith('.mer-tmp-'));
    }
    assert.ok(tmp, 'the writer has its temp file');

    const report = await collectGarbage(store);
    assert.equal(report.store, `file://${root}`);
    assert.equal(report.count, 3, JSON.stringify(report.items));
    assert.equal(report.stale.count, 2);
    assert.equal(report.stale.bytes, 3700);
    assert.ok(report.bytes >= 3700 + MiB - 1, 'the writer counts as garbage-in-waiting');
    const oldest = Date.parse(report.oldest!);
    assert.ok(Math.abs(oldest - (Date.now() - 26 * HOUR)) < 60_000, report.oldest!);
    assert.equal(report.removed, undefined, 'a report removes nothing');
    assert.equal(await exists(join(root, 'a', '.mer-tmp-000000000001')), true);

    const removed = await collectGarbage(store, { remove: true });
    assert.deepEqual(removed.removed && { count: removed.removed.count, bytes: removed.removed.bytes }, {
      count: 2,
      bytes: 3700,
    });
    await store.commit('a', { stage: 'test', summary: {} });
    body.end(Buffer.alloc(10, 2));
    const done = await writing;
    assert.equal(done.size, MiB + 10, 'the concurrent writer finished whole');
    assert.equal((await store.get('a/b/in-flight.bin')).length, MiB + 10);
    assert.equal(await readFile(outside, 'utf8'), 'not the store');
    assert.equal(await exists(join(root, 'a', '.mer-tmp-link00000000')), true, 'symlinks are not followed nor removed');
    assert.equal((await collectGarbage(store)).count, 0);
    assert.equal((await store.get('z/object')).toString(), 'kept');
  });

  test('mer gc reports, then --delete removes what is stale', async () => {
    const root = join(scratch, 'cli');
    await leftover(root, 'raw/iemocap/.mer-tmp-111111111111', 2 * MiB, 3 * HOUR);
    await leftover(root, 'raw/iemocap/.mer-tmp-222222222222', 5, 10_000);
    const report = await runMer(['gc', '--store', root]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, new RegExp(`store file://${root}`));
    assert.match(report.stdout, /garbage: 2 items, 2\.0 MiB, oldest last written \d{4}-/);
    assert.match(report.stdout, /1 item written to in the last 60 min: kept/);
    assert.match(report.stdout, /mer gc --delete/);
    assert.equal(await exists(join(root, 'raw/iemocap/.mer-tmp-111111111111')), true);

    const del = await runMer(['gc', '--store', root, '--delete', '--json']);
    assert.equal(del.code, 0, del.stderr);
    const json = JSON.parse(del.stdout) as { count: number; removed: { count: number; bytes: number } };
    assert.equal(json.count, 2);
    assert.equal(json.removed.count, 1);
    assert.equal(json.removed.bytes, 2 * MiB);
    assert.equal(await exists(join(root, 'raw/iemocap/.mer-tmp-111111111111')), false);
    assert.equal(await exists(join(root, 'raw/iemocap/.mer-tmp-222222222222')), true);

    const missing = await runMer(['gc', '--store', join(scratch, 'no-such-store')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--store: .*no-such-store does not exist/);
  });
});

describe('S3 store leftovers: incomplete multipart uploads', () => {
  let srv: S3TestServer;
  let raw: S3Client;
  before(async () => {
    srv = await startS3Server({ bucket: 'mer-gc', prefix: 'runs/r1' });
    raw = new S3Client({
      endpoint: srv.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });
  after(async () => {
    raw?.destroy();
    await closeStores();
    await srv?.dispose();
  });

  /** What a put killed after its first part leaves: an upload with one part. */
  async function abandonedUpload(key: string, bytes: number): Promise<string> {
    const { UploadId } = await raw.send(new CreateMultipartUploadCommand({ Bucket: srv.bucket, Key: key }));
    await raw.send(
      new UploadPartCommand({ Bucket: srv.bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(bytes, 3) }),
    );
    return UploadId!;
  }

  const openUploads = async (): Promise<string[]> =>
    ((await raw.send(new ListMultipartUploadsCommand({ Bucket: srv.bucket }))).Uploads ?? []).map((u) => u.Key!);

  test('gc reports uploads under the prefix; --delete aborts the stale ones and leaves others alone', async () => {
    await abandonedUpload('runs/r1/segment/shard-1.parquet', 5 * MiB);
    await abandonedUpload('runs/r1/features/deep/part.bin', 1234);
    const foreignId = await abandonedUpload('runs/r2/other-store.bin', 10);
    const store = new S3Store(srv.spec);
    try {
      const report = await collectGarbage(store);
      assert.equal(report.count, 2, JSON.stringify(report.items));
      assert.equal(report.bytes, 5 * MiB + 1234);
      assert.deepEqual(report.items.map((i) => i.key).sort(), ['features/deep/part.bin', 'segment/shard-1.parquet']);
      assert.ok(report.items.every((i) => i.kind === 'multipart-upload' && i.uploadId));
      assert.ok(report.oldest && Date.now() - Date.parse(report.oldest) < 10 * 60_000);

      // Just started: may be a writer at work, so the default age keeps them.
      const kept = await collectGarbage(store, { remove: true });
      assert.equal(kept.removed?.count, 0);
      assert.equal((await openUploads()).length, 3);

      await new Promise((r) => setTimeout(r, 1100));
      const gone = await collectGarbage(store, { remove: true, minAgeMs: 1000 });
      assert.equal(gone.removed?.count, 2);
      assert.equal(gone.removed?.bytes, 5 * MiB + 1234);
      assert.deepEqual(await openUploads(), ['runs/r2/other-store.bin'], "another store's upload is not ours");
      assert.equal((await collectGarbage(store)).count, 0);
    } finally {
      await store.close();
      await raw.send(
        new AbortMultipartUploadCommand({ Bucket: srv.bucket, Key: 'runs/r2/other-store.bin', UploadId: foreignId }),
      );
    }
  });

  test('mer gc on an s3:// store prints the report', async () => {
    await abandonedUpload('runs/r1/x/y.bin', 2048);
    const r = await runMer(['gc', '--store', 's3://mer-gc/runs/r1', '--s3-endpoint', srv.endpoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /store s3:\/\/mer-gc\/runs\/r1\/ at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(r.stdout, /garbage: 1 item, 2\.0 KiB/);
    assert.match(r.stdout, /upload of x\/y\.bin/);
  });
});
