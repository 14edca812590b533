import { Client } from '@temporalio/client';
import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import { failureMessage } from '../workflows/pipeline.ts';
import { createMerWorkers, runWorkers, shutdownOnSignals } from '../workers/factory.ts';
import { clusterFromEnv, connectClient, connectWorker } from '../workers/connection.ts';
import { buildRunConfig, toPipelineInput } from './config.ts';
import { devAddress, devServerSettings, devUiUrl, ensureDevServer } from './devserver.ts';
import { hasSearchAttributes, startPipeline, watchPipeline } from './run.ts';

export interface RunFlags {
  config?: string;
  until?: string;
  iemocap?: string;
  meld?: string | boolean;
  iemocapSha256?: string;
  meldSha256?: string;
  labels?: string;
  store?: string;
  s3Endpoint?: string;
  chunkMib?: number;
  heartbeatTimeout?: number;
  workers?: boolean;
  json?: boolean;
  wait?: boolean;
  concurrency?: number;
}

/**
 * `mer run`: embedded default (no TEMPORAL_ADDRESS) starts or reuses the local dev server and runs
 * workers for both task queues in this process; with TEMPORAL_ADDRESS it talks to that cluster and
 * leaves the work to `mer worker` fleets unless --workers is given.
 */
export async function executeRun(o: RunFlags): Promise<{ result: PipelineResult; input: PipelineInput; workflowId: string } | undefined> {
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
  });
  // Stages and sources are checked before any server is started or dialled: a typo must not cost a
  // dev-server start (or hang on an unreachable cluster) before it is reported.
  const checked = toPipelineInput(config, baseDir, false);
  const cluster = clusterFromEnv();
  const log = (m: string) => {
    if (!o.json) console.error(m);
  };
  let address: string;
  let namespace: string;
  let uiUrl: string | undefined;
  let stopServer: (() => Promise<void>) | undefined;
  if (cluster) {
    address = cluster.address;
    namespace = cluster.namespace;
  } else {
    const s = devServerSettings();
    stopServer = (await ensureDevServer(s, log)).stop;
    address = devAddress(s);
    namespace = s.namespace;
    uiUrl = devUiUrl(s);
  }
  const settings = cluster ?? { address, namespace };
  const connection = await connectClient(settings);
  const client = new Client({ connection, namespace });
  const input = { ...checked, searchAttributes: await hasSearchAttributes(client, namespace) };
  const { handle, attached } = await startPipeline(client, input);
  log(`${attached ? 'attached to running' : 'started'} ${handle.workflowId} (${input.stages.join(' → ')}; store ${describeStore(input.store)})`);
  if (uiUrl) log(`Temporal UI: ${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(handle.workflowId)}`);
  if (o.wait === false) {
    console.log(handle.workflowId);
    await connection.close();
    if (stopServer) log('note: the SDK-downloaded dev server stops with this command; install the Temporal CLI for a persistent one');
    await stopServer?.();
    return undefined;
  }
  const runLocal = o.workers ?? !cluster;
  let result: PipelineResult | undefined;
  try {
    if (runLocal) {
      const wconn = await connectWorker(settings);
      const workers = await createMerWorkers({
        connection: wconn,
        namespace,
        taskQueues: input.temporal.taskQueues,
        queues: ['cpu', 'gpu'],
        workflows: true,
        concurrency: o.concurrency ? { cpu: o.concurrency } : undefined,
      });
      shutdownOnSignals(workers);
      result = await runWorkers(workers, watchPipeline(handle, { quiet: o.json }));
      await wconn.close();
    } else {
      result = await watchPipeline(handle, { quiet: o.json });
    }
  } catch (err) {
    throw new Error(`run ${handle.workflowId} failed: ${failureMessage(err)}`);
  } finally {
    await connection.close();
    await stopServer?.();
  }
  printResult(result!, o.json ?? false);
  return { result: result!, input, workflowId: handle.workflowId };
}

function describeStore(s: { kind: string; root?: string; bucket?: string; prefix?: string }): string {
  return s.kind === 'local' ? s.root! : `s3://${s.bucket}/${s.prefix ?? ''}`;
}

function printResult(r: PipelineResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  for (const d of Object.values(r.datasets)) {
    const reused = !d.ran.download && !d.ran.extract && !d.ran.manifest;
    console.log(`${d.dataset}: ${d.rows} utterances, ${d.inLabelSet} in label set, ${d.issues} issues${reused ? ' (reused)' : ''}`);
    console.log(`  manifest ${d.manifestKey}`);
    console.log(`  summary  ${d.summaryKey}`);
  }
}

