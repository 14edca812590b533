/**
 * Timeouts, retries and cancellation on skipped time: a dead worker noticed by the 60 s heartbeat
 * timeout and its shard retried on another worker; ten attempts with exponential backoff ending in a
 * typed failure that `mer status` explains; a pipeline cancelled while its children wait on retry
 * backoff timers, after which nothing more is scheduled.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, RetryState } from '@temporalio/common';
import { renderStatus, runStatus } from '../../cli/status.ts';
import { pipelineWorkflowId } from '../../cli/run.ts';
import type { DatasetAcquireResult } from '../../schemas/config.ts';
import type { AcquireDataset } from '../../workflows/acquire.ts';
import type { MerPipeline } from '../../workflows/pipeline.ts';
import { progressQuery } from '../../workflows/progress.ts';
import type { SegmentDataset } from '../../workflows/segment.ts';
import {
  assertClockFree,
  releaseStrayLocks,
  historyOf,
  row,
  startActivityWorkers,
  useTimeSkipping,
  waitFor,
  withActivityWorkers,
} from './env.ts';
import { childBase, pipelineInput } from './inputs.ts';
import { MockActivities, retryable } from './mock-activities.ts';

const ts = useTimeSkipping('retries');

const shardIndex = (input: unknown): number => (input as { shard: { index: number } }).shard.index;

/**
 * Runs the server's clock through a dead worker's heartbeat timeout to `until` (before the retry),
 * then holds it while `settled` waits for the workflow to finish, and gives the clock back balanced.
 *
 * The test server counts locks on its clock (its log of lock events, printed on an unbalanced unlock,
 * names each): one for the client (taken back whenever `result()` or `sleep()` returns), one per open
 * activity attempt, and short ones around each workflow task. A running attempt thus holds the clock,
 * and an attempt that never reports would take its 60 s heartbeat timeout in real time. So the test
 * lifts one lock and runs the clock to `until`; the timeout fires and gives the attempt's lock back,
 * which the server counts or not depending on a race with the end of that run (measured: about 8
 * runs in 10 not). The test then holds the clock itself while the retry runs (about 0.2 s of real
 * backoff) and, once the workflow is done and no attempt is open, gives back the one lock too many
 * if there is one: a lock count of 2 shows as a short sleep taking real time.
 */
async function outliveDeadAttempt(until: number, settled: () => Promise<unknown>): Promise<void> {
  const { env } = ts;
  const service = env.connection.testService!;
  await service.unlockTimeSkipping({});
  await env.sleep(until - (await env.currentTimeMs()));
  await service.lockTimeSkipping({});
  await settled();
  await releaseStrayLocks(ts, 1);
}

