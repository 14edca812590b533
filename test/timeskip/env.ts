/**
 * The time-skipping layer's harness: one Temporal time-skipping test server per test file (the real
 * `temporal-test-server` binary, installed offline by scripts/setup-tools.sh --test) with a workflow
 * worker for the file's task queues, activity workers a test starts with its mocks, polling helpers.
 *
 * The server's clock is locked while nothing awaits a workflow result: a workflow started and observed
 * (queries, gates) runs in real time; `handle.result()` or `env.sleep()` let the server jump to the next
 * timer (retry backoff, heartbeat or start-to-close timeout) whenever no workflow task or activity
 * attempt is open (each holds a lock on the clock; the server's lock log, printed on an unbalanced
 * unlock, names them).
 */
import { after, afterEach, before } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import type { MerActivities } from '../../activities/index.ts';
import { requireTemporalTestServer } from '../../activities/common/tools.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import type { QueueKind } from '../../workers/factory.ts';
import { installRuntime } from '../../workers/runtime.ts';
import { progressQuery, type ProgressSnapshot } from '../../workflows/progress.ts';
import type { TaskQueues } from './inputs.ts';

export interface TimeSkipping {
  readonly env: TestWorkflowEnvironment;
  /** The file's task queues: a workflow-only worker serves the cpu one from start to end of the file. */
  readonly queues: TaskQueues;
  /** Terminates the workflow after the test if it is still open (a failed test must not leave work to the next). */
  track<H extends WorkflowHandle>(handle: H): H;
}

let files = 0;

/**
 * Starts the time-skipping server and a workflow worker (the cached bundle: compiling it into a worker
 * costs about a second, so once per file) before the file's tests, and stops both after. Activities run
 * on workers each test starts with its own mocks (`withActivityWorkers`, milliseconds to start); tests
 * run one at a time and close their workflows, so a test's activity workers see only its workflows.
 */
export function useTimeSkipping(tag: string): TimeSkipping {
  let env: TestWorkflowEnvironment | undefined;
  let stopWorkflows: (() => Promise<void>) | undefined;
  const base = `timeskip-${tag}-${process.pid}-${++files}`;
  const queues = { cpu: `${base}-cpu`, gpu: `${base}-gpu` };
  before(async () => {
    quietRuntime();
    const [started, bundle] = await Promise.all([
      TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: requireTemporalTestServer() } },
      }),
      workflowBundle(),
    ]);
    env = started;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: queues.cpu,
      workflowBundle: bundle,
      identity: `${tag}-workflows`,
    });
    const run = worker.run();
    stopWorkflows = async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run;
    };
  });
  const open = new Set<WorkflowHandle>();
  afterEach(async () => {
    for (const h of open) await h.terminate('the test is over').catch(() => undefined);
    open.clear();
  });
  after(async () => {
    await stopWorkflows?.();
    await env?.teardown();
  });
  return {
    track: (handle) => {
      open.add(handle);
      return handle;
    },
    get env(): TestWorkflowEnvironment {
      if (!env) throw new Error('the time-skipping server is not started yet (use it inside a test)');
      return env;
    },
    queues,
  };
}

/**
 * installRuntime('ERROR') quiets the SDK's own logs; the Rust core logs to the console by itself, and
 * at WARN it says on every worker start that the test server lacks a heartbeat capability of real
 * servers. So the runtime is installed here first with core logs at ERROR too (installRuntime then
 * leaves it as it is).
 */
function quietRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }) } },
    });
  } catch {
    // already installed in this process
  }
  installRuntime('ERROR');
}

export interface ActivityWorkerSpec {
  activities: MerActivities;
  /** Worker identity prefix (`<identity>/cpu`, `<identity>/gpu`), as the server records it on each attempt. */
  identity?: string;
  /** Default both. */
  kinds?: QueueKind[];
  /** Activity slots per worker (default 64: the workflows' own limits are what a test measures). */
  slots?: number;
}

