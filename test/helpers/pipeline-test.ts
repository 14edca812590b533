/**
 * The set-up every pipeline, fault and kill test file repeats, as one fixture: a temp folder, the
 * synthetic corpora, the real Temporal dev server (test/helpers/temporal.ts), and a teardown that
 * stops whatever the tests left running (child workers first, then runs and servers, then the
 * Temporal server) and deletes the folder, however the tests ended.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { PipelineInput } from '../../schemas/config.ts';
import { killChildWorkers, spawnChildWorker, type ChildWorker, type ChildWorkerOptions } from './child-worker.ts';
import { archiveOf, folderOf, synthCorpora, type Corpora, type CorporaOptions } from './corpus.ts';
import { startInProcess, type StartedRun, type WorkerSpec } from './pipeline.ts';
import { freePort } from './ports.ts';
import { startTemporal } from './temporal.ts';

export interface PipelineTestOptions extends Partial<CorporaOptions> {
  /** The temp folder is `mer-<name>-XXXXXX`. */
  name: string;
  /** Also serve the Temporal Web UI, on a free port (`uiUrl`). */
  ui?: boolean;
}

export interface PipelineTest {
  /** Resolves once the fixture's own before() finished: a file's top-level before() awaits it first,
   * since node:test does not promise to finish one root-level hook before starting the next. */
  whenReady(): Promise<void>;
  readonly env: TestWorkflowEnvironment;
  readonly dir: string;
  readonly corpora: Corpora;
  /** http://127.0.0.1:<port> of the Web UI (with `ui`). */
  readonly uiUrl: string;
  archive(dataset: keyof Corpora): string;
  folder(dataset: keyof Corpora): string;
  /** Runs at teardown, in the order registered, after the child workers are killed and before the server stops. */
  onTeardown(fn: () => Promise<void> | void): void;
  /** `mer worker` in a child process on this server; killed (SIGKILL) at teardown if still alive. */
  spawnWorker(opts: Omit<ChildWorkerOptions, 'address'>): ChildWorker;
  /** startInProcess on this server; the run is terminated at teardown if it is still going. */
  start(input: PipelineInput, workers?: WorkerSpec | Worker[]): Promise<StartedRun>;
}

/** Registers the file's `before` and `after` hooks and returns the fixture they fill in. */
export function pipelineTest(o: PipelineTestOptions): PipelineTest {
  let env: TestWorkflowEnvironment | undefined;
  let dir: string | undefined;
  let corpora: Corpora = {};
  let uiUrl = '';
  const children: ChildWorker[] = [];
  const teardown: Array<() => Promise<void> | void> = [];
  const ready = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`pipelineTest: ${what} is set up in before()`);
    return v;
  };

  let markReady: () => void = () => {};
  let markFailed: (err: unknown) => void = () => {};
  const readyPromise = new Promise<void>((res, rej) => {
    markReady = res;
    markFailed = rej;
  });
  // a failed set-up is reported by the hook that failed; the await in a file's hook rethrows it
  readyPromise.catch(() => {});

  const fx: PipelineTest = {
    whenReady: () => readyPromise,
    get env() {
      return ready(env, 'the Temporal server');
    },
    get dir() {
      return ready(dir, 'the temp folder');
    },
    get corpora() {
      return corpora;
    },
    get uiUrl() {
      return uiUrl;
    },
    archive: (dataset) => archiveOf(corpora, dataset),
    folder: (dataset) => folderOf(corpora, dataset),
    onTeardown: (fn) => void teardown.push(fn),
    spawnWorker: (opts) => {
      const w = spawnChildWorker({ address: fx.env.address, ...opts });
      children.push(w);
      return w;
    },
    start: async (input, workers) => {
      const run = await startInProcess(fx.env, input, workers);
      teardown.push(async () => {
        await run.handle.terminate().catch(() => {});
        await run.done.catch(() => {});
      });
      return run;
    },
  };

  before(async () => {
    try {
      dir = await mkdtemp(join(tmpdir(), `mer-${o.name}-`));
      if (o.iemocap || o.meld) {
        if (o.seed === undefined) throw new Error('pipelineTest: corpora need a seed');
        corpora = await synthCorpora(dir, { ...o, seed: o.seed });
      }
      if (o.ui) {
        const uiPort = await freePort();
        uiUrl = `http://127.0.0.1:${uiPort}`;
        env = await startTemporal({ ui: true, uiPort });
      } else {
        env = await startTemporal();
      }
      markReady();
    } catch (err) {
      markFailed(err);
      throw err;
    }
  });

  after(async () => {
    let failure: unknown;
    await killChildWorkers(children);
    for (const fn of teardown) {
      try {
        await fn();
      } catch (err) {
        failure ??= err;
      }
    }
    await env?.teardown();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (failure) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
  });

  return fx;
}
