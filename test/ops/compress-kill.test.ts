/**
 * Fault suite (compress, issue 8): the cpu-queue worker process is SIGKILLed while a
 * compressVisualShard activity has stored part of its shard under `_partial/`, a fresh worker process
 * takes over. The retry continues after the stored chunks (its report's resumedFrom > 0), computes
 * again at most the one chunk that was in flight, leaves nothing under `_partial/`, and the committed
 * VSC output is the same, object for object, as an undisturbed run's into another store.
 *
 * The pipeline has no setting for the chunk size (`chunkUtterances`, 64 utterances: more than this
 * tiny corpus has per shard), so the child workers get it through a test hook
 * (test/helpers/inference-log.ts installCompressHooks: injected into the activity input where the
 * worker registers its activities), which also logs each `_partial/` chunk before it is written and,
 * in the worker to be killed, pauses there: the kill lands between computing a chunk and storing it.
 * The undisturbed run keeps the default chunk size, so the equality also shows that chunking and
 * resuming change no output.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CompressShardInput, CompressShardResult } from '../../activities/compress/activities.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { COMMIT_FILE, type ObjectStore } from '../../activities/store/types.ts';
import { vscPartialPrefix, vscPrefix, vscShardCommitPrefix } from '../../schemas/layout.ts';
import type { PipelineInput, PipelineResult } from '../../schemas/config.ts';
import { compressWorkflowId } from '../../workflows/compress.ts';
import { activityRuns, pendingActivity, within } from '../helpers/activity-history.ts';
import { untilKillPoint } from '../helpers/child-worker.ts';
import { COMPRESS_CHUNK_ENV, COMPRESS_SLOW_ENV, loggedWorker, readCompressChunks } from '../helpers/inference-log.ts';
import { inProcessWorkers, tinyEncoderInput } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

/** Shards of 25 utterances (two for the tiny corpus), stored in chunks of 5 by the child workers. */
const SHARD_SIZE = 25;
const CHUNK = 5;
/** Pause before each chunk the first worker stores, so a shard lasts seconds on any machine. */
const SLOW_CHUNK_MS = 400;
const HEARTBEAT_TIMEOUT_SEC = 3;
const PREFIX = 'cmp-kill';

const fx = pipelineTest({ name: 'compress-kill', seed: 5, iemocap: 'archive' });

/** The run config: tiny encoders, 4 frames per utterance, shards of 25; `parallelism` shards at a time. */
function pipelineInput(
  until: 'extract' | 'compress',
  storeRoot: string,
  taskQueuePrefix: string,
  parallelism: number,
): Promise<PipelineInput> {
  const flags = { iemocap: fx.archive('iemocap'), store: storeRoot, until, taskQueuePrefix };
  // Shards below the config minimum (for a tiny corpus); shard size and parallelism are in no cache key.
  return tinyEncoderInput(
    fx.dir,
    { ...flags, heartbeatTimeoutSec: HEARTBEAT_TIMEOUT_SEC },
    { segment: { shardSize: SHARD_SIZE, parallelism } },
  );
}

/** Runs a pipeline to the end with every queue served in this process. */
async function runHere(input: PipelineInput): Promise<PipelineResult> {
  return (await fx.start(input)).done;
}

/** Wall-clock values, and the resume point (which is what differs between a resumed and an undisturbed shard). */
const VARYING = new Set(['committedAt', 'seconds', 'utterancesPerSecond', 'resumedFrom']);
function withoutVarying(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutVarying);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VARYING.has(k))
        .map(([k, x]) => [k, withoutVarying(x)]),
    );
  return v;
}

/** sha256 of every object under the VSC output; JSON (report, commit markers) without its varying fields. */
async function vscDigests(store: ObjectStore, vscKey: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of await store.list(`${vscPrefix(vscKey)}/`)) {
    let body = await store.get(o.key);
    if (o.key.endsWith(`/${COMMIT_FILE}`) || o.key.endsWith('.json'))
      body = Buffer.from(JSON.stringify(withoutVarying(JSON.parse(body.toString('utf8')))));
    out[o.key] = createHash('sha256').update(body).digest('hex');
  }
  return out;
}

/** Stored `_partial/` chunks, by shard name. */
async function partialChunks(store: ObjectStore, vscKey: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const listed = await store.list(`${vscPrefix(vscKey)}/_partial/`).catch(() => []);
  for (const o of listed) {
    const m = /\/_partial\/([^/]+)\/\d{8}-\d{8}\.parquet$/.exec(o.key);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), o.key]);
  }
  return out;
}

/** Logged chunk keys (computed, stored or about to be) by shard name. */
function loggedChunks(file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const key of readCompressChunks(file).keys) {
    const m = /\/_partial\/([^/]+)\/\d{8}-\d{8}\.parquet$/.exec(key);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), key]);
  }
  return out;
}

