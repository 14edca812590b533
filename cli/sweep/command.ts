/**
 * `mer sweep <config>`: starts (or attaches to) the MerSweep of a config's `sweep:` section and follows
 * it as `mer run` follows a run: workers in this process unless a cluster serves it, each setting's
 * state printed as it changes, the chosen setting and the report's keys at the end.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { PipelineInput } from '../../schemas/config.ts';
import type { SweepInput, SweepResult } from '../../schemas/sweep.ts';
import { createMerWorkers, runWorkers, shutdownOnSignals } from '../../workers/factory.ts';
import { connectWorker } from '../../workers/connection.ts';
import { MerSweep, sweepWorkflowId } from '../../workflows/sweep.ts';
import { sealUrlSecrets } from '../config.ts';
import { hasSearchAttributes } from '../run.ts';
import { classifyRunEnd } from '../run-end.ts';
import { runScopedQueues, scopesQueues } from '../run-queues.ts';
import { describeStore, openSession, uiWorkflowUrl } from '../session.ts';
import { buildSweep, type SweepPlan } from './settings.ts';
import { renderSweepStatus, sweepStatus } from './status.ts';

export interface SweepFlags {
  store?: string;
  models?: string;
  parallelism?: number;
  workers?: boolean;
  wait?: boolean;
  json?: boolean;
  concurrency?: number;
}

/** Settings side by side: the section's or the flag's, else what this machine's cores allow. */
export function sweepParallelism(plan: SweepPlan, flag?: number): number {
  return Math.max(1, Math.min(plan.settings.length, flag ?? plan.parallelism ?? availableParallelism()));
}

export async function executeSweep(file: string, o: SweepFlags): Promise<SweepResult | undefined> {
  const log = (m: string) => {
    if (!o.json) console.error(m);
  };
  // Every setting is validated before any server is started.
  const plan = buildSweep(file, { store: o.store, models: o.models });
  const workflowId = sweepWorkflowId(plan.sweepKey);
  const session = await openSession({ startDevServer: true, log });
  // Stops the progress polling before the session's connection closes, however the command ends.
  const polling = new AbortController();
  try {
    const { client, namespace } = session;
    const sa = await hasSearchAttributes(client, namespace);
    const workers = o.workers ?? !session.cluster;
    const scoped = scopesQueues({ cluster: Boolean(session.cluster), workers, wait: o.wait !== false });
    const prepare = async (i: PipelineInput): Promise<PipelineInput> => {
      const sealed = await sealUrlSecrets({ ...i, searchAttributes: sa });
      return scoped
        ? {
            ...sealed,
            temporal: { ...sealed.temporal, taskQueues: runScopedQueues(sealed.temporal.taskQueues, workflowId) },
          }
        : sealed;
    };
    const settings = await Promise.all(plan.settings.map(async (s) => ({ ...s, input: await prepare(s.input) })));
    const input: SweepInput = {
      ...plan,
      settings,
      prepare: await Promise.all(plan.prepare.map(prepare)),
      parallelism: sweepParallelism(plan, o.parallelism),
      temporal: settings[0].input.temporal,
      searchAttributes: sa,
    };
    let handle: WorkflowHandle<typeof MerSweep>;
    try {
      handle = await client.workflow.start(MerSweep, {
        taskQueue: input.temporal.taskQueues.cpu,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `${input.name ?? 'mer sweep'}: ${input.settings.length} settings over ${input.keys.join(', ')}`,
        memo: { sweepKey: input.sweepKey, keys: input.keys, settings: input.settings.length },
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      handle = client.workflow.getHandle(workflowId);
    }
    log(
      `sweep ${workflowId}: ${input.settings.length} settings over ${input.keys.join(', ')}, ${input.parallelism} at a time; store ${describeStore(input.store)}`,
    );
    if (session.uiBase) log(`Temporal UI: ${uiWorkflowUrl(session.uiBase, namespace, workflowId)}`);
    if (o.wait === false) {
      console.log(workflowId);
      return undefined;
    }
    const follow = followSweep(client, handle, o.json ?? false, polling.signal);
    let result: SweepResult;
    try {
      if (workers) {
        const wconn = await connectWorker(session.settings);
        try {
          const ws = await createMerWorkers({
            connection: wconn,
            namespace,
            taskQueues: input.temporal.taskQueues,
            queues: ['cpu', 'gpu'],
            workflows: true,
            concurrency: o.concurrency ? { cpu: o.concurrency } : undefined,
          });
          shutdownOnSignals(ws);
          result = (await runWorkers(ws, follow))!;
        } finally {
          await wconn.close();
        }
      } else result = await follow;
    } catch (err) {
      // The sweep's own ending in its words; a rerun of the command continues from the committed outputs.
      const ended = classifyRunEnd(err, workflowId);
      if (!ended) throw err;
      const line = `sweep ${workflowId} ${ended.end === 'failed' ? `failed: ${ended.reason}` : ended.end}; run mer sweep ${file} again to continue it, reusing every committed output`;
      if (o.json) process.stderr.write(`${JSON.stringify({ ...ended.event(), next: `mer sweep ${file}` })}\n`);
      else console.error(`mer: ${line}`);
      process.exitCode = 1;
      return undefined;
    }
    if (o.json) console.log(JSON.stringify(result, null, 2));
    else {
      for (const [dataset, c] of Object.entries(result.chosen))
        console.log(
          c
            ? `${dataset}: chosen setting ${c.index + 1} (${c.label}), validation weighted F1 ${(c.validationWeightedF1 * 100).toFixed(1)}%`
            : `${dataset}: no setting could be chosen (see the report)`,
        );
      // A local store's report is a file to open; an S3 one is named by its key.
      const where = (key: string) => (input.store.kind === 'local' ? join(input.store.root, key) : key);
      console.log(`  ${where(result.htmlKey)}\n  ${where(result.jsonKey)}`);
      const bad = result.settings.filter((s) => s.status === 'failed' || s.status === 'diverged');
      for (const s of bad) console.error(`mer: setting ${s.index + 1} (${s.label}) ${s.status}: ${s.error ?? ''}`);
    }
    if (result.settings.some((s) => s.status === 'failed')) process.exitCode = 1;
    return result;
  } finally {
    polling.abort();
    await session.close();
  }
}

/** Waits for the sweep, printing each setting's state when it changes (NDJSON with --json). */
async function followSweep(
  client: Client,
  handle: WorkflowHandle<typeof MerSweep>,
  json: boolean,
  signal: AbortSignal,
): Promise<SweepResult> {
  let last = '';
  let stop = false;
  const poll = (async () => {
    while (!stop && !signal.aborted) {
      try {
        const st = await sweepStatus(client, handle.workflowId);
        const now = JSON.stringify(st.settings.map((s) => s.status));
        if (now !== last && st.source === 'live') {
          last = now;
          if (json) process.stderr.write(`${JSON.stringify({ event: 'sweep', ...st })}\n`);
          else for (const l of renderSweepStatus(st)) console.error(l);
        }
      } catch {
        // not answered yet: the next poll
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
  })();
  try {
    return await handle.result();
  } finally {
    stop = true;
    await poll;
  }
}
