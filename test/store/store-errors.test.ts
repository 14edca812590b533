import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import {
  LocalStore,
  S3Store,
  StoreNotFoundError,
  StoreUnreachableError,
  closeStores,
  createStore,
  type ObjectStore,
} from '../../activities/store/index.ts';
import { ErrorTypes, MerError, toFailure, type ErrorType } from '../../activities/common/errors.ts';
import { freePort } from '../helpers/ports.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';

/**
 * Issue 14, class 6: store failures that no retry can fix leave the activity as non-retryable failures
 * with a named type and a message that says what to fix; an unreachable S3 endpoint stays retryable
 * (it comes back) but says it is the object store and names it. Against real stores throughout.
 */

/** Asserts a rejection is a MerError of `type` whose message matches every pattern, and that the activity edge stops retries. */
async function rejectsTyped(p: Promise<unknown>, type: ErrorType, ...patterns: RegExp[]): Promise<MerError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof MerError, `expected MerError ${type}, got ${String(caught)}`);
  assert.equal(caught.type, type, caught.message);
  for (const re of patterns) assert.match(caught.message, re);
  const failure = toFailure(caught);
  assert.ok(failure instanceof ApplicationFailure);
  assert.equal(failure.type, type);
  assert.equal(failure.nonRetryable, true, 'a retry cannot fix it: the activity must not be retried');
  return caught;
}

/** Runs `fn` with the AWS credential environment changed, restoring it after. */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const BAD_KEYS: Array<[string, string]> = [
  ['', 'empty'],
  ['/etc/passwd', "starts or ends with '/'"],
  ['a/', "starts or ends with '/'"],
  ['../outside', "'..'"],
  ['a/../../outside', "'..'"],
  ['a//b', 'empty'],
  ['./a', "'.'"],
  ['a\\..\\..\\outside', 'backslash'],
  ['a\0b', 'NUL'],
  [`seg/${'x'.repeat(256)}`, 'segment is longer than 255 bytes'],
  [`${'abcdefgh/'.repeat(114)}end`, 'longer than 1024 bytes'],
  // 4-byte characters: 200 characters, 800 bytes per segment fit no file system.
  [`emoji/${'😀'.repeat(70)}`, 'segment is longer than 255 bytes'],
];