interface ShardActivity {
  shard: string;
  attempt: number;
  result?: CompressShardResult;
}

/** Every compressVisualShard activity of the compress child: shard, last attempt and result. */
async function shardActivities(workflowId: string): Promise<ShardActivity[]> {
  const runs = await activityRuns<CompressShardInput, CompressShardResult>(
    fx.env.client,
    workflowId,
    'compressVisualShard',
  );
  return runs.map((a) => ({ shard: a.input.shard, attempt: a.attempt, ...(a.result ? { result: a.result } : {}) }));
}

/** The pending compressVisualShard activity: attempt and last heartbeat (null when none). */
const pendingShard = (workflowId: string) => pendingActivity(fx.env.client, workflowId, 'compressVisualShard');

describe('fault suite (compress)', () => {
  test(
    'the cpu worker is SIGKILLed mid-shard: a fresh worker resumes after the stored chunks, redoes at most one, and the output equals an undisturbed run',
    { timeout: 180_000 },
    async () => {
      const t0 = Date.now();
      const storeRoot = join(fx.dir, 'store');
      const baselineRoot = join(fx.dir, 'store-baseline');
      const logs = { first: join(fx.dir, 'compress-first.log'), fresh: join(fx.dir, 'compress-fresh.log') };
      const worker = (log: string, slow: boolean) =>
        fx.spawnWorker(
          loggedWorker(PREFIX, 'cpu', log, {
            [COMPRESS_CHUNK_ENV]: String(CHUNK),
            ...(slow ? { [COMPRESS_SLOW_ENV]: String(SLOW_CHUNK_MS) } : {}),
          }),
        );
      // The worker to be killed starts now: its start-up overlaps the stages before compress (it idles on its own queue).
      const first = worker(logs.first, true);

      // acquire -> extract, undisturbed, in this process; the baseline store is a copy of it.
      const pre = await runHere(await pipelineInput('extract', storeRoot, `${PREFIX}-pre`, 2));
      assert.equal(pre.features!.iemocap.modalities.visual.shardKeys.length, 2, 'two visual shards');
      await cp(storeRoot, baselineRoot, { recursive: true });
      const preMs = Date.now() - t0;

      // The undisturbed compress run, in this process, into the copy (default chunk size).
      const tBase = Date.now();
      const base = await runHere(await pipelineInput('compress', baselineRoot, `${PREFIX}-base`, 1));
      const baselineMs = Date.now() - tBase;
      const baseOut = base.compressed!.iemocap.outputs[0];
      assert.equal(baseOut.ran, true);
      const vscKey = baseOut.vscKey;

      // The run whose cpu worker dies: workflows and gpu activities here, cpu activities (compress) in the child.
      const input = await pipelineInput('compress', storeRoot, PREFIX, 1);
      await first.ready();
      const store = new LocalStore(storeRoot);
      const wfWorkers = [
        ...(await inProcessWorkers(fx.env, input, { queues: ['cpu'], activities: false })),
        ...(await inProcessWorkers(fx.env, input, { queues: ['gpu'], workflows: false })),
      ];
      const { handle, done } = await fx.start(input, wfWorkers);
      const compressId = compressWorkflowId(handle.workflowId, 'iemocap');

      // Kill once a shard has stored two chunks and the worker has computed the next one (logged before
      // its pause, which comes before the write): the kill lands between computing and storing it.
      const [shard, storedAtKill] = await untilKillPoint(first, 'no shard stored two chunks', 90_000, async () => {
        const stored = await partialChunks(store, vscKey);
        const computed = loggedChunks(logs.first);
        return [...stored].find(([s, keys]) => keys.length >= 2 && (computed.get(s)?.length ?? 0) > keys.length);
      });
      await first.kill('SIGKILL');
      const killedAt = Date.now();
      const fresh = worker(logs.fresh, false);
      // Until the heartbeat timeout the dead attempt is still the pending one, with its last heartbeat.
      const pending = await pendingShard(compressId);

      // What the dead worker left: stored chunks of one uncommitted shard, still pending at attempt 1.
      const left = await partialChunks(store, vscKey);
      assert.deepEqual([...left.keys()], [shard], 'one shard in progress');
      assert.deepEqual(left.get(shard), storedAtKill, 'no chunk was stored after the kill');
      assert.equal(await store.committed(vscShardCommitPrefix(vscKey, shard)), null, 'the shard was not committed');
      assert.ok(pending, 'the killed shard is a pending compressVisualShard activity');
      assert.equal(pending.attempt, 1);
      const computedAtKill = loggedChunks(logs.first).get(shard)!;

      const result = await within(
        done,
        60_000,
        async () =>
          `the run did not finish within 60 s of the kill; pending ${JSON.stringify(await pendingShard(compressId))}; fresh worker stderr: ${fresh.stderr()}`,
      );
      const recoveredMs = Date.now() - killedAt;
      await fresh.kill('SIGTERM');

      // The run completed: the stages before were reused, compress ran with the same key.
      const out = result.compressed!.iemocap.outputs[0];
      assert.equal(out.ran, true);
      assert.equal(out.vscKey, vscKey, 'the same VSC configuration and input features as the undisturbed run');
      for (const m of ['text', 'audio', 'visual'] as const)
        assert.equal(result.features!.iemocap.modalities[m].ran, false, `${m} features reused`);
      assert.deepEqual({ ...out, seconds: 0 }, { ...baseOut, seconds: 0 }, 'same stage result as the undisturbed run');

      // Committed outputs: every object the same as in the undisturbed run; no chunk left.
      const [got, want] = [await vscDigests(store, vscKey), await vscDigests(new LocalStore(baselineRoot), vscKey)];
      assert.equal(
        Object.keys(want).length,
        2 * 2 + 2,
        'per shard its file and commit marker; the report and the stage commit',
      );
      assert.deepEqual(got, want, 'every committed VSC object has the same content as in the undisturbed run');
      assert.deepEqual(await store.list(`${vscPrefix(vscKey)}/_partial/`), [], 'nothing left under _partial/');
      assert.deepEqual(await store.list(`${vscPartialPrefix(vscKey, shard)}/`), []);

      // Exactly the killed shard was attempted twice, and its retry resumed after the stored chunks.
      const acts = await shardActivities(compressId);
      assert.equal(acts.length, 2, 'one activity per shard');
      const retried = acts.filter((a) => a.attempt > 1);
      assert.deepEqual(
        retried.map((a) => [a.shard, a.attempt]),
        [[shard, 2]],
        `the killed shard alone was retried: ${JSON.stringify(acts.map((a) => [a.shard, a.attempt]))}`,
      );
      const r = retried[0].result!;
      assert.equal(r.skipped, false);
      assert.equal(r.resumedFrom, storedAtKill.length * CHUNK, 'resumed after the stored chunks');
      assert.ok(r.resumedFrom > 0);
      const marker = await store.committed(vscShardCommitPrefix(vscKey, shard));
      assert.equal(
        (marker!.summary as { resumedFrom: number }).resumedFrom,
        r.resumedFrom,
        "the shard's committed report records the resume",
      );
      for (const a of acts.filter((x) => x.shard !== shard)) assert.equal(a.result?.resumedFrom, 0);

      // Redone work: chunks computed more than once over both workers (the same chunk key logged twice).
      const firstLog = readCompressChunks(logs.first);
      const freshLog = readCompressChunks(logs.fresh);
      const all = [...firstLog.keys, ...freshLog.keys];
      const rowsOf = (k: string) => {
        const m = /(\d{8})-(\d{8})\.parquet$/.exec(k)!;
        return Number(m[2]) - Number(m[1]);
      };
      const distinct = new Set(all);
      const redoneChunks = all.length - distinct.size;
      const redoneRows = all.reduce((n, k) => n + rowsOf(k), 0) - [...distinct].reduce((n, k) => n + rowsOf(k), 0);
      const shardRows = acts.map((a) => a.result!.utterances);
      console.log(
        `compress kill: killed in ${shard} with ${storedAtKill.length} of its chunks stored and chunk ${computedAtKill.length} computed ` +
          `(chunks of ${CHUNK}, shards of ${shardRows.join(' and ')} utterances; heartbeat ${JSON.stringify(pending.details)}); resumed from row ${r.resumedFrom}; ` +
          `redone ${redoneChunks} chunk(s), ${redoneRows} utterance(s): first worker ${firstLog.calls} chunks / ${firstLog.items} rows, fresh ${freshLog.calls} / ${freshLog.items}; ` +
          `stages before compress ${preMs} ms, baseline compress run ${baselineMs} ms, recovery after the kill ${recoveredMs} ms, total ${Date.now() - t0} ms`,
      );
      assert.ok(
        redoneChunks <= 1 && redoneRows <= CHUNK,
        `at most one chunk was computed twice: ${redoneChunks} chunk(s), ${redoneRows} rows`,
      );
      assert.equal(
        redoneChunks,
        computedAtKill.length - storedAtKill.length,
        'exactly the chunk in flight at the kill was computed again',
      );
      const freshStarts = freshLog.keys
        .filter((k) => k.includes(`/_partial/${shard}/`))
        .map((k) => Number(/(\d{8})-\d{8}\.parquet$/.exec(k)![1]));
      assert.equal(
        Math.min(...freshStarts),
        r.resumedFrom,
        'the fresh worker computed only the rest of the killed shard',
      );
    },
  );
});
