import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { fetchEvents, inputFromHistory, num } from '../../cli/run-history.ts';
import type { RunListing } from '../../cli/runs.ts';
import { renderStatus, type RunStatus } from '../../cli/status.ts';
import { findResetPoint } from '../../cli/resume.ts';
import type { PipelineResult } from '../../schemas/config.ts';
import { progressQuery } from '../../workflows/progress.ts';
import { clusterEnv, runMer } from '../helpers/cli.ts';
import { fileMtimes } from '../helpers/files.ts';
import { startArchiveServer } from '../helpers/http-server.ts';
import { attemptInProcess, pipelineInput } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

let env: TestWorkflowEnvironment;
let dir: string;
let iemocapArchive: string;
let meldArchive: string;
let http: Awaited<ReturnType<typeof startArchiveServer>>;

const fx = pipelineTest({ name: 'resume', seed: 11, iemocap: 'archive', meld: 'archive' });

before(async () => {
  await fx.whenReady();
  ({ env, dir } = fx);
  iemocapArchive = fx.archive('iemocap');
  meldArchive = fx.archive('meld');
  http = await startArchiveServer([iemocapArchive, meldArchive]);
  fx.onTeardown(() => http.close());
});

/**
 * A run in which IEMOCAP acquires fine and MELD's link answers 404 (non-retryable) only after IEMOCAP
 * has committed everything: the run fails with the IEMOCAP outputs in the store. The link is then fixed.
 */
async function failedRun(name: string) {
  const store = join(dir, `store-${name}`);
  const input = await pipelineInput({
    iemocap: http.urlOf(iemocapArchive),
    meld: http.urlOf(meldArchive),
    store,
    until: 'acquire',
    chunkMiB: 1,
    taskQueuePrefix: `resume-${name}`,
    // The held MELD request sends no heartbeats while it waits for IEMOCAP.
    heartbeatTimeoutSec: 45,
  });
  http.hide(meldArchive);
  http.hold(meldArchive);
  const { outcome, handle } = await attemptInProcess(env, input, {
    whileRunning: async (running) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        assert.ok(Date.now() < deadline, 'IEMOCAP did not finish within 60 s');
        const p = await running.query(progressQuery).catch(() => null);
        if (p?.stages.find((s) => s.dataset === 'iemocap')?.status === 'done') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      http.release(meldArchive);
    },
  });
  assert.ok(!outcome.ok, 'the first run fails');
  const failedRunId = (await handle.describe()).runId;
  http.show(meldArchive);
  return { store, input, workflowId: handle.workflowId, failedRunId };
}

function parseResult(stdout: string): PipelineResult {
  return JSON.parse(stdout) as PipelineResult;
}