/** Every operation refuses each bad key with MerStoreKeyInvalid, before touching anything. */
async function refusesBadKeys(store: ObjectStore): Promise<void> {
  for (const [key, why] of BAD_KEYS) {
    const what = new RegExp(why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    await rejectsTyped(store.put(key, 'x'), ErrorTypes.StoreKeyInvalid, /invalid store key/, what);
    await rejectsTyped(store.put(key, Readable.from([Buffer.from('x')])), ErrorTypes.StoreKeyInvalid);
    await rejectsTyped(store.get(key), ErrorTypes.StoreKeyInvalid);
    await rejectsTyped(store.head(key), ErrorTypes.StoreKeyInvalid);
    await rejectsTyped(store.getStream(key), ErrorTypes.StoreKeyInvalid);
    await rejectsTyped(store.delete(key), ErrorTypes.StoreKeyInvalid);
  }
}

describe('local store: errors a retry cannot fix', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'mer-store-err-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('invalid keys are MerStoreKeyInvalid on every operation, and nothing is written outside the root', async () => {
    const root = join(scratch, 'keys', 'store');
    await mkdir(root, { recursive: true });
    await refusesBadKeys(new LocalStore(root));
    assert.deepEqual(await readdir(join(scratch, 'keys')), ['store'], 'nothing appeared beside the root');
    assert.deepEqual(await readdir(root), [], 'nothing appeared in the root');
  });

  test('a root under a regular file is MerStoreRootUnusable naming the file (not ten retries of ENOTDIR)', async () => {
    const file = join(scratch, 'a-file');
    await writeFile(file, 'not a folder');
    await rejectsTyped(
      new LocalStore(join(file, 'store')).put('x/y', 'data'),
      ErrorTypes.StoreRootUnusable,
      new RegExp(`${file} is a file, not a folder`),
      /choose another store root/,
    );
    // The root itself a file.
    await rejectsTyped(new LocalStore(file).put('y', 'data'), ErrorTypes.StoreRootUnusable, /is a file/);
  });

  test('a key whose folder is an object is MerStoreKeyInvalid on write and absent on read', async () => {
    const store = new LocalStore(join(scratch, 'shadow'));
    await store.put('a', 'object a');
    await rejectsTyped(store.put('a/b', 'x'), ErrorTypes.StoreKeyInvalid, /a folder of its path is an object/);
    await assert.rejects(store.get('a/b'), StoreNotFoundError);
    assert.equal(await store.head('a/b'), null);
    await store.put('d/e', 'object d/e');
    await rejectsTyped(store.put('d', 'x'), ErrorTypes.StoreKeyInvalid, /it is a folder of other objects/);
    await assert.rejects(store.get('d'), StoreNotFoundError);
    // A refused stream is closed, not left holding its source open.
    const body = Readable.from([Buffer.from('x')]);
    await rejectsTyped(store.put('../d', body), ErrorTypes.StoreKeyInvalid);
    assert.equal(body.destroyed, true);
  });

  test('an unwritable or unreadable store folder is MerStoreAccessDenied (skipped as root: root ignores modes)', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: permission bits do not stop root (the ENOTDIR case covers the typed path)');
      return;
    }
    const locked = join(scratch, 'locked');
    await mkdir(join(locked, 'sub'), { recursive: true });
    const store = new LocalStore(locked);
    await store.put('sub/readable', 'x');
    await chmod(locked, 0o500);
    try {
      await rejectsTyped(store.put('new/x', 'data'), ErrorTypes.StoreAccessDenied, /permission denied/, /uid \d+/);
      await chmod(join(locked, 'sub'), 0o000);
      // An unreadable folder must not look empty: a stage would redo and overwrite.
      await rejectsTyped(store.list('sub/'), ErrorTypes.StoreAccessDenied);
      await rejectsTyped(store.head('sub/readable'), ErrorTypes.StoreAccessDenied);
    } finally {
      await chmod(join(locked, 'sub'), 0o700).catch(() => {});
      await chmod(locked, 0o700);
    }
  });

  test('a damaged commit marker is MerOutputInvalid naming it, not a JSON SyntaxError retried', async () => {
    const store = new LocalStore(join(scratch, 'commit'));
    await store.put('stage/x/_COMMIT', '{"stage": "acq');
    await rejectsTyped(
      store.committed('stage/x'),
      ErrorTypes.OutputInvalid,
      /stage\/x\/_COMMIT in file:\/\/.* is not valid JSON/,
      /delete it/,
    );
    await store.put('stage/y/_COMMIT', JSON.stringify({ stage: 5, summary: [] }));
    await rejectsTyped(store.committed('stage/y'), ErrorTypes.OutputInvalid, /breaks its schema: committedAt/);
    // A good marker still reads back as written, extra fields included.
    const m = await store.commit('stage/z', { stage: 'acquire', summary: { rows: 3 } });
    assert.deepEqual(await store.committed('stage/z'), m);
  });

  test('a schema violation thrown inside an activity is non-retryable MerOutputInvalid', () => {
    const r = z.object({ rows: z.number().int() }).safeParse({ rows: 'many' });
    assert.ok(!r.success);
    const failure = toFailure(r.error);
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.type, ErrorTypes.OutputInvalid);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /rows: .*expected number/i);
    // Anything else is left to the retry policy.
    const plain = new Error('ECONNRESET');
    assert.equal(toFailure(plain), plain);
  });

  test('a malformed store spec in a payload is MerConfigInvalid', async () => {
    await rejectsTyped(
      Promise.resolve().then(() => createStore({ kind: 'local', root: 42 } as never)),
      ErrorTypes.ConfigInvalid,
      /invalid store spec: root/,
    );
  });
});

