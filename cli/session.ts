import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import { failureMessage, type MerPipeline } from '../workflows/pipeline.ts';
import { createMerWorkers, runWorkers, shutdownOnSignals } from '../workers/factory.ts';
import { clusterFromEnv, connectClient, connectWorker, type ClusterSettings } from '../workers/connection.ts';
import { devAddress, devServerSettings, devUiUrl, ensureDevServer } from './devserver.ts';
import { classifyRunEnd, typedMessage } from './run-end.ts';
import { watchPipeline } from './run.ts';
import { embeddedTrainSlots } from './run-queues.ts';

/** A CLI command's connection to Temporal: the cluster from the environment, else the local dev server. */
export interface CliSession {
  client: Client;
  connection: Connection;
  namespace: string;
  settings: ClusterSettings;
  /** Set when TEMPORAL_ADDRESS names a cluster; null for the embedded local dev server. */
  cluster: ClusterSettings | null;
  /** Base URL of the Temporal Web UI, when known (the dev server's, or MER_UI_URL for a cluster). */
  uiBase?: string;
  /** Stops a dev server that lives only as long as this process (SDK-downloaded fallback). */
  stopServer?: () => Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the client side of a command. `startDevServer` starts (or reuses) the persistent local dev
 * server when no cluster is configured; read-only commands (`status`, `runs`) pass false so that
 * looking at runs never starts a server.
 */
export async function openSession(opts: { startDevServer: boolean; log?: (m: string) => void }): Promise<CliSession> {
  const cluster = clusterFromEnv();
  let stopServer: (() => Promise<void>) | undefined;
  let settings: ClusterSettings;
  let uiBase = process.env.MER_UI_URL?.replace(/\/+$/, '') || undefined;
  if (cluster) {
    settings = cluster;
  } else {
    const s = devServerSettings();
    if (opts.startDevServer) stopServer = (await ensureDevServer(s, opts.log ?? (() => {}))).stop;
    settings = { address: devAddress(s), namespace: s.namespace };
    uiBase ??= devUiUrl(s);
  }
  let connection: Connection;
  try {
    connection = await connectClient(settings);
  } catch (err) {
    await stopServer?.();
    const hint = cluster ? '' : ' (no local dev server is running: `mer dev --detach` starts one, `mer run` does too)';
    throw new Error(`cannot reach Temporal at ${settings.address}${hint}: ${failureMessage(err)}`);
  }
  const client = new Client({ connection, namespace: settings.namespace });
  return {
    client,
    connection,
    namespace: settings.namespace,
    settings,
    cluster,
    uiBase,
    stopServer,
    close: async () => {
      await connection.close();
      await stopServer?.();
    },
  };
}

/** The Temporal UI page of a workflow (its latest run, or one run's history when runId is given). */
export function uiWorkflowUrl(base: string, namespace: string, workflowId: string, runId?: string): string {
  const page = `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${page}/${encodeURIComponent(runId)}/history` : page;
}

/** The UI's workflow list filtered by a visibility query, e.g. `MerConfigHash="..."`. */
export function uiListUrl(base: string, namespace: string, query: string): string {
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(query)}`;
}

export interface WaitOptions {
  /** Run cpu+gpu workers in this process while waiting (the embedded default does). */
  workers: boolean;
  /** NDJSON progress on stderr instead of the table; see `mer run --json`. */
  json: boolean;
  concurrency?: number;
}

/**
 * Waits for a pipeline run to finish, running workers for its task queues in this process when asked,
 * and shows progress (table on a TTY, NDJSON with --json, nothing otherwise).
 */
export async function waitForRun(
  session: CliSession,
  handle: WorkflowHandle<typeof MerPipeline>,
  input: Pick<PipelineInput, 'temporal' | 'train'>,
  o: WaitOptions,
): Promise<PipelineResult> {
  const watch = () => watchPipeline(handle, { progress: o.json ? 'json' : 'auto' });
  try {
    if (!o.workers) return await watch();
    const wconn = await connectWorker(session.settings);
    try {
      const workers = await createEmbeddedWorkers(wconn, session.namespace, input, o.concurrency);
      shutdownOnSignals(workers);
      return (await runWorkers(workers, watch()))!;
    } finally {
      await wconn.close();
    }
  } catch (err) {
    // The run's own ending (failed, terminated, cancelled) in its words; anything else lost the run.
    throw classifyRunEnd(err, handle.workflowId) ?? new Error(`lost run ${handle.workflowId}: ${typedMessage(err)}`);
  }
}

/**
 * The workers of an embedded run: the cpu queue (workflows too) and the gpu queue, which takes
 * train.parallelism trainings at once (unset: the cores) with threads to match (cli/run-queues.ts).
 */
export async function createEmbeddedWorkers(
  connection: NativeConnection,
  namespace: string,
  input: Pick<PipelineInput, 'temporal' | 'train'>,
  cpuConcurrency?: number,
): Promise<Worker[]> {
  const base = { connection, namespace, taskQueues: input.temporal.taskQueues };
  const slots = embeddedTrainSlots(input);
  return [
    ...(await createMerWorkers({
      ...base,
      queues: ['cpu'],
      workflows: true,
      concurrency: cpuConcurrency ? { cpu: cpuConcurrency } : undefined,
    })),
    ...(await createMerWorkers({
      ...base,
      queues: ['gpu'],
      workflows: false,
      concurrency: { gpu: slots.concurrency },
      ...(slots.threads ? { threads: slots.threads } : {}),
    })),
  ];
}

export function describeStore(s: { kind: string; root?: string; bucket?: string; prefix?: string }): string {
  return s.kind === 'local' ? s.root! : `s3://${s.bucket}/${s.prefix ?? ''}`;
}

