import type { Client, WorkflowHandle } from '@temporalio/client';
import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import type { MerPipeline } from '../workflows/pipeline.ts';
import { buildRunConfig, ConfigError, sealUrlSecrets, toPipelineInput, type RunOverrides } from './config.ts';
import { resumeRun } from './resume.ts';
import { RunEndedError } from './run-end.ts';
import { scopesQueues, withEmbeddedParallelism, withRunScopedQueues } from './run-queues.ts';
import { fetchEvents, inputFromHistory } from './run-history.ts';
import { hasSearchAttributes, pipelineWorkflowId, startPipeline } from './run.ts';
import { describeStore, openSession, printResult, uiWorkflowUrl, waitForRun, type CliSession } from './session.ts';

/** How `mer run` and `mer resume` follow the run they start: workers here or not, NDJSON or a table, or not at all. */
export interface FollowFlags {
  workers?: boolean;
  json?: boolean;
  wait?: boolean;
  concurrency?: number;
}

/** `mer run`'s flags: the run overrides under their command-line names, plus how to follow the run. */
export interface RunFlags
  extends FollowFlags, Omit<RunOverrides, 'chunkMiB' | 'heartbeatTimeoutSec' | 'taskQueuePrefix'> {
  config?: string;
  chunkMib?: number;
  heartbeatTimeout?: number;
}

interface Started {
  handle: WorkflowHandle<typeof MerPipeline>;
  input: PipelineInput;
}

/**
 * Opens a session (starting the local dev server when no cluster is configured), lets `start` launch or
 * find a run, and follows it to its end: workers in this process unless a cluster serves it, then the
 * result printed. `start` returns undefined when the command does not wait (--no-wait).
 */
async function startAndFollow<S extends Started>(
  o: FollowFlags,
  start: (session: CliSession, log: (m: string) => void) => Promise<S | undefined>,
): Promise<{ result: PipelineResult; started: S } | undefined> {
  const log = (m: string) => {
    if (!o.json) console.error(m);
  };
  const session = await openSession({ startDevServer: true, log });
  let result: PipelineResult;
  let started: S | undefined;
  try {
    started = await start(session, log);
    if (!started) return undefined;
    result = await waitForRun(session, started.handle, started.input, {
      workers: o.workers ?? !session.cluster,
      json: o.json ?? false,
      concurrency: o.concurrency,
    });
  } catch (err) {
    if (!(err instanceof RunEndedError)) throw err;
    // A run that ended without completing: its words and the next command, as an event with --json.
    if (o.json) process.stderr.write(`${JSON.stringify(err.event())}\n`);
    else console.error(`mer: ${err.message}`);
    process.exitCode = 1;
    return undefined;
  } finally {
    await session.close();
  }
  printResult(result, o.json ?? false);
  reportDiverged(result);
  return { result, started };
}

/**
 * A run whose trainings partly diverged completed (the other variants were trained and reported), but
 * it did not do what was asked: say what diverged and what to change, and exit non-zero.
 */
export function reportDiverged(result: PipelineResult): void {
  const lines: string[] = [];
  for (const t of Object.values(result.trained ?? {})) {
    for (const d of t.diverged ?? []) lines.push(`  ${d.message}${d.seed !== undefined ? ` (seed ${d.seed})` : ''}`);
  }
  if (!lines.length) return;
  console.error(`mer: ${lines.length} training(s) diverged; the other variants were trained and reported:`);
  for (const l of lines) console.error(l);
  console.error('  change the named setting and run again: only the trainings it changes train anew.');
  process.exitCode = process.exitCode || 1;
}

/**
 * `mer run`: embedded default (no TEMPORAL_ADDRESS) starts or reuses the local dev server and runs
 * workers for both task queues in this process; with TEMPORAL_ADDRESS it talks to that cluster and
 * leaves the work to `mer worker` fleets unless --workers is given.
 */
