import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { arrowTableToRows } from '../../schemas/manifest.ts';
import { killChildWorkers, type ChildWorker } from '../helpers/child-worker.ts';
import { startArchiveServer } from '../helpers/http-server.ts';
import { pipelineInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const fx = pipelineTest({ name: 'wf', seed: 7, iemocap: 'archive', meld: 'archive' });

async function runOnce(opts: { store: string; meldUrl: string; meldSha?: string; prefix: string }) {
  const input = await pipelineInput({
    iemocap: fx.archive('iemocap'),
    meld: opts.meldUrl,
    meldSha256: opts.meldSha,
    store: opts.store,
    until: 'acquire',
    chunkMiB: 0.25,
    taskQueuePrefix: opts.prefix,
  });
  return { ...(await runInProcess(fx.env, input)), input };
}

describe('MerPipeline --until acquire', () => {
  test('acquires both corpora; a second run reuses the manifests without downloading or extracting', async () => {
    const meldArchive = fx.archive('meld');
    const http = await startArchiveServer([meldArchive]);
    const storeRoot = join(fx.dir, 'store-a');
    const sha = createHash('sha256').update(readFileSync(meldArchive)).digest('hex');
    try {
      const first = await runOnce({
        store: storeRoot,
        meldUrl: http.urlOf(meldArchive),
        meldSha: sha,
        prefix: 'wf-a',
      });
      const size = readFileSync(meldArchive).length;
      assert.equal(http.bytesServed(), size, 'MELD archive downloaded exactly once');
      for (const ds of ['iemocap', 'meld']) {
        const d = first.result.datasets[ds];
        assert.ok(d, `${ds} result present`);
        assert.deepEqual(d.ran, { download: ds === 'meld', extract: true, manifest: true });
        assert.ok(d.rows > 0);
      }
      assert.equal(first.progress.status, 'completed');
      assert.ok(first.progress.stages.every((s) => s.status === 'done'));

      const store = new LocalStore(storeRoot);
      const iem = arrowTableToRows(parquetToTable(await store.get(first.result.datasets.iemocap.manifestKey)));
      const truth = JSON.parse(readFileSync(join(fx.dir, 'iemocap', 'synth-truth.json'), 'utf8')) as {
        utterances: Array<{ id: string }>;
      };
      assert.equal(iem.length, truth.utterances.length, 'one manifest row per synthetic IEMOCAP turn');
      const meld = arrowTableToRows(parquetToTable(await store.get(first.result.datasets.meld.manifestKey)));
      assert.ok(meld.every((r) => r.utteranceId.startsWith('meld_')));
      const rawObjects = (await store.list('raw/')).length;

      const served = http.bytesServed();
      const second = await runOnce({
        store: storeRoot,
        meldUrl: http.urlOf(meldArchive),
        meldSha: sha,
        prefix: 'wf-a',
      });
      assert.equal(http.bytesServed(), served, 'no byte downloaded on the second run');
      for (const ds of ['iemocap', 'meld']) {
        assert.deepEqual(second.result.datasets[ds].ran, { download: false, extract: false, manifest: false });
        assert.equal(second.result.datasets[ds].manifestKey, first.result.datasets[ds].manifestKey);
      }
      assert.equal((await store.list('raw/')).length, rawObjects, 'nothing extracted again');
      assert.ok(second.progress.stages.every((s) => s.status === 'skipped'));
    } finally {
      await http.close();
    }
  });
});

describe('a worker killed mid-download', () => {
  test('a fresh worker resumes the download from the last stored part', async () => {
    const meldArchive = fx.archive('meld');
    const size = readFileSync(meldArchive).length;
    const chunk = 0.25 * 1024 * 1024;
    assert.ok(size > 3 * chunk, `synthetic MELD archive (${size} B) must span several download parts`);
    const http = await startArchiveServer([meldArchive], { bytesPerSecond: 384 * 1024 });
    const storeRoot = join(fx.dir, 'store-kill');
    const prefix = 'wf-kill';
    const spawnWorker = () => fx.spawnWorker({ taskQueuePrefix: prefix, queues: ['cpu'] });
    const children: ChildWorker[] = [];
    try {
      const input = await pipelineInput({
        meld: http.urlOf(meldArchive),
        store: storeRoot,
        until: 'acquire',
        chunkMiB: 0.25,
        taskQueuePrefix: prefix,
        heartbeatTimeoutSec: 3,
      });
      const first = spawnWorker();
      children.push(first);
      // This process runs workflow tasks only; activities run in the child worker we kill.
      const { done } = await fx.start(input, { queues: ['cpu'], activities: false });
      const deadline = Date.now() + 60_000;
      while (http.bytesServed() < 2.5 * chunk) {
        assert.ok(Date.now() < deadline, 'download did not start within 60 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      await first.kill('SIGKILL');
      const servedBeforeKill = http.bytesServed();
      assert.ok(servedBeforeKill < size, 'killed before the download finished');
      children.push(spawnWorker());
      const result = await done;
      const resumed = http.requests.filter((r) => r.rangeStart > 0);
      assert.ok(resumed.length >= 1, 'the new worker asked for a byte range');
      assert.equal(resumed[0].rangeStart % chunk, 0, 'resumed at a part boundary');
      assert.ok(resumed[0].rangeStart >= chunk, 'at least one stored part was kept');
      const total = http.bytesServed();
      assert.ok(total <= size + chunk + 64 * 1024, `redone work bounded by one part: served ${total} for ${size}`);
      assert.equal(result.datasets.meld.ran.download, true);
      const rows = arrowTableToRows(
        parquetToTable(await new LocalStore(storeRoot).get(result.datasets.meld.manifestKey)),
      );
      assert.ok(rows.length > 0);
    } finally {
      await killChildWorkers(children);
      await http.close();
    }
  });
});