/** The result for people (a few lines per dataset) or as one JSON document on stdout. */
export function printResult(r: PipelineResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  for (const d of Object.values(r.datasets)) {
    const reused = !d.ran.download && !d.ran.extract && !d.ran.manifest;
    console.log(
      `${d.dataset}: ${d.rows} utterances, ${d.inLabelSet} in label set, ${d.issues} issues${reused ? ' (reused)' : ''}`,
    );
    console.log(`  manifest ${d.manifestKey}`);
    console.log(`  summary  ${d.summaryKey}`);
    const seg = r.segments?.[d.dataset];
    if (seg) {
      console.log(
        `  segment  ${seg.ok}/${seg.utterances} utterances cut, ${seg.quarantined} quarantined, ${seg.audioSeconds.toFixed(1)} s audio, ${seg.frames} frames${seg.ran ? '' : ' (reused)'}`,
      );
      console.log(`  report   ${seg.reportKey}`);
    }
    const feats = r.features?.[d.dataset];
    if (feats) {
      for (const f of Object.values(feats.modalities)) {
        console.log(
          `  ${f.modality.padEnd(8)} ${f.ok}/${f.rows} utterances encoded (${f.dim}-d), ${f.quarantined} quarantined, ${f.featuresPrefix}${f.ran ? '' : ' (reused)'}`,
        );
      }
    }
    for (const o of r.compressed?.[d.dataset]?.outputs ?? []) {
      const what = o.enabled ? 'VSC' : 'no VSC';
      console.log(
        `  compress ${what}: ${o.utterances} sequences of ${o.frames} x ${o.dim}, ${o.ratio.toFixed(1)}x fewer values, ${o.prefix}${o.ran ? '' : ' (reused)'}`,
      );
    }
    const trained = r.trained?.[d.dataset];
    if (trained) {
      console.log(
        `  train    ${trained.protocol} protocol, ${trained.folds.length} fold(s)${trained.optimistic ? ' (optimistic: selection on the test fold)' : ''}, splits ${trained.splitsKey}`,
      );
      for (const v of trained.variants) {
        const div = (trained.diverged ?? []).filter((x) => x.variant === v);
        if (div.length) {
          console.log(
            `    ${v.padEnd(14)} diverged on ${div.length} fold(s): ${div.map((x) => `${x.fold} (loss ${x.loss} at epoch ${x.epoch}, step ${x.step})`).join(', ')}`,
          );
          continue;
        }
        const runs = trained.runs.filter((x) => x.variant === v);
        const mean = (f: (x: (typeof runs)[number]) => number) =>
          (runs.reduce((a, x) => a + f(x), 0) / Math.max(1, runs.length)) * 100;
        const reused = runs.every((x) => x.reused) ? ' (reused)' : '';
        console.log(
          `    ${v.padEnd(14)} test accuracy ${mean((x) => x.test.accuracy).toFixed(1)}%, weighted F1 ${mean((x) => x.test.weightedF1).toFixed(1)}% (mean of ${runs.length} fold(s))${reused}`,
        );
      }
    }
    const rep = r.reports?.[d.dataset];
    if (rep)
      console.log(`  report   ${rep.htmlKey}${rep.ran ? '' : ' (reused)'}: \`mer report ${r.configHash}\` fetches it`);
  }
}