export async function executeRun(
  o: RunFlags,
): Promise<{ result: PipelineResult; input: PipelineInput; workflowId: string } | undefined> {
  const { config, baseDir } = buildRunConfig(o.config, {
    until: o.until,
    iemocap: o.iemocap,
    meld: o.meld,
    iemocapSha256: o.iemocapSha256,
    meldSha256: o.meldSha256,
    labels: o.labels,
    store: o.store,
    s3Endpoint: o.s3Endpoint,
    chunkMiB: o.chunkMib,
    heartbeatTimeoutSec: o.heartbeatTimeout,
    models: o.models,
    protocol: o.protocol,
    preset: o.preset,
    ablations: o.ablations,
    epochs: o.epochs,
    seeds: o.seeds,
  });
  if (config.sweep)
    throw new ConfigError(
      `${o.config}: has a sweep: section; run its settings with mer sweep ${o.config} (mer run would run none of them)`,
    );
  // Stages and sources are checked before any server is started or dialled: a typo must not cost a
  // dev-server start (or hang on an unreachable cluster) before it is reported.
  const checked = toPipelineInput(config, baseDir, false);
  const done = await startAndFollow(o, async (session, log) => {
    const { client, namespace } = session;
    const sealed = await sealUrlSecrets({ ...checked, searchAttributes: await hasSearchAttributes(client, namespace) });
    const scoped = scopesQueues({
      cluster: Boolean(session.cluster),
      workers: o.workers ?? !session.cluster,
      wait: o.wait !== false,
    });
    const fresh = scoped
      ? withEmbeddedParallelism(withRunScopedQueues(sealed, pipelineWorkflowId(sealed.configHash)))
      : sealed;
    const { handle, attached } = await startPipeline(client, fresh);
    // Attached: serve the queues the running run was started with (its input), whoever started it.
    const input = attached ? await runningInput(client, handle) : fresh;
    log(
      `${attached ? 'attached to running' : 'started'} ${handle.workflowId} (${input.stages.join(' → ')}; store ${describeStore(input.store)})`,
    );
    const ui = session.uiBase ? uiWorkflowUrl(session.uiBase, namespace, handle.workflowId) : undefined;
    if (ui) log(`Temporal UI: ${ui}`);
    if (o.json && o.wait !== false)
      process.stderr.write(
        `${JSON.stringify({ event: 'started', workflowId: handle.workflowId, attached, ui: ui ?? null })}\n`,
      );
    if (o.wait === false) {
      console.log(handle.workflowId);
      if (session.stopServer)
        log(
          'note: the SDK-downloaded dev server stops with this command; install the Temporal CLI for a persistent one',
        );
      return undefined;
    }
    return { handle, input };
  });
  return done && { result: done.result, input: done.started.input, workflowId: done.started.handle.workflowId };
}

async function runningInput(client: Client, handle: WorkflowHandle<typeof MerPipeline>): Promise<PipelineInput> {
  const runId = (await handle.describe()).runId;
  return inputFromHistory(await fetchEvents(client, handle.workflowId, runId));
}

/** `mer resume`: a new run of a failed run's input (default), or a Temporal reset to before the failed stage. */
export async function executeResume(run: string, o: FollowFlags & { reset?: boolean }): Promise<void> {
  await startAndFollow(o, async (session, log) => {
    const scoped = scopesQueues({
      cluster: Boolean(session.cluster),
      workers: o.workers ?? !session.cluster,
      wait: o.wait !== false,
    });
    // A new run gets this command's run-scoped queues; a reset or an attach keeps the run's own.
    const r = await resumeRun(session.client, run, {
      reset: o.reset ?? false,
      ...(scoped ? { retarget: (i: PipelineInput) => withRunScopedQueues(i, pipelineWorkflowId(i.configHash)) } : {}),
    });
    const ui = session.uiBase ? uiWorkflowUrl(session.uiBase, session.namespace, r.handle.workflowId) : null;
    if (r.mode === 'attached') log(`${r.handle.workflowId} is still running: attached to it`);
    else if (r.mode === 'reset') {
      log(
        `reset ${r.handle.workflowId} (${r.fromStatus.toLowerCase()} run ${r.fromRunId}) to event ${r.reset!.eventId}: ${r.reset!.stage ?? 'the run'} starts again (${r.reset!.children.join(', ') || 'no children'})`,
      );
    } else
      log(
        `started a new run of ${r.handle.workflowId} with the input of ${r.fromStatus.toLowerCase()} run ${r.fromRunId}; committed outputs are reused`,
      );
    if (ui) log(`Temporal UI: ${ui}`);
    if (o.json)
      process.stderr.write(
        `${JSON.stringify({ event: 'resumed', workflowId: r.handle.workflowId, mode: r.mode, fromRunId: r.fromRunId, reset: r.reset ?? null, ui })}\n`,
      );
    if (o.wait === false) {
      console.log(r.handle.workflowId);
      return undefined;
    }
    return r;
  });
}
