import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { fetchEvents, type HistoryEvent } from '../../cli/run-history.ts';
import { runMer } from '../helpers/cli.ts';
import { archiveOf, synthCorpora, type Corpora } from '../helpers/corpus.ts';
import { freePort } from '../helpers/ports.ts';

/**
 * Two embedded `mer run` commands on one machine (one dev server, as in two terminals), of different
 * lengths: IEMOCAP until acquire, MELD until segment. The shorter one finishing must abandon nothing
 * the other started: each run's workflows and activities go to its own task queues
 * (cli/run-queues.ts), so every activity attempt of a run was started by that run's process, and no
 * attempt failed or timed out (a worker shut down under an activity fails it with "Worker is shutting
 * down and this activity did not complete in time").
 */

let dir: string;
let corpora: Corpora;
let embedded: NodeJS.ProcessEnv;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-concurrent-'));
  corpora = await synthCorpora(join(dir, 'corpora'), { seed: 21, iemocap: 'archive', meld: 'archive' });
  // The embedded default, but with its own home, ports and database: no TEMPORAL_ADDRESS.
  embedded = {
    TEMPORAL_ADDRESS: '',
    MER_HOME: join(dir, 'home'),
    MER_DEV_PORT: String(await freePort()),
    MER_DEV_UI_PORT: String(await freePort()),
    MER_UI_URL: '',
  };
});
after(async () => {
  await runMer(['dev', '--stop'], { env: embedded, timeoutMs: 30_000 }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

interface RunView {
  /** Every workflow run of the pipeline and its children (continued-as-new runs too). */
  runs: Array<{ workflowId: string; events: HistoryEvent[] }>;
}

async function runTree(client: Client, workflowId: string): Promise<RunView> {
  const runs: RunView['runs'] = [];
  const queue = [workflowId];
  const seen = new Set<string>();
  while (queue.length) {
    const id = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for await (const w of client.workflow.list({ query: `WorkflowId="${id}"` })) {
      const events = await fetchEvents(client, w.workflowId, w.runId);
      runs.push({ workflowId: w.workflowId, events });
      for (const e of events) {
        const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
        if (child) queue.push(child);
      }
    }
  }
  return { runs };
}

describe('two embedded runs on one machine', () => {
  test('the shorter run finishing abandons nothing the longer one started', async () => {
    const start = await runMer(['dev', '--detach'], { env: embedded, timeoutMs: 120_000 });
    assert.equal(start.code, 0, start.stderr);
    const store = join(dir, 'store');
    const [short, long] = await Promise.all([
      runMer(['run', '--iemocap', archiveOf(corpora, 'iemocap'), '--until', 'acquire', '--store', store, '--json'], {
        env: embedded,
        timeoutMs: 480_000,
      }),
      runMer(['run', '--meld', archiveOf(corpora, 'meld'), '--until', 'segment', '--store', store, '--json'], {
        env: embedded,
        timeoutMs: 480_000,
      }),
    ]);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(long.code, 0, long.stderr);
    assert.ok(short.ms < long.ms, `runs of different lengths (${short.ms} ms, ${long.ms} ms)`);

    const connection = await Connection.connect({ address: `127.0.0.1:${embedded.MER_DEV_PORT}` });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const startedEvent = (r: typeof short) => {
        const started = r.stderr.split('\n').find((l) => l.includes('"event":"started"'));
        return JSON.parse(started!) as { workflowId: string };
      };
      for (const [r, label] of [
        [short, 'iemocap until acquire'],
        [long, 'meld until segment'],
      ] as const) {
        const { workflowId } = startedEvent(r);
        const view = await runTree(client, workflowId);
        assert.ok(view.runs.length >= 2, `${label}: the pipeline and its children`);
        let activities = 0;
        for (const { workflowId: wid, events } of view.runs) {
          const startedWith = events[0].workflowExecutionStartedEventAttributes!;
          assert.equal(startedWith.taskQueue?.name, `mer-cpu@${workflowId}`, `${label}: ${wid} on the run's own queue`);
          for (const e of events) {
            const s = e.activityTaskScheduledEventAttributes;
            if (s) {
              activities++;
              assert.match(s.taskQueue?.name ?? '', new RegExp(`^mer-(cpu|gpu)@${workflowId}$`), `${label}: ${wid}`);
            }
            assert.ok(!e.activityTaskFailedEventAttributes, `${label}: no activity attempt failed`);
            assert.ok(!e.activityTaskTimedOutEventAttributes, `${label}: no activity attempt timed out`);
            const st = e.activityTaskStartedEventAttributes;
            if (st) assert.equal(Number(st.attempt ?? 1), 1, `${label}: ${wid}: every activity ran once`);
          }
        }
        assert.ok(activities > 0, `${label}: activities ran`);
      }
      // Each run's activities were all started by its own process: the other never held one.
      const identities = new Map<string, Set<string>>();
      for (const r of [short, long]) {
        const { workflowId } = startedEvent(r);
        const ids = new Set<string>();
        for (const { events } of (await runTree(client, workflowId)).runs)
          for (const e of events) {
            const who = e.activityTaskStartedEventAttributes?.identity;
            if (who) ids.add(who.split('@')[0]);
          }
        identities.set(workflowId, ids);
      }
      const [a, b] = [...identities.values()];
      assert.equal(a.size, 1, 'one process ran the IEMOCAP run');
      assert.equal(b.size, 1, 'one process ran the MELD run');
      assert.notDeepEqual([...a], [...b], 'different processes');
    } finally {
      await connection.close();
    }
  });
});
