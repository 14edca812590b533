/**
 * Fault suite (extract): the gpu-queue worker process is SIGKILLed while an extractShard activity is
 * encoding, a fresh worker process takes over. The run completes with features identical, object for
 * object, to an undisturbed run of the same config into another store, and the work done twice (encoder
 * calls counted in every worker process) is at most the one batch that was in flight.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ExtractShardInput, ExtractShardResult } from '../../activities/extract/activities.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { COMMIT_FILE, type ObjectStore } from '../../activities/store/types.ts';
import type { PipelineInput, PipelineResult } from '../../schemas/config.ts';
import { EXTRACT_MODALITIES, type Modality } from '../../schemas/extract.ts';
import { extractWorkflowId } from '../../workflows/extract.ts';
import { TINY } from '../extract/inputs.ts';
import {
  loggedWorker,
  INFERENCE_SLOW_ENV,
  installInferenceLog,
  readInferenceLog,
  type InferenceTotals,
} from '../helpers/inference-log.ts';
import { activityRuns, pendingActivity } from '../helpers/activity-history.ts';
import { pipelineInput as buildInput } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

/** Frames per utterance and per visual batch: two utterances a batch, eight batches a 16-utterance shard. */
const FRAMES = 4;
const BATCH_FRAMES = 8;
/** Pause before each visual encoder call of the first worker only, so a shard lasts seconds on any machine. */
const SLOW_VISUAL_MS = 250;
const HEARTBEAT_TIMEOUT_SEC = 3;

const fx = pipelineTest({ name: 'extract-kill', seed: 13, iemocap: 'archive' });

/** The same config for both runs but for the store (and task queues): tiny encoders, few frames, small visual batches. */
async function pipelineInput(name: string): Promise<{ input: PipelineInput; store: LocalStore }> {
  const input = await buildInput(
    {
      iemocap: fx.archive('iemocap'),
      store: join(fx.dir, `store-${name}`),
      until: 'extract',
      taskQueuePrefix: `ext-kill-${name}`,
      heartbeatTimeoutSec: HEARTBEAT_TIMEOUT_SEC,
    },
    {
      file: join(fx.dir, `${name}.json`),
      config: {
        segment: { frames: FRAMES },
        extract: {
          text: { model: TINY.text, batchSize: 4 },
          audio: { model: TINY.audio },
          visual: { model: TINY.visual, batchFrames: BATCH_FRAMES },
        },
      },
      // Shards of 16 (below the config minimum, for a tiny corpus).
      segment: { shardSize: 16, parallelism: 2 },
    },
  );
  return { input, store: new LocalStore(join(fx.dir, `store-${name}`)) };
}

/**
 * sha256 of every committed object under each modality's features prefix; a commit marker is hashed
 * without its timestamp (the one thing that differs between two runs of the same work).
 */
async function featureDigests(store: ObjectStore, result: PipelineResult): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const m of EXTRACT_MODALITIES) {
    const prefix = result.features!.iemocap.modalities[m].featuresPrefix;
    for (const o of await store.list(`${prefix}/`)) {
      let body = await store.get(o.key);
      if (o.key.endsWith(`/${COMMIT_FILE}`)) {
        const marker = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        delete marker.committedAt;
        body = Buffer.from(JSON.stringify(marker));
      }
      out[o.key] = createHash('sha256').update(body).digest('hex');
    }
  }
  return out;
}

/** Stored parts of unfinished visual shards, by shard folder. */
async function visualParts(store: ObjectStore): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const o of await store.list('features/visual/')) {
    const m = /^(features\/visual\/[^/]+\/shards\/[^/]+)\/parts\/\d+\.parquet$/.exec(o.key);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), o.key]);
  }
  return out;
}

interface ShardActivity {
  modality: Modality;
  shardKey: string;
  attempt: number;
  result?: ExtractShardResult;
}

/** Every extractShard activity of a workflow run: its input, last attempt and result. */
async function shardActivities(workflowId: string): Promise<ShardActivity[]> {
  const runs = await activityRuns<ExtractShardInput, ExtractShardResult>(fx.env.client, workflowId, 'extractShard');
  return runs.map((a) => ({
    modality: a.input.modality,
    shardKey: a.input.shardKey,
    attempt: a.attempt,
    ...(a.result ? { result: a.result } : {}),
  }));
}

