/**
 * `mer worker` in a child process, as a separate machine would run it, for tests that kill workers.
 * Each child gets its own process group (`detached`), so a kill takes down whatever it started (ffmpeg)
 * like a lost machine; its stderr is drained (a full pipe would stall it) and its tail kept for
 * failure messages. Every child still alive when the test process exits is SIGKILLed, whatever the
 * outcome; tests should still `kill()` theirs in a `finally`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../../activities/common/tools.ts';

export interface ChildWorkerOptions {
  /** TEMPORAL_ADDRESS of the server (TestWorkflowEnvironment.address). */
  address: string;
  namespace?: string;
  taskQueuePrefix: string;
  queues: Array<'cpu' | 'gpu'>;
  /** Serve workflow tasks too (default: activities only). */
  workflows?: boolean;
  /** Extra environment (FFMPEG_PATH wrappers, preload settings). */
  env?: NodeJS.ProcessEnv;
  /** Modules loaded before the worker (`node --import tsx --import <m>`), e.g. test/helpers/inference-log.ts. */
  preload?: string[];
  /** More `mer worker` flags. */
  args?: string[];
}

export interface ChildWorker {
  readonly process: ChildProcess;
  readonly pid: number;
  /** The last few KB of its stderr. */
  stderr(): string;
  /** True once it has exited (or was killed). */
  exited(): boolean;
  /** Resolves when the worker has created its Temporal workers (its "worker on ... serving" line). */
  ready(timeoutMs?: number): Promise<void>;
  /**
   * Signals its whole process group (default SIGKILL) and waits until it has exited; a child still
   * alive `graceMs` after another signal is SIGKILLed.
   */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;
function killGroup(c: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-c.pid!, signal);
  } catch {
    try {
      c.kill(signal);
    } catch {
      // already gone
    }
  }
}

export function spawnChildWorker(opts: ChildWorkerOptions): ChildWorker {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  const preload = (opts.preload ?? []).flatMap((m) => ['--import', m]);
  const args = [
    ...(preload.length ? ['--import', 'tsx', ...preload] : []),
    'cli/mer.mjs',
    'worker',
    '--queue',
    ...opts.queues,
    ...(opts.workflows ? [] : ['--no-workflows']),
    '--task-queue-prefix',
    opts.taskQueuePrefix,
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      TEMPORAL_ADDRESS: opts.address,
      TEMPORAL_NAMESPACE: opts.namespace ?? 'default',
      ...opts.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  live.add(child);
  let err = '';
  let readyLine = false;
  const waiters = new Set<() => void>();
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString('utf8')).slice(-8000);
    if (!readyLine && /worker on .* serving /.test(err)) {
      readyLine = true;
      for (const w of waiters) w();
    }
  });
  const exit = new Promise<void>((resolve) => {
    const done = () => {
      live.delete(child);
      for (const w of waiters) w();
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', done);
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    process: child,
    pid: child.pid!,
    stderr: () => err,
    exited,
    async ready(timeoutMs = 60_000) {
      if (readyLine) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        waiters.add(resolve);
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      if (!readyLine) {
        throw new Error(
          `child worker ${child.pid} ${exited() ? `exited (${child.exitCode ?? child.signalCode})` : `not ready within ${timeoutMs} ms`}: ${err}`,
        );
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 10_000) {
      if (exited()) {
        // the worker is gone; whatever it started in its group (ffmpeg) goes too
        if (signal === 'SIGKILL') killGroup(child, 'SIGKILL');
        return;
      }
      killGroup(child, signal);
      if (signal !== 'SIGKILL') {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        if (!exited()) killGroup(child, 'SIGKILL');
      }
      await exit;
    },
  };
}

/** Kills every given child (SIGKILL) and waits for each to exit; never throws. */
export async function killChildWorkers(workers: Iterable<ChildWorker>): Promise<void> {
  await Promise.all([...workers].map((w) => w.kill('SIGKILL').catch(() => {})));
}

/**
 * Polls `probe` (every `everyMs`) until it returns a value, while `worker` is alive: the moment a
 * fault test kills it. Fails naming `what` did not happen within `ms`, or that the worker exited on
 * its own, with the worker's stderr.
 */
export async function untilKillPoint<T>(
  worker: ChildWorker,
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = await probe();
    if (hit !== undefined) return hit;
    assert.ok(Date.now() < deadline, `${what} within ${ms / 1000} s; worker stderr: ${worker.stderr()}`);
    assert.ok(!worker.exited(), `the worker exited on its own: ${worker.stderr()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
