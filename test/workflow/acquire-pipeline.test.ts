import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { buildRunConfig, toPipelineInput } from '../../cli/config.ts';
import { startPipeline } from '../../cli/run.ts';
import { synthesize } from '../../cli/synth/index.ts';
import { arrowTableToRows } from '../../schemas/manifest.ts';
import { createMerWorkers, runWorkers } from '../../workers/factory.ts';
import { startArchiveServer } from '../helpers/http-server.ts';
import { runInProcess } from '../helpers/pipeline.ts';
import { startTemporal } from '../helpers/temporal.ts';

let env: TestWorkflowEnvironment;
let dir: string;
let iemocapArchive: string;
let meldArchive: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-wf-'));
  const [i, m] = await Promise.all([
    synthesize({ dataset: 'iemocap', out: join(dir, 'iemocap'), archive: true, seed: 7, scale: 'tiny' }),
    synthesize({ dataset: 'meld', out: join(dir, 'meld'), archive: true, seed: 7, scale: 'tiny' }),
  ]);
  iemocapArchive = i.archive!;
  meldArchive = m.archive!;
  env = await startTemporal();
});

after(async () => {
  await env?.teardown();
  await rm(dir, { recursive: true, force: true });
});

async function runOnce(opts: { store: string; meldUrl: string; meldSha?: string; prefix: string }) {
  const { config, baseDir } = buildRunConfig(undefined, {
    iemocap: iemocapArchive,
    meld: opts.meldUrl,
    meldSha256: opts.meldSha,
    store: opts.store,
    until: 'acquire',
    chunkMiB: 0.25,
    taskQueuePrefix: opts.prefix,
  });
  const input = toPipelineInput(config, baseDir, true);
  return { ...(await runInProcess(env, input)), input };
}

describe('MerPipeline --until acquire', () => {
  test('acquires both corpora; a second run reuses the manifests without downloading or extracting', async () => {
    const http = await startArchiveServer([meldArchive]);
    const storeRoot = join(dir, 'store-a');
    const sha = createHash('sha256').update(readFileSync(meldArchive)).digest('hex');
    try {
      const first = await runOnce({ store: storeRoot, meldUrl: http.urlOf(meldArchive), meldSha: sha, prefix: 'wf-a' });
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
      const truth = JSON.parse(readFileSync(join(dir, 'iemocap', 'synth-truth.json'), 'utf8')) as {
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
    const { spawn } = await import('node:child_process');
    const size = readFileSync(meldArchive).length;
    const chunk = 0.25 * 1024 * 1024;
    assert.ok(size > 3 * chunk, `synthetic MELD archive (${size} B) must span several download parts`);
    const http = await startArchiveServer([meldArchive], { bytesPerSecond: 384 * 1024 });
    const storeRoot = join(dir, 'store-kill');
    const prefix = 'wf-kill';
    const spawnWorker = () =>
      spawn(
        process.execPath,
        ['cli/mer.mjs', 'worker', '--queue', 'cpu', '--no-workflows', '--task-queue-prefix', prefix],
        {
          env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
    const children: ReturnType<typeof spawn>[] = [];
    try {
      const { config, baseDir } = buildRunConfig(undefined, {
        meld: http.urlOf(meldArchive),
        store: storeRoot,
        until: 'acquire',
        chunkMiB: 0.25,
        taskQueuePrefix: prefix,
        heartbeatTimeoutSec: 3,
      });
      const input = toPipelineInput(config, baseDir, true);
      // This process runs workflow tasks only; activities run in the child worker we kill.
      const wfWorkers = await createMerWorkers({
        connection: env.nativeConnection,
        namespace: 'default',
        taskQueues: input.temporal.taskQueues,
        queues: ['cpu'],
        workflows: true,
        activities: false,
      });
      const first = spawnWorker();
      children.push(first);
      const { handle } = await startPipeline(env.client, input);
      const done = runWorkers(wfWorkers, handle.result());
      const deadline = Date.now() + 60_000;
      while (http.bytesServed() < 2.5 * chunk) {
        assert.ok(Date.now() < deadline, 'download did not start within 60 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      first.kill('SIGKILL');
      const servedBeforeKill = http.bytesServed();
      assert.ok(servedBeforeKill < size, 'killed before the download finished');
      children.push(spawnWorker());
      const result = (await done)!;
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
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await http.close();
    }
  });
});
