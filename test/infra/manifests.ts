// Typed views of the deployment documents that infra.test.ts parses (kustomize's YAML output, the JSON of
// `docker compose config`). They describe only the fields the tests read: a field is optional where the
// tests allow it to be missing, required where they rely on it (a document without it fails its test).

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
}

export interface EnvVar {
  name: string;
  value?: string;
}

export interface EnvFromSource {
  configMapRef?: { name: string };
  secretRef?: { name: string };
}

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
}

/** Kubernetes quantities: YAML gives `1` as a number and `2Gi` as a string. */
type Quantities = Record<string, string | number>;

/** The `worker` container of a worker Deployment: runs `mer worker` and is checked field by field. */
export interface WorkerContainer extends Container {
  image: string;
  args: string[];
  env: EnvVar[];
  envFrom: EnvFromSource[];
  resources: { requests: Quantities; limits: Quantities };
  securityContext: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities: { drop: string[] };
  };
  volumeMounts: Array<{ name: string; mountPath: string }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  startupProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
}

/** An HTTP probe (the worker's `--health-port` endpoint). */
export interface HttpProbe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface PodSpec {
  containers: Container[];
}

export interface WorkerPodSpec extends PodSpec {
  volumes: Array<{ name: string; secret?: { secretName: string } }>;
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds: number;
  automountServiceAccountToken?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: Array<{ key?: string }>;
}

export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { spec: WorkerPodSpec };
  };
}

export interface Job extends K8sObject {
  spec: { template: { spec: PodSpec } };
}

export interface ConfigMap extends K8sObject {
  data: Record<string, string>;
}

export interface PodDisruptionBudget extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    maxUnavailable?: number | string;
    minAvailable?: number | string;
  };
}

export interface ScaledObject extends K8sObject {
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount?: number;
    maxReplicaCount: number;
    /** Trigger metadata values are strings in KEDA's API (the test checks that too). */
    triggers: Array<{ type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }>;
  };
}

export interface TriggerAuthentication extends K8sObject {
  spec: { secretTargetRef: Array<{ parameter: string; name: string; key: string }> };
}

/** The kinds the tests look up by name, and the view each gets. */
export interface KindMap {
  ConfigMap: ConfigMap;
  Deployment: Deployment;
  Job: Job;
  PodDisruptionBudget: PodDisruptionBudget;
  ScaledObject: ScaledObject;
  Secret: K8sObject;
  TriggerAuthentication: TriggerAuthentication;
}

export const byKind = <K extends keyof KindMap>(docs: readonly K8sObject[], kind: K): KindMap[K][] =>
  docs.filter((d): d is KindMap[K] => d.kind === kind);

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: Array<{ host_ip?: string }>;
  environment: Record<string, string>;
  depends_on: Record<string, { condition: string }>;
  entrypoint: string[];
  command: string[];
  stop_grace_period: string;
  read_only?: boolean;
  profiles?: string[];
  deploy: {
    resources: { reservations: { devices: Array<{ driver: string; count: number | string; capabilities: string[] }> } };
  };
}

/** `docker compose config --format json`. */
export interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

/** A JSON object (not an array, not null), for walks over whole documents. */
export const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