describe('timeouts, retries and cancellation on skipped time', () => {
  test('a worker dies mid-shard: the 60 s heartbeat timeout notices it and another worker retries the shard', async () => {
    const { env } = ts;
    const mocks = new MockActivities({ iemocap: { utterances: 300 } }, { clock: () => env.currentTimeMs() });
    // Worker A's shard attempts hang without heartbeating, deaf to cancellation: a machine gone dark.
    const dead = mocks.hang();
    mocks.on('segmentShard', (c) => (c.worker === 'A' ? dead(c) : undefined));
    const input = pipelineInput({
      queues: ts.queues,
      datasets: ['iemocap'],
      until: 'segment',
      segment: { shardSize: 128, parallelism: 1 },
    });
    assert.equal(input.temporal.heartbeatTimeoutSec, 60);
    const base = childBase(input);
    const a = await startActivityWorkers(ts, {
      activities: mocks.forWorker('A'),
      identity: 'worker-A',
      kinds: ['cpu'],
    });
    let stoppingA: Promise<void> | undefined;
    try {
      const acquired: DatasetAcquireResult = await env.client.workflow.execute<typeof AcquireDataset>(
        'AcquireDataset',
        {
          taskQueue: ts.queues.cpu,
          workflowId: 'hb/acquire/iemocap',
          args: [{ ...base, plan: input.datasets[0], store: input.store, acquire: input.acquire }],
        },
      );
      const handle = ts.track(
        await env.client.workflow.start<typeof SegmentDataset>('SegmentDataset', {
          taskQueue: ts.queues.cpu,
          workflowId: 'hb/segment/iemocap',
          args: [{ ...base, dataset: 'iemocap', acquired, store: input.store, segment: input.segment! }],
        }),
      );
      const first = await waitFor('worker A to take shard 0', () => mocks.calls('segmentShard')[0]);
      stoppingA = a.stop(); // A polls no more; its hung attempt never reports
      const t0 = first.startedMs!;
      await withActivityWorkers(
        ts,
        { activities: mocks.forWorker('B'), identity: 'worker-B', kinds: ['cpu'] },
        async () => {
          // To 61.8 s: past the heartbeat timeout (60 s), just before the retry (2 s after it).
          await outliveDeadAttempt(t0 + 61_800, () =>
            waitFor('the segment child to complete', async () =>
              (await handle.describe()).status.name === 'COMPLETED' ? true : undefined,
            ),
          );
          await handle.result();
        },
      );
      const elapsed = (await env.currentTimeMs()) - t0;

      const shard0 = mocks.calls('segmentShard').filter((c) => shardIndex(c.input) === 0);
      assert.deepEqual(
        shard0.map((c) => [c.worker, c.attempt, c.outcome]),
        [
          ['A', 1, 'running'],
          ['B', 2, 'completed'],
        ],
      );
      const waited = shard0[1].startedMs! - shard0[0].startedMs!;
      // Read on the server's clock by the mocks, a few ms after each start.
      assert.ok(waited > 61_900 && waited < 62_500, `retried ${waited} ms later: 60 s without heartbeat, 2 s backoff`);
      assert.ok(elapsed >= 62_000, `${elapsed} ms of workflow time passed`);
      assert.deepEqual(
        mocks.calls('segmentShard').map((c) => [shardIndex(c.input), c.worker]),
        [
          [0, 'A'],
          [0, 'B'],
          [1, 'B'],
          [2, 'B'],
        ],
      );
      // The history records the attempt that completed: the second, by worker B.
      const started = (await historyOf(env, handle.workflowId)).flatMap((e) =>
        e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes] : [],
      );
      assert.equal(Number(started[1].attempt), 2, 'the plan, then shard 0: its second attempt');
      assert.equal(started[1].identity, 'worker-B/cpu');
    } finally {
      mocks.releaseHung();
      await (stoppingA ?? a.stop());
    }
    await assertClockFree(ts);
  });

  test('a shard failing every attempt: 10 attempts on exponential backoff, then a typed failure that mer status explains', async () => {
    const { env } = ts;
    const storeRoot = await mkdtemp(join(tmpdir(), 'mer-timeskip-'));
    const mocks = new MockActivities({ iemocap: { utterances: 300 } }, { clock: () => env.currentTimeMs() });
    const message = 'ffmpeg was killed (SIGKILL) cutting Ses01F_impro02_F003 in shard 00001';
    mocks.on('segmentShard', (c) => {
      if (shardIndex(c.input) === 1) retryable(message);
    });
    const input = pipelineInput({
      queues: ts.queues,
      datasets: ['iemocap'],
      until: 'segment',
      segment: { shardSize: 128 },
      storeRoot,
    });
    assert.equal(input.temporal.activityMaxAttempts, 10);
    try {
      await withActivityWorkers(ts, { activities: mocks.forWorker() }, async () => {
        const handle = ts.track(
          await env.client.workflow.start<typeof MerPipeline>('MerPipeline', {
            taskQueue: ts.queues.cpu,
            workflowId: pipelineWorkflowId(input.configHash),
            args: [input],
          }),
        );
        const err = await handle.result().then(
          () => assert.fail('the run must fail'),
          (e: unknown) => e,
        );
        // MerStageFailed <- the segment child <- the activity, out of retries <- the shard's own failure.
        assert.ok(err instanceof WorkflowFailedError);
        const stage = err.cause;
        assert.ok(stage instanceof ApplicationFailure && stage.type === 'MerStageFailed' && stage.nonRetryable);
        assert.ok(stage.cause instanceof ChildWorkflowFailure);
        const act = stage.cause.cause;
        assert.ok(act instanceof ActivityFailure);
        assert.equal(act.activityType, 'segmentShard');
        assert.equal(act.retryState, RetryState.MAXIMUM_ATTEMPTS_REACHED);
        assert.ok(act.cause instanceof ApplicationFailure);
        assert.equal(act.cause.type, 'MockTransientError');
        assert.equal(act.cause.message, message);
        assert.match(stage.message, /Ses01F_impro02_F003 in shard 00001/);

        const attempts = mocks
          .calls('segmentShard')
          .filter((c) => (c.input as { shard: { index: number } }).shard.index === 1);
        assert.deepEqual(
          attempts.map((c) => c.attempt),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        );
        // 2 s doubling, capped at 2 minutes: 8 minutes of workflow time in all.
        const waits = attempts.slice(1).map((c, i) => Math.round((c.startedMs! - attempts[i].startedMs!) / 1000));
        assert.deepEqual(waits, [2, 4, 8, 16, 32, 64, 120, 120, 120]);

        // The progress query answers after the failure, and the failed row carries the message.
        const p = await handle.query(progressQuery);
        assert.equal(p.status, 'failed');
        assert.equal(row(p, 'iemocap', 'segment').status, 'failed');
        assert.equal(row(p, 'iemocap', 'segment').error, message);
        assert.equal(row(p, 'iemocap', 'acquire').status, 'done');

        // mer status, read from the history as `mer status <run>` does.
        const s = await runStatus(env.client, input.configHash);
        assert.equal(s.status, 'FAILED');
        // mer status says that every attempt failed, not only the last message.
        const explained = `${message} (activity segmentShard failed every attempt up to temporal.activityMaxAttempts; fix the cause, then mer resume)`;
        assert.equal(s.failure, explained);
        const seg = s.stages.find((r) => r.stage === 'segment')!;
        assert.deepEqual([seg.status, seg.error], ['failed', explained]);
        const lines = renderStatus(s);
        const text = lines.join('\n');
        assert.match(text, new RegExp(`segment\\s+iemocap\\s+failed.*${message.replace(/[()]/g, '\\$&')}`));
        assert.match(text, /acquire\s+iemocap\s+done\s+300 rows/);
        assert.ok(lines.includes(`  failure: ${explained}`), text);
        assert.match(text, new RegExp(`resume: mer resume ${handle.workflowId}`));
      });
    } finally {
      await rm(storeRoot, { recursive: true, force: true });
    }
  });

  test('cancelling the pipeline while its children wait out retry backoff: children cancelled, nothing scheduled after', async () => {
    const { env } = ts;
    const mocks = new MockActivities({ iemocap: { utterances: 300 }, meld: { utterances: 300 } });
    // Each dataset's first training fails once; its retry waits 5 s of backoff (the train stage's first interval).
    mocks.on('trainFold', (c) =>
      c.attempt === 1 ? retryable(`CUDA error: an illegal memory access (${c.dataset})`) : undefined,
    );
    const input = pipelineInput({ queues: ts.queues, segment: { shardSize: 512 }, train: { parallelism: 1 } });
    await withActivityWorkers(ts, { activities: mocks.forWorker() }, async () => {
      const handle = ts.track(
        await env.client.workflow.start<typeof MerPipeline>('MerPipeline', {
          taskQueue: ts.queues.cpu,
          workflowId: pipelineWorkflowId(input.configHash),
          args: [input],
        }),
      );
      // Time is not skipped until something awaits the result: both trainings are now in backoff.
      await waitFor('both first trainings to fail', () =>
        mocks.calls('trainFold').filter((c) => c.outcome === 'failed').length === 2 ? true : undefined,
      );
      await handle.cancel();
      // Waited for on the clock as it is (held): handle.result() would let the server skip to the 5 s
      // retries in a gap of the cancellation's propagation. The pipeline closes at its first child's
      // cancellation; the other's follows (parent close policy).
      const children = ['iemocap', 'meld'].map((d) => env.client.workflow.getHandle(`${handle.workflowId}/train/${d}`));
      await waitFor('the pipeline and its train children to close', async () => {
        const states = await Promise.all([handle, ...children].map(async (h) => (await h.describe()).status.name));
        return states.every((s) => s !== 'RUNNING') ? states : undefined;
      });
      assert.equal((await handle.describe()).status.name, 'CANCELLED');
      const err = await handle.result().then(
        () => assert.fail('the run must end cancelled'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      for (const child of children) {
        assert.equal((await child.describe()).status.name, 'CANCELLED', child.workflowId);
        const events = await historyOf(env, child.workflowId);
        assert.ok(events.some((e) => e.workflowExecutionCancelRequestedEventAttributes));
        // The activity was cancelled in its backoff: its retry timer went with it.
        assert.ok(events.some((e) => e.activityTaskCanceledEventAttributes));
        assert.ok(events.at(-1)?.workflowExecutionCanceledEventAttributes);
      }
      const p = await handle.query(progressQuery);
      assert.equal(p.status, 'cancelled');
      for (const dataset of ['iemocap', 'meld'] as const) {
        assert.equal(row(p, dataset, 'train').status, 'cancelled');
        assert.equal(row(p, dataset, 'evaluate').status, 'pending');
      }
      // The test server keeps a lock on its clock for an activity cancelled in its backoff (measured:
      // a 1.5 s sleep then takes 1.5 s of real time): give those back, then skip an hour.
      await releaseStrayLocks(ts, 2);
      await assertClockFree(ts, 3_600_000);
      assert.equal(mocks.stats('trainFold').calls, 2, 'no retry ran');
      assert.equal(mocks.stats('evaluateDataset').calls, 0, 'no evaluate began');
      const parent = await historyOf(env, handle.workflowId);
      const started = parent.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
      assert.ok(!started.some((id) => id.includes('/evaluate/')));
    });
  });
});