/** The pending extractShard activity of the extract child (null when none or the child is not there yet). */
const pendingShard = (workflowId: string) => pendingActivity(fx.env.client, workflowId, 'extractShard');

const diff = (a: InferenceTotals, b: InferenceTotals): InferenceTotals => ({
  calls: a.calls - b.calls,
  items: a.items - b.items,
});
const sum = (a: InferenceTotals, b: InferenceTotals): InferenceTotals => ({
  calls: a.calls + b.calls,
  items: a.items + b.items,
});

describe('fault suite (extract)', () => {
  test(
    'the gpu worker is SIGKILLed mid-shard: a fresh worker finishes, features equal an undisturbed run, at most one batch is encoded twice',
    { timeout: 240_000 },
    async () => {
      const t0 = Date.now();
      const { input: killed, store: killedStore } = await pipelineInput('killed');
      const logs = {
        first: join(fx.dir, 'inference-first.log'),
        fresh: join(fx.dir, 'inference-fresh.log'),
        baseline: join(fx.dir, 'inference-baseline.log'),
      };
      const worker = (log: string, env: NodeJS.ProcessEnv = {}) =>
        fx.spawnWorker(loggedWorker('ext-kill-killed', 'gpu', log, env));
      // The worker to be killed starts now: its start-up overlaps the baseline run (it idles on its own queue).
      const first = worker(logs.first, { [INFERENCE_SLOW_ENV]: `visual=${SLOW_VISUAL_MS}` });

      // The undisturbed run, in this process, its encoder calls counted the same way.
      const { input: baseline, store: baselineStore } = await pipelineInput('baseline');
      const uninstall = installInferenceLog(logs.baseline);
      let base: PipelineResult;
      try {
        base = await (await fx.start(baseline)).done;
      } finally {
        uninstall();
      }
      const baselineMs = Date.now() - t0;

      // The run whose gpu worker dies: workflows and cpu activities here, gpu activities in the child.
      await first.ready();
      const { handle, done } = await fx.start(killed, { queues: ['cpu'] });
      const extractId = extractWorkflowId(handle.workflowId, 'iemocap');

      // Kill once a visual shard has stored two of its batches and the worker has started encoding the
      // next one (its call is logged before the pause and the inference, so the kill lands mid-batch).
      const deadline = Date.now() + 120_000;
      let parts = new Map<string, string[]>();
      const inFlight = () => {
        const stored = Math.max(0, ...[...parts.values()].map((p) => p.length));
        return stored >= 2 && readInferenceLog(logs.first).visual.calls > stored;
      };
      while (!inFlight()) {
        assert.ok(
          Date.now() < deadline,
          `no visual shard stored two batches within 120 s; worker stderr: ${first.stderr()}`,
        );
        assert.ok(!first.exited(), `the gpu worker exited on its own: ${first.stderr()}`);
        await new Promise((r) => setTimeout(r, 20));
        parts = await visualParts(killedStore);
      }
      await first.kill('SIGKILL');
      const killedAt = Date.now();
      const fresh = worker(logs.fresh);

      // What the dead worker left: stored parts of exactly one shard, which is still pending at attempt 1.
      parts = await visualParts(killedStore);
      assert.equal(parts.size, 1, `one shard in flight: ${[...parts.keys()].join(', ')}`);
      const [shardFolder, partsAtKill] = [...parts.entries()][0];
      const pending = await pendingShard(extractId);
      assert.ok(pending, 'the killed shard is still a pending extractShard activity');
      assert.equal(pending.attempt, 1);
      const commits = (await killedStore.list('features/')).filter((o) =>
        /^features\/(text|audio)\/[^/]+\/_COMMIT$/.test(o.key),
      );
      assert.equal(commits.length, 2, 'text and audio were committed before the kill');

      const result = await done;
      const recoveredMs = Date.now() - killedAt;
      await fresh.kill('SIGTERM');

      // The run completed with every modality encoded by this run, features equal to the undisturbed run's.
      for (const m of EXTRACT_MODALITIES) {
        const f = result.features!.iemocap.modalities[m];
        assert.equal(f.ran, true);
        assert.deepEqual(
          { ...f },
          { ...base.features!.iemocap.modalities[m] },
          `${m}: same result as the undisturbed run`,
        );
      }
      const [got, want] = [await featureDigests(killedStore, result), await featureDigests(baselineStore, base)];
      assert.equal(
        Object.keys(want).length,
        3 * (2 * result.segments!.iemocap.shardKeys.length + 2),
        'features, commit per shard; report, commit per modality',
      );
      assert.deepEqual(got, want, 'every committed features object has the same content as in the undisturbed run');
      assert.equal((await visualParts(killedStore)).size, 0, 'no stored parts left behind');

      // Exactly the killed shard was attempted twice; the retry reused every batch the dead worker stored.
      const acts = await shardActivities(extractId);
      assert.equal(acts.length, 3 * result.segments!.iemocap.shardKeys.length, 'one activity per shard and modality');
      const retried = acts.filter((a) => a.attempt > 1);
      assert.equal(
        retried.length,
        1,
        `one activity retried: ${JSON.stringify(acts.map((a) => [a.modality, a.shardKey, a.attempt]))}`,
      );
      const r = retried[0];
      assert.equal(r.modality, 'visual');
      assert.equal(r.attempt, 2);
      assert.ok(
        shardFolder.endsWith(
          `/shards/${r.shardKey
            .split('/')
            .pop()!
            .replace(/\.parquet$/, '')}`,
        ),
        `${shardFolder} is the retried shard ${r.shardKey}`,
      );
      assert.ok(r.result && !r.result.skipped);
      assert.equal(r.result.batchesReused, partsAtKill.length, 'the retry reused every stored batch');
      assert.equal(r.result.batchesComputed, r.result.batches - partsAtKill.length, 'and computed only the rest');

      // Redone work: encoder calls of both workers of the killed run beyond those of the undisturbed run.
      const baseTotals = readInferenceLog(logs.baseline);
      const [firstTotals, freshTotals] = [readInferenceLog(logs.first), readInferenceLog(logs.fresh)];
      const redone = Object.fromEntries(
        EXTRACT_MODALITIES.map((m) => [m, diff(sum(firstTotals[m], freshTotals[m]), baseTotals[m])]),
      ) as Record<Modality, InferenceTotals>;
      console.log(
        `extract kill: killed ${partsAtKill.length}/${r.result.batches} batches into ${r.shardKey} (heartbeat ${JSON.stringify(pending.details)}); ` +
          `redone: visual ${redone.visual.items} frames in ${redone.visual.calls} encoder call(s) of ${baseTotals.visual.items} frames / ${baseTotals.visual.calls} calls, ` +
          `text ${redone.text.items}, audio ${redone.audio.items} utterances; first worker ${JSON.stringify(firstTotals)}, fresh ${JSON.stringify(freshTotals)}; ` +
          `baseline run ${baselineMs} ms, recovery after the kill ${recoveredMs} ms`,
      );
      assert.ok(baseTotals.visual.calls >= r.result.batches, 'the baseline counted its encoder calls');
      assert.deepEqual(redone.text, { calls: 0, items: 0 }, 'text (committed before the kill) was not encoded again');
      assert.deepEqual(redone.audio, { calls: 0, items: 0 }, 'audio (committed before the kill) was not encoded again');
      assert.ok(
        redone.visual.calls >= 0 && redone.visual.items >= 0,
        `never less work than the undisturbed run: ${JSON.stringify(redone.visual)}`,
      );
      assert.ok(
        redone.visual.calls <= 1 && redone.visual.items <= BATCH_FRAMES,
        `at most the batch in flight was encoded twice: ${JSON.stringify(redone.visual)}`,
      );
      // The counters agree with the store: the first worker only ever encoded the killed shard's visual
      // batches, and exactly those it had not stored were encoded again.
      assert.equal(redone.visual.calls, firstTotals.visual.calls - partsAtKill.length);
    },
  );
});