describe('S3 store: errors a retry cannot fix (versitygw)', () => {
  let srv: S3TestServer;
  before(async () => {
    srv = await startS3Server({ bucket: 'mer-errors', prefix: 'runs/r1' });
  });
  after(async () => {
    await closeStores();
    await srv?.dispose();
  });

  /** A fresh store (its own client, so it reads the credential environment anew). */
  const open = (extra: Partial<ConstructorParameters<typeof S3Store>[0]> = {}): S3Store =>
    new S3Store({ ...srv.spec, ...extra });

  test('a wrong secret key is MerStoreAccessDenied at once on every operation, HEAD included', async () => {
    await withEnv({ AWS_SECRET_ACCESS_KEY: 'not-the-secret' }, async () => {
      const store = open();
      try {
        const t0 = Date.now();
        const err = await rejectsTyped(
          store.put('a/b.json', '{}'),
          ErrorTypes.StoreAccessDenied,
          /SignatureDoesNotMatch/,
          /HTTP 403/,
          new RegExp(`s3://mer-errors/runs/r1/ at ${srv.endpoint}`),
          /AWS_SECRET_ACCESS_KEY/,
        );
        assert.ok(!err.message.includes('not-the-secret'), 'the message never shows a credential');
        await rejectsTyped(store.get('a/b.json'), ErrorTypes.StoreAccessDenied);
        await rejectsTyped(store.list('a/'), ErrorTypes.StoreAccessDenied);
        // HEAD answers carry no body: a bare 403, which must not read as "absent" (a stage would redo its work).
        await rejectsTyped(store.head('a/b.json'), ErrorTypes.StoreAccessDenied, /HTTP 403/);
        await rejectsTyped(
          store.put('big', Readable.from([Buffer.alloc(6 * 1024 * 1024)])),
          ErrorTypes.StoreAccessDenied,
        );
        assert.ok(Date.now() - t0 < 10_000, 'no retry loop inside the SDK either');
      } finally {
        await store.close();
      }
    });
  });

  test('an unknown access key id is MerStoreAccessDenied', async () => {
    await withEnv({ AWS_ACCESS_KEY_ID: 'MERNOSUCHKEY0000' }, async () => {
      const store = open();
      try {
        await rejectsTyped(store.put('a/b.json', '{}'), ErrorTypes.StoreAccessDenied, /refused PutObject/);
        await rejectsTyped(store.list(''), ErrorTypes.StoreAccessDenied);
      } finally {
        await store.close();
      }
    });
  });

  test('no credentials at all is MerStoreAccessDenied naming the provider chain', async () => {
    const none = join(tmpdir(), 'mer-no-such-aws-file');
    await withEnv(
      {
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        AWS_SHARED_CREDENTIALS_FILE: none,
        AWS_CONFIG_FILE: none,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
        AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
      },
      async () => {
        const store = open();
        try {
          await rejectsTyped(
            store.get('a'),
            ErrorTypes.StoreAccessDenied,
            /CredentialsProviderError/,
            /provider chain/,
          );
        } finally {
          await store.close();
        }
      },
    );
  });

  test('a bucket that does not exist is MerStoreRootUnusable', async () => {
    const store = open({ bucket: 'mer-no-such-bucket' });
    try {
      await rejectsTyped(store.put('a', 'x'), ErrorTypes.StoreRootUnusable, /NoSuchBucket/, /create the bucket/);
      await rejectsTyped(store.list(''), ErrorTypes.StoreRootUnusable);
    } finally {
      await store.close();
    }
  });

  test('invalid keys are MerStoreKeyInvalid before any request; the prefix counts toward the length', async () => {
    const store = open();
    try {
      await refusesBadKeys(store);
      // 1020 bytes is a valid key alone but not under runs/r1/.
      const long = `${'k'.repeat(200)}/`.repeat(5) + 'k'.repeat(15);
      assert.equal(Buffer.byteLength(long), 1020);
      await rejectsTyped(store.put(long, 'x'), ErrorTypes.StoreKeyInvalid, /longer than 1024 bytes/);
      assert.deepEqual(await store.list(''), [], 'nothing was written');
    } finally {
      await store.close();
    }
  });

  test('a closed port says it is the object store and names the endpoint; it stays retryable', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const store = open({ endpoint, maxAttempts: 2 });
    try {
      for (const op of [() => store.put('a', 'x'), () => store.get('a'), () => store.head('a'), () => store.list('')]) {
        let caught: unknown;
        await assert.rejects(op(), (err: unknown) => {
          caught = err;
          return true;
        });
        assert.ok(caught instanceof StoreUnreachableError, String(caught));
        assert.equal(caught.name, 'MerStoreUnreachable');
        assert.match(caught.message, new RegExp(`object store s3://mer-errors/runs/r1/ at ${endpoint} is unreachable`));
        assert.match(caught.message, /connection refused \(ECONNREFUSED after 2 attempts\)/);
        assert.ok(!(caught instanceof StoreNotFoundError));
        // Left to the activity's retry policy: a server that comes back is picked up.
        assert.equal(toFailure(caught), caught);
      }
    } finally {
      await store.close();
    }
  });

  test('an endpoint host that does not resolve is named too', async () => {
    const store = open({ endpoint: 'http://mer-no-such-host.invalid:9000', maxAttempts: 1 });
    try {
      await assert.rejects(store.get('a'), (err: unknown) => {
        assert.ok(err instanceof StoreUnreachableError, String(err));
        assert.match(err.message, /mer-no-such-host\.invalid:9000 is unreachable: host name (not found|lookup failed)/);
        return true;
      });
    } finally {
      await store.close();
    }
  });

  test('a damaged commit marker on S3 is MerOutputInvalid; good ones round-trip', async () => {
    const store = open();
    try {
      await store.put('s/_COMMIT', 'not json');
      await rejectsTyped(store.committed('s'), ErrorTypes.OutputInvalid, /s\/_COMMIT in s3:\/\/mer-errors/);
      const m = await store.commit('t', { stage: 'segment', summary: { shards: 2 } });
      assert.deepEqual(await store.committed('t'), m);
    } finally {
      await store.close();
    }
  });
});
