import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { LocalStore } from '../../activities/store/local.ts';
import { buildRunConfig, toPipelineInput } from '../../cli/config.ts';
import { startPipeline } from '../../cli/run.ts';
import { synthesize } from '../../cli/synth/index.ts';
import { SegmentReportSchema } from '../../schemas/segment-report.ts';
import { createMerWorkers, runWorkers } from '../../workers/factory.ts';
import { ffmpegLog, type FfmpegLog } from '../helpers/ffmpeg-log.ts';
import { startTemporal } from '../helpers/temporal.ts';

let env: TestWorkflowEnvironment;
let dir: string;
let meldArchive: string;
let tools: FfmpegLog;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seg-kill-'));
  meldArchive = (await synthesize({ dataset: 'meld', out: join(dir, 'meld'), archive: true, seed: 9, scale: 'tiny' }))
    .archive!;
  // Every ffmpeg/ffprobe start is slowed down until the kill, so a 16-utterance shard runs for several seconds.
  tools = await ffmpegLog(dir, { delaySec: 0.15 });
  env = await startTemporal();
});

after(async () => {
  await env?.teardown();
  await rm(dir, { recursive: true, force: true });
});

/** The shard activity running now and the cursor of its last heartbeat that reached the server. */
async function runningShard(workflowId: string): Promise<{ cursor: number; attempt: number } | null> {
  try {
    const d = await env.client.workflow.getHandle(workflowId).describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'segmentShard') continue;
      const data = a.heartbeatDetails?.payloads?.[0]?.data;
      const details = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { cursor?: number }) : {};
      return { cursor: details.cursor ?? 0, attempt: a.attempt ?? 1 };
    }
  } catch {
    // the child workflow does not exist yet
  }
  return null;
}

describe('a worker killed mid-shard', () => {
  test('a fresh worker finishes the shard without redoing the utterances already committed', async () => {
    const storeRoot = join(dir, 'store');
    const prefix = 'seg-kill';
    const { config, baseDir } = buildRunConfig(undefined, {
      meld: meldArchive,
      store: storeRoot,
      until: 'segment',
      taskQueuePrefix: prefix,
      heartbeatTimeoutSec: 3,
    });
    const base = toPipelineInput(config, baseDir, true);
    // Shards of 16 (below the config minimum, for a tiny corpus), one at a time: the kill lands in shard 0.
    const input = { ...base, segment: { ...base.segment!, shardSize: 16, parallelism: 1 } };
    const spawnWorker = (): ChildProcess =>
      spawn(
        process.execPath,
        ['cli/mer.mjs', 'worker', '--queue', 'cpu', '--no-workflows', '--task-queue-prefix', prefix],
        {
          env: { ...process.env, ...tools.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
          stdio: ['ignore', 'ignore', 'pipe'],
          // Its own process group: the kill takes its ffmpeg children down with it, like a lost machine.
          detached: true,
        },
      );
    const children: ChildProcess[] = [];
    try {
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
      const segmentId = `${handle.workflowId}/segment/meld`;

      const deadline = Date.now() + 90_000;
      let seen: { cursor: number; attempt: number } | null = null;
      while (!seen || seen.cursor < 4) {
        assert.ok(Date.now() < deadline, `shard 0 never reported progress (last: ${JSON.stringify(seen)})`);
        await new Promise((r) => setTimeout(r, 100));
        seen = await runningShard(segmentId);
      }
      assert.equal(seen.attempt, 1);
      process.kill(-first.pid!, 'SIGKILL');
      if (first.exitCode === null && first.signalCode === null) await once(first, 'exit');
      // Give orphaned grandchildren (if any escaped the group) no chance to skew the counts below.
      await new Promise((r) => setTimeout(r, 300));

      const store = new LocalStore(storeRoot);
      const rowObjects = (await store.list('segments/')).filter((o) => /\/rows\/[^/]+\.json$/.test(o.key));
      const committed = new Map<string, { ino: number; mtimeMs: number }>();
      for (const o of rowObjects) {
        const s = await stat(join(storeRoot, o.key));
        committed.set(o.key, { ino: s.ino, mtimeMs: s.mtimeMs });
      }
      assert.ok(
        committed.size >= seen.cursor,
        `at least the heartbeat cursor's ${seen.cursor} utterances are committed (${committed.size})`,
      );
      assert.ok(committed.size < 16, 'killed part way through the shard');
      const invocationsAtKill = (await tools.lines()).length;
      await tools.slow(false);

      children.push(spawnWorker());
      const result = (await done)!;
      const seg = result.segments!.meld;
      assert.equal(seg.ran, true);

      // Not one committed utterance was cut again: no ffmpeg/ffprobe run named its clip, its row object untouched.
      const later = (await tools.lines()).slice(invocationsAtKill);
      assert.ok(later.length > 0, 'the fresh worker did the remaining work');
      for (const [key, before] of committed) {
        const m = /rows\/meld_(train|dev|test)_(dia\d+_utt\d+)\.json$/.exec(key)!;
        const clip = `/${m[2]}.mp4`;
        assert.ok(
          !later.some((l) => l.includes(clip) && l.includes(m[1] === 'train' ? 'train_splits' : m[1])),
          `${m[2]} (${m[1]}) was not decoded again`,
        );
        const now = await stat(join(storeRoot, key));
        assert.deepEqual({ ino: now.ino, mtimeMs: now.mtimeMs }, before, `${key} not rewritten`);
      }

      const report = SegmentReportSchema.parse(JSON.parse((await store.get(seg.reportKey)).toString('utf8')));
      const shard0 = report.shards[0];
      assert.ok(
        shard0.resumedFrom >= seen.cursor,
        `the retry started from the heartbeat cursor (${shard0.resumedFrom})`,
      );
      const committedInShard0 = [...committed.keys()].length;
      assert.equal(shard0.reused, committedInShard0, 'the retry reused exactly the committed utterances');
      assert.equal(shard0.produced, shard0.rows - shard0.reused);
      assert.equal(report.utterances, result.datasets.meld.rows);
      assert.equal(report.ok + report.quarantined, report.utterances);
      assert.equal(await runningShard(segmentId), null);
    } finally {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          try {
            process.kill(-c.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    }
  });
});
