import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { createStore } from '../../activities/store/index.ts';
import { LocalStore } from '../../activities/store/local.ts';
import type { RunOverrides } from '../../cli/config.ts';
import { arrowTableToRows } from '../../schemas/manifest.ts';
import { failureMessage } from '../../workflows/pipeline.ts';
import { activityAttempts } from '../helpers/activity-history.ts';
import { startArchiveServer } from '../helpers/http-server.ts';
import { attemptInProcess, pipelineInput, type WatchOptions } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';

const fx = pipelineTest({ name: 'faults', seed: 3, iemocap: 'folder', meld: 'archive' });
let s3: S3TestServer;
let meldArchive: string;

before(async () => {
  await fx.whenReady();
  meldArchive = fx.archive('meld');
  s3 = await startS3Server();
  fx.onTeardown(() => s3.dispose());
});

let queue = 0;
async function run(o: RunOverrides, opts: Pick<WatchOptions, 'whileRunning'> = {}) {
  const input = await pipelineInput({ until: 'acquire', taskQueuePrefix: `faults-${++queue}`, ...o });
  return attemptInProcess(fx.env, input, { ...opts, workers: { queues: ['cpu'] }, intervalMs: 200 });
}

describe('acquire failures are clear, typed and not retried', () => {
  test('a truncated archive fails with MerArchiveCorrupt naming the archive, after one attempt', async () => {
    const bytes = readFileSync(meldArchive);
    const truncated = join(fx.dir, 'MELD.Raw.truncated.tar.gz');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const { outcome, progress, handle } = await run({ meld: truncated, store: join(fx.dir, 'store-trunc') });
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok && outcome.error instanceof WorkflowFailedError);
    const msg = failureMessage(!outcome.ok ? outcome.error : null);
    assert.match(msg, /MELD\.Raw\.truncated\.tar\.gz/);
    assert.equal(progress?.status, 'failed');
    const row = progress?.stages.find((s) => s.dataset === 'meld');
    assert.equal(row?.status, 'failed');
    assert.match(row?.error ?? '', /truncated\.tar\.gz/);
    const attempts = await activityAttempts(fx.env.client, `${handle.workflowId}/acquire/meld`);
    assert.equal(attempts.extractSource, 1, 'non-retryable: one attempt');
    const store = new LocalStore(join(fx.dir, 'store-trunc'));
    assert.equal((await store.list('raw/')).filter((o) => o.key.endsWith('/_COMMIT')).length, 0, 'nothing committed');
  });

  test('a wrong sha256 fails with MerChecksumMismatch and commits nothing', async () => {
    const { outcome } = await run({ meld: meldArchive, meldSha256: 'ab'.repeat(32), store: join(fx.dir, 'store-sha') });
    assert.equal(outcome.ok, false);
    const cause = !outcome.ok ? (outcome.error as WorkflowFailedError) : null;
    assert.match(JSON.stringify(causeTypes(cause)), /MerChecksumMismatch/);
    const store = new LocalStore(join(fx.dir, 'store-sha'));
    assert.equal((await store.list('raw/')).filter((o) => o.key.endsWith('/_COMMIT')).length, 0);
  });

  test('an unreachable URL (404) fails fast with MerSourceUnreachable and never shows the link token', async () => {
    const http = await startArchiveServer([meldArchive]);
    try {
      const url = `${http.urlOf(meldArchive).replace('MELD.Raw.tar.gz', 'gone.tar.gz')}?token=s3cr3t`;
      const { outcome, handle } = await run({ meld: url, store: join(fx.dir, 'store-404') });
      assert.equal(outcome.ok, false);
      const err = !outcome.ok ? outcome.error : null;
      assert.match(JSON.stringify(causeTypes(err)), /MerSourceUnreachable/);
      const msg = failureMessage(err);
      assert.match(msg, /gone\.tar\.gz/);
      assert.doesNotMatch(msg, /s3cr3t/);
      const history = JSON.stringify(
        (await fx.env.client.workflow.getHandle(`${handle.workflowId}/acquire/meld`).fetchHistory()).events,
      );
      assert.doesNotMatch(history.replace(/"url":"[^"]*"/g, ''), /s3cr3t.*404/, 'failure text carries no token');
    } finally {
      await http.close();
    }
  });
});

describe('cancellation', () => {
  test('cancelling a run stops the download activity and marks the run cancelled', async () => {
    const http = await startArchiveServer([meldArchive], { bytesPerSecond: 128 * 1024 });
    try {
      const { outcome, progress } = await run(
        { meld: http.urlOf(meldArchive), store: join(fx.dir, 'store-cancel'), chunkMiB: 0.25, heartbeatTimeoutSec: 2 },
        {
          whileRunning: async (handle) => {
            const deadline = Date.now() + 30_000;
            while (http.bytesServed() < 200 * 1024 && Date.now() < deadline)
              await new Promise((r) => setTimeout(r, 50));
            await handle.cancel();
          },
        },
      );
      assert.equal(outcome.ok, false);
      assert.match(JSON.stringify(causeTypes(!outcome.ok ? outcome.error : null)), /Cancel/i);
      assert.equal(progress?.status, 'cancelled');
      const served = http.bytesServed();
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(http.bytesServed(), served, 'no bytes fetched after cancellation');
      assert.ok(served < readFileSync(meldArchive).length, 'stopped before the end of the file');
    } finally {
      await http.close();
    }
  });
});

describe('the same pipeline on the S3 store', () => {
  test('acquires IEMOCAP from a folder into a real S3-compatible server', async () => {
    const { outcome } = await run({
      iemocap: fx.folder('iemocap'),
      store: `s3://${s3.bucket}/runs/ci`,
      s3Endpoint: s3.endpoint,
    });
    assert.ok(outcome.ok, outcome.ok ? '' : failureMessage(outcome.error));
    const d = outcome.result.datasets.iemocap;
    const store = createStore(s3.spec.prefix ? { ...s3.spec, prefix: 'runs/ci' } : { ...s3.spec, prefix: 'runs/ci' });
    const rows = arrowTableToRows(parquetToTable(await store.get(d.manifestKey)));
    const truth = JSON.parse(readFileSync(join(fx.dir, 'iemocap', 'synth-truth.json'), 'utf8')) as {
      utterances: unknown[];
    };
    assert.equal(rows.length, truth.utterances.length);
    const withAudio = rows.find((r) => r.audioKey);
    assert.ok(
      withAudio?.audioKey && (await store.exists(withAudio.audioKey)),
      'media keys point at objects in the bucket',
    );
  });
});

function causeTypes(err: unknown): string[] {
  const out: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 8 && e && typeof e === 'object'; i++) {
    out.push(String((e as { type?: string }).type ?? (e as { name?: string }).name));
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}
