import { createServer, type Server } from 'node:http';
import type { Worker } from '@temporalio/worker';
import type { ServedQueue } from './factory.ts';

/**
 * `mer worker --health-port`: a small HTTP endpoint for Kubernetes probes and people.
 *
 * The Temporal SDK exposes no health endpoint of its own (its Prometheus endpoint reports slots, not
 * whether the worker still runs), so the worker answers from its own state:
 * - `GET /healthz` (liveness): 200 while every worker is starting, running or draining (a graceful
 *   shutdown must not be killed by its own probe), 503 once one has failed or stopped: the kubelet then
 *   restarts a worker that would otherwise sit there polling nothing.
 * - `GET /readyz`: 200 only while every worker is RUNNING (polling); 503 during start-up and shutdown.
 * Both return the same JSON body: `{ status, identity, taskQueues: [{ taskQueue, workflows, activities,
 * state }], activitiesInFlight }`. Nothing secret is in it (no address, namespace or credential).
 */

export interface HealthReport {
  status: 'ok' | 'draining' | 'starting' | 'failed';
  taskQueues: Array<ServedQueue & { state: string }>;
  activitiesInFlight: number;
}

/** Worker states (SDK `State`) in which the process is alive and doing what it should. */
const ALIVE = new Set(['INITIALIZED', 'RUNNING', 'STOPPING', 'DRAINING', 'DRAINED']);

export function healthReport(workers: readonly Worker[], served: readonly ServedQueue[]): HealthReport {
  const states = workers.map((w) => w.getState() as string);
  const taskQueues = served.map((s, i) => ({ ...s, state: states[i] ?? 'UNKNOWN' }));
  const activitiesInFlight = workers.reduce((n, w) => n + w.getStatus().numInFlightActivities, 0);
  const status = states.some((s) => !ALIVE.has(s))
    ? 'failed'
    : states.every((s) => s === 'RUNNING')
      ? 'ok'
      : states.some((s) => s === 'INITIALIZED')
        ? 'starting'
        : 'draining';
  return { status, taskQueues, activitiesInFlight };
}

/**
 * Serves /healthz and /readyz on `port` (all interfaces: the kubelet probes the pod IP). Port 0 picks
 * a free one; the bound port is returned. `served` is in the order of `workers` (createMerWorkers and
 * servedQueues agree on it).
 */
export async function startHealthServer(
  port: number,
  workers: readonly Worker[],
  served: readonly ServedQueue[],
  host = '0.0.0.0',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/readyz')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /healthz or /readyz\n');
      return;
    }
    const report = healthReport(workers, served);
    const good = path === '/healthz' ? report.status !== 'failed' : report.status === 'ok';
    res.writeHead(good ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(report)}\n`);
  });
  // The probe port must never keep a finished worker process alive.
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
