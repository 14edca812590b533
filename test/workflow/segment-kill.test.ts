import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { LocalStore } from '../../activities/store/local.ts';
import { SegmentReportSchema } from '../../schemas/segment-report.ts';
import { segmentWorkflowId } from '../../workflows/segment.ts';
import { pendingActivity } from '../helpers/activity-history.ts';
import { killChildWorkers, type ChildWorker } from '../helpers/child-worker.ts';
import { ffmpegLog, type FfmpegLog } from '../helpers/ffmpeg-log.ts';
import { pipelineInput } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const fx = pipelineTest({ name: 'seg-kill', seed: 9, meld: 'archive' });
let tools: FfmpegLog;

before(async () => {
  await fx.whenReady();
  // Every ffmpeg/ffprobe start is slowed down until the kill, so a 16-utterance shard runs for several seconds.
  tools = await ffmpegLog(fx.dir, { delaySec: 0.15 });
});

/** The shard activity running now and the cursor of its last heartbeat that reached the server. */
async function runningShard(workflowId: string): Promise<{ cursor: number; attempt: number } | null> {
  const a = await pendingActivity<{ cursor?: number }>(fx.env.client, workflowId, 'segmentShard');
  return a && { cursor: a.details?.cursor ?? 0, attempt: a.attempt };
}

describe('a worker killed mid-shard', () => {
  test('a fresh worker finishes the shard without redoing the utterances already committed', async () => {
    const storeRoot = join(fx.dir, 'store');
    const prefix = 'seg-kill';
    // Shards of 16 (below the config minimum, for a tiny corpus), one at a time: the kill lands in shard 0.
    const input = await pipelineInput(
      { meld: fx.archive('meld'), store: storeRoot, until: 'segment', taskQueuePrefix: prefix, heartbeatTimeoutSec: 3 },
      { segment: { shardSize: 16, parallelism: 1 } },
    );
    // Each in its own process group: the kill takes its ffmpeg children down with it, like a lost machine.
    const spawnWorker = () => fx.spawnWorker({ taskQueuePrefix: prefix, queues: ['cpu'], env: tools.env });
    const children: ChildWorker[] = [];
    try {
      const first = spawnWorker();
      children.push(first);
      const { handle, done } = await fx.start(input, { queues: ['cpu'], activities: false });
      const segmentId = segmentWorkflowId(handle.workflowId, 'meld');

      const deadline = Date.now() + 90_000;
      let seen: { cursor: number; attempt: number } | null = null;
      while (!seen || seen.cursor < 4) {
        assert.ok(Date.now() < deadline, `shard 0 never reported progress (last: ${JSON.stringify(seen)})`);
        await new Promise((r) => setTimeout(r, 100));
        seen = await runningShard(segmentId);
      }
      assert.equal(seen.attempt, 1);
      await first.kill('SIGKILL');
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
      const result = await done;
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
      await killChildWorkers(children);
    }
  });
});
