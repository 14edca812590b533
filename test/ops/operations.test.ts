import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { clusterEnv, runMer } from '../helpers/cli.ts';
import { startTemporal } from '../helpers/temporal.ts';

/**
 * Messages that need a Temporal server, on a real one, as a user meets them: a run nobody works on says
 * it waits for a workflow worker (`mer run --json` and `mer status`), a terminated run is reported as
 * terminated with the next command (NDJSON, exit 1), and `mer worker --queue gpu` says what it serves
 * and answers its health endpoint.
 */

let env: TestWorkflowEnvironment;
let dir: string;

before(async () => {
  env = await startTemporal();
  dir = await mkdtemp(join(tmpdir(), 'mer-operations-'));
});
after(async () => {
  await env?.teardown();
  await rm(dir, { recursive: true, force: true });
});

/** `mer` in its own process with its stderr readable while it runs. */
function spawnMer(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, ['cli/mer.mjs', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...clusterEnv(env.address), ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void exited.then(() => clearTimeout(killer));
  return {
    child,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    async waitFor(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = re.exec(stderr);
        if (m) return m;
        assert.ok(Date.now() < deadline, `no ${re} on stderr within ${ms} ms:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

const events = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('operations as a user meets them', () => {
  test('no workflow worker: run and status say so; a terminated run is "terminated", with `mer resume`, exit 1', async () => {
    // --no-workers on a cluster: nobody runs the workflow tasks (the only workflow worker is down).
    const run = spawnMer([
      'run',
      '--meld',
      '--until',
      'acquire',
      '--store',
      join(dir, 'store'),
      '--no-workers',
      '--json',
    ]);
    const started = await run.waitFor(/"event":"started","workflowId":"(mer-[0-9a-f]+)"/);
    const workflowId = started[1];
    await run.waitFor(/"event":"waiting"/, 30_000);
    const waiting = events(run.stderr()).find((e) => e.event === 'waiting')!;
    assert.equal(waiting.workflowId, workflowId);
    assert.match(
      String(waiting.message),
      /^waiting for a workflow worker: none polls task queue mer-cpu \(start one: `mer worker --queue cpu`\)$/,
    );

    const st = await runMer(['status', workflowId], { env: clusterEnv(env.address), timeoutMs: 60_000 });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /\n {2}waiting for a workflow worker: none polls task queue mer-cpu/);
    const stJson = await runMer(['status', workflowId, '--json'], { env: clusterEnv(env.address), timeoutMs: 60_000 });
    assert.match(String((JSON.parse(stJson.stdout) as { waiting: string }).waiting), /^waiting for a workflow worker/);

    await env.client.workflow.getHandle(workflowId).terminate('operator stopped it');
    assert.equal(await run.exited, 1, run.stderr());
    const end = events(run.stderr()).at(-1)!;
    assert.deepEqual(end, {
      event: 'terminated',
      workflowId,
      type: null,
      message: 'operator stopped it',
      next: `mer resume ${workflowId}`,
    });
    assert.equal(run.stdout(), '', 'no result document for a run that did not complete');
    assert.doesNotMatch(run.stderr(), /failed/);

    // Without --json: one line in the same words.
    const again = spawnMer(['run', '--meld', '--until', 'acquire', '--store', join(dir, 'store2'), '--no-workers']);
    const id2 = (await again.waitFor(/started (mer-[0-9a-f]+)/))[1];
    await again.waitFor(/waiting for a workflow worker: none polls task queue mer-cpu/, 30_000);
    await env.client.workflow.getHandle(id2).terminate('operator stopped it');
    assert.equal(await again.exited, 1);
    assert.match(
      again.stderr(),
      new RegExp(
        `\\nmer: run ${id2} was terminated \\(operator stopped it\\); \`mer resume ${id2}\` continues it, reusing every committed output\\n$`,
      ),
    );
  });

  test('`mer worker --queue gpu` says it serves activities on mer-gpu and answers /healthz and /readyz', async () => {
    const w = spawnMer(['worker', '--queue', 'gpu', '--threads', '2', '--health-port', '0']);
    try {
      const served = await w.waitFor(/serving (.*)\n/);
      assert.equal(served[1], 'mer-gpu (activities), 2 ONNX Runtime thread(s) per session');
      assert.doesNotMatch(w.stderr(), /workflows/);
      const port = Number((await w.waitFor(/health: http:\/\/0\.0\.0\.0:(\d+)\/healthz/))[1]);
      let body: Record<string, unknown> = {};
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        body = (await r.json()) as Record<string, unknown>;
        if (r.status === 200) break;
        assert.ok(Date.now() < deadline, `not ready: ${JSON.stringify(body)}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.deepEqual(body, {
        status: 'ok',
        taskQueues: [{ taskQueue: 'mer-gpu', workflows: false, activities: true, state: 'RUNNING' }],
        activitiesInFlight: 0,
      });
      const live = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(live.status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404);
    } finally {
      w.child.kill('SIGTERM');
    }
    assert.equal(await w.exited, 0, w.stderr());
  });
});