export interface RunningWorkers {
  identity: string;
  /** Graceful shutdown; resolves once every worker has stopped (a hung attempt holds it: release it first). */
  stop(): Promise<void>;
}

/** Activity-only workers for the file's cpu and gpu queues. */
export async function startActivityWorkers(ts: TimeSkipping, spec: ActivityWorkerSpec): Promise<RunningWorkers> {
  const identity = spec.identity ?? 'activities';
  const workers: Worker[] = [];
  for (const kind of spec.kinds ?? ['cpu', 'gpu']) {
    workers.push(
      await Worker.create({
        connection: ts.env.nativeConnection,
        taskQueue: ts.queues[kind],
        activities: spec.activities,
        maxConcurrentActivityTaskExecutions: spec.slots ?? 64,
        identity: `${identity}/${kind}`,
        shutdownGraceTime: '100 ms',
      }),
    );
  }
  const runs = Promise.allSettled(workers.map((w) => w.run()));
  let stopped: Promise<void> | undefined;
  return {
    identity,
    stop: () =>
      (stopped ??= (async () => {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        for (const r of await runs) if (r.status === 'rejected') throw r.reason;
      })()),
  };
}

/** Runs `fn` with activity workers started for it, and stops them after, whatever `fn` does. */
export async function withActivityWorkers<T>(
  ts: TimeSkipping,
  spec: ActivityWorkerSpec,
  fn: (w: RunningWorkers) => Promise<T>,
): Promise<T> {
  const w = await startActivityWorkers(ts, spec);
  try {
    return await fn(w);
  } finally {
    await w.stop();
  }
}

/**
 * Asserts that the server's clock is free again: `ms` of server time pass in a few seconds of
 * real time. A hold the server kept (an activity it still thinks open) would make it take real time.
 */
export async function assertClockFree(ts: TimeSkipping, ms = 60_000): Promise<void> {
  const [t0, r0] = [await ts.env.currentTimeMs(), Date.now()];
  await ts.env.sleep(ms);
  const real = Date.now() - r0;
  const skipped = (await ts.env.currentTimeMs()) - t0;
  if (real > Math.min(10_000, ms / 2) || skipped < ms)
    throw new Error(
      `the test server's clock is held: ${ms} ms of sleep took ${real} ms of real time (skipped ${skipped} ms)`,
    );
}

/**
 * Gives back locks on the server's clock that its own bookkeeping left behind, at most `max`: while
 * nothing is open, a 250 ms sleep taking real time shows a lock besides the client's. Used only where
 * the test server is measured to leave one (retries.test.ts says where).
 */
export async function releaseStrayLocks(ts: TimeSkipping, max: number): Promise<number> {
  for (let released = 0; released < max; released++) {
    const r0 = Date.now();
    await ts.env.sleep(250);
    if (Date.now() - r0 < 200) return released;
    await ts.env.connection.testService!.unlockTimeSkipping({});
  }
  return max;
}

/** Polls `probe` (real time) until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `p`, or a failure naming `what` after `ms` of real time (a gate a broken workflow never reaches). */
export function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Polls the pipeline's progress query until `ok` holds for a snapshot, and returns that snapshot. */
export async function progressWhen(
  handle: WorkflowHandle,
  what: string,
  ok: (p: ProgressSnapshot) => boolean,
): Promise<ProgressSnapshot> {
  let last: ProgressSnapshot | undefined;
  try {
    return await waitFor(`progress: ${what}`, async () => {
      last = await handle.query(progressQuery);
      return ok(last) ? last : undefined;
    });
  } catch (err) {
    throw new Error(`${String(err)}; last snapshot: ${JSON.stringify(last)}`);
  }
}

/** A row of a progress snapshot. */
export function row(p: ProgressSnapshot, dataset: string, stage: string) {
  const r = p.stages.find((s) => s.dataset === dataset && s.stage === stage);
  if (!r) throw new Error(`no progress row ${dataset}/${stage}`);
  return r;
}

/** Every event of a workflow's history. */
export async function historyOf(env: TestWorkflowEnvironment, workflowId: string) {
  return (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}