function ndjson(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('mer resume', () => {
  test('default: a new run of the same input reuses the committed IEMOCAP outputs and acquires MELD', async () => {
    const iemocapSize = readFileSync(iemocapArchive).length;
    const meldSize = readFileSync(meldArchive).length;
    const run = await failedRun('new');
    assert.equal(http.bytesServedFor(iemocapArchive), iemocapSize, 'IEMOCAP downloaded once by the failed run');
    assert.ok(
      http.notFound.some((u) => u.includes('MELD.Raw.tar.gz')),
      'MELD answered 404',
    );
    const rawBefore = await fileMtimes(join(run.store, 'raw', 'iemocap'));
    const manifestsBefore = await fileMtimes(join(run.store, 'datasets', 'iemocap'));

    // status of the failed run: per-stage state rebuilt from the history, the failure named.
    const st = await runMer(['status', run.workflowId, '--json'], { env: clusterEnv(env.address), timeoutMs: 60_000 });
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout) as RunStatus;
    assert.equal(status.status, 'FAILED');
    assert.equal(status.live, false);
    const row = (d: string) => status.stages.find((s) => s.dataset === d && s.stage === 'acquire');
    assert.equal(row('iemocap')?.status, 'done');
    assert.ok((row('iemocap')?.counts.rows ?? 0) > 0, 'IEMOCAP row counts come from the child result');
    assert.equal(row('meld')?.status, 'failed');
    assert.match(row('meld')?.error ?? '', /MELD\.Raw\.tar\.gz/);
    assert.match(status.failure ?? '', /404|MELD/);
    const q = status.quarantined.find((x) => x.dataset === 'iemocap');
    assert.ok(q && !q.unavailable, 'IEMOCAP quarantine report read from the store');
    assert.equal(q.issues + q.skippedEntries >= 0, true);

    const human = renderStatus(status).join('\n');
    assert.match(human, /✖ acquire\s+meld\s+failed\s.*MELD\.Raw\.tar\.gz/);
    assert.match(human, /✔ acquire\s+iemocap\s+done\s+\d+ rows, \d+ in label set, \d+ issues/);
    assert.match(human, new RegExp(`resume: mer resume ${run.workflowId}`));
    assert.doesNotMatch(human, /\?|token/, 'sources shown without query strings');

    const r = await runMer(['resume', run.workflowId, '--json', '--workers'], {
      env: clusterEnv(env.address),
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const result = parseResult(r.stdout);
    assert.deepEqual(
      result.datasets.iemocap.ran,
      { download: false, extract: false, manifest: false },
      'IEMOCAP reused',
    );
    assert.deepEqual(result.datasets.meld.ran, { download: true, extract: true, manifest: true }, 'MELD acquired');
    assert.equal(http.bytesServedFor(iemocapArchive), iemocapSize, 'IEMOCAP not downloaded again');
    assert.equal(http.bytesServedFor(meldArchive), meldSize, 'MELD downloaded once');
    assert.deepEqual(
      await fileMtimes(join(run.store, 'raw', 'iemocap')),
      rawBefore,
      'no IEMOCAP object extracted again',
    );
    assert.deepEqual(
      await fileMtimes(join(run.store, 'datasets', 'iemocap')),
      manifestsBefore,
      'IEMOCAP manifest not rewritten',
    );

    // NDJSON on stderr: the resume event, progress events, the last one completed.
    const events = ndjson(r.stderr);
    const resumed = events.find((e) => e.event === 'resumed');
    assert.equal(resumed?.mode, 'new-run');
    assert.equal(resumed?.fromRunId, run.failedRunId);
    const progress = events.filter((e) => e.event === 'progress');
    assert.ok(progress.length >= 2, 'progress lines while waiting');
    assert.equal(progress.at(-1)?.status, 'completed');

    // A new run of the same workflow id, with the very input of the failed one.
    const latest = await env.client.workflow.getHandle(run.workflowId).describe();
    assert.notEqual(latest.runId, run.failedRunId);
    assert.equal(latest.status.name, 'COMPLETED');
    const newInput = inputFromHistory(await fetchEvents(env.client, run.workflowId, latest.runId));
    // JSON round trip: the payload has no `undefined` members.
    assert.deepEqual(
      { ...newInput, searchAttributes: true },
      JSON.parse(JSON.stringify({ ...run.input, searchAttributes: true })),
    );

    // mer runs lists both runs of the id, newest first, with config hash and datasets.
    const ls = await runMer(['runs', '--json', '--limit', '50'], { env: clusterEnv(env.address), timeoutMs: 60_000 });
    assert.equal(ls.code, 0, ls.stderr);
    const runs = (JSON.parse(ls.stdout) as RunListing[]).filter((x) => x.workflowId === run.workflowId);
    assert.deepEqual(
      runs.map((x) => [x.runId, x.status]),
      [
        [latest.runId, 'COMPLETED'],
        [run.failedRunId, 'FAILED'],
      ],
    );
    assert.equal(runs[0].configHash, run.input.configHash);
    assert.deepEqual(runs[0].datasets, ['iemocap', 'meld']);
    const failedOnly = await runMer(['runs', '--json', '--status', 'failed'], {
      env: clusterEnv(env.address),
      timeoutMs: 60_000,
    });
    assert.ok((JSON.parse(failedOnly.stdout) as RunListing[]).every((x) => x.status === 'FAILED'));
  });

  test('--reset: Temporal resets the failed run to just before the acquire stage; IEMOCAP is reused', async () => {
    const before = http.bytesServedFor(iemocapArchive);
    const meldBefore = http.bytesServedFor(meldArchive);
    const run = await failedRun('reset');
    const iemocapServed = http.bytesServedFor(iemocapArchive);
    assert.equal(iemocapServed - before, readFileSync(iemocapArchive).length);
    const rawBefore = await fileMtimes(join(run.store, 'raw', 'iemocap'));
    const failedEvents = await fetchEvents(env.client, run.workflowId, run.failedRunId);
    const point = findResetPoint(failedEvents);
    // The task that started the stage's children: the one whose commands the reset drops.
    const starts = failedEvents.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    assert.equal(starts.length, 2);
    for (const s of starts)
      assert.equal(
        num(s.startChildWorkflowExecutionInitiatedEventAttributes!.workflowTaskCompletedEventId),
        point.eventId,
      );

    const r = await runMer(['resume', run.workflowId, '--reset', '--json', '--workers'], {
      env: clusterEnv(env.address),
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const result = parseResult(r.stdout);
    assert.deepEqual(result.datasets.iemocap.ran, { download: false, extract: false, manifest: false });
    assert.equal(result.datasets.meld.ran.download, true);
    assert.equal(http.bytesServedFor(iemocapArchive), iemocapServed, 'IEMOCAP not downloaded again');
    assert.equal(http.bytesServedFor(meldArchive) - meldBefore, readFileSync(meldArchive).length);
    assert.deepEqual(
      await fileMtimes(join(run.store, 'raw', 'iemocap')),
      rawBefore,
      'no IEMOCAP object extracted again',
    );
    const resumed = ndjson(r.stderr).find((e) => e.event === 'resumed');
    assert.equal(resumed?.mode, 'reset');

    // The new run is a reset of the failed one: same history up to the reset point, then the reset marker.
    const latest = await env.client.workflow.getHandle(run.workflowId).describe();
    assert.notEqual(latest.runId, run.failedRunId);
    assert.equal(latest.status.name, 'COMPLETED');
    const events = await fetchEvents(env.client, run.workflowId, latest.runId);
    for (let i = 0; i < point.eventId - 1; i++)
      assert.equal(events[i].eventType, failedEvents[i].eventType, `event ${i + 1} kept`);
    const marker = events[point.eventId - 1].workflowTaskFailedEventAttributes;
    assert.ok(marker, 'the reset point became a failed workflow task');
    assert.equal(marker.baseRunId, run.failedRunId);
    assert.equal(marker.newRunId, latest.runId);
    // Only the progress of the new attempt: the failed run's signals were not reapplied.
    const signals = events.filter((e) => e.workflowExecutionSignaledEventAttributes);
    const failedSignals = failedEvents.filter(
      (e) => e.workflowExecutionSignaledEventAttributes && num(e.eventId) > point.eventId,
    );
    assert.ok(signals.every((s) => num(s.eventId) > point.eventId));
    assert.ok(signals.length > 0 && failedSignals.length > 0);

    const again = await runMer(['resume', run.workflowId], { env: clusterEnv(env.address), timeoutMs: 60_000 });
    assert.notEqual(again.code, 0, 'a completed run is not resumed');
    assert.match(again.stderr, /completed: nothing to resume/);
  });
});
