/**
 * One-shot setup of a Temporal namespace and an S3-compatible bucket for mer workers. Run by the compose
 * service `mer-init` and by the Kubernetes Job in infra/k8s/init/, with the worker image:
 *
 *   node --import tsx infra/init/mer-init.ts
 *
 * Everything comes from the environment, the same variables the workers read:
 *   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* (workers/connection.ts)
 *   MER_CREATE_NAMESPACE=1   register TEMPORAL_NAMESPACE when it does not exist (self-hosted servers only;
 *                            Temporal Cloud namespaces are created in Cloud)
 *   MER_NAMESPACE_RETENTION_DAYS  retention for a namespace created here [7]
 *   MER_REGISTER_SEARCH_ATTRIBUTES=0  skip search attribute registration (Temporal Cloud: add them
 *                            with tcld or the Cloud UI instead)
 *   MER_S3_BUCKET            create this bucket when it is missing (unset: no S3 step)
 *   MER_S3_ENDPOINT          S3-compatible endpoint (path-style); unset means AWS S3
 *   AWS_REGION, AWS_ACCESS_KEY_ID, ...  the standard AWS credential chain
 *   MER_INIT_WAIT_SEC        how long to wait for Temporal and S3 to answer [120]
 *
 * The search attributes are exactly workflows/search-attributes.ts: missing ones are added, present ones
 * with the right type are left alone, and one present with another type is an error (a run would fail
 * to upsert it). Rerunning changes nothing. Credentials are never printed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Connection } from '@temporalio/client';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { MER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.ts';
import { clusterFromEnv, connectClient, type ClusterSettings } from '../../workers/connection.ts';

/** temporal.api.enums.v1.IndexedValueType, by the SDK's SearchAttributeType names. */
export const INDEXED_VALUE_TYPE: Record<string, number> = {
  TEXT: 1,
  KEYWORD: 2,
  INT: 3,
  DOUBLE: 4,
  BOOL: 5,
  DATETIME: 6,
  KEYWORD_LIST: 7,
};

export interface InitOptions {
  cluster: ClusterSettings;
  createNamespace: boolean;
  retentionDays: number;
  searchAttributes: boolean;
  bucket?: string;
  s3Endpoint?: string;
  region: string;
  waitSec: number;
  log: (line: string) => void;
}

export interface InitReport {
  namespaceCreated: boolean;
  searchAttributesAdded: string[];
  bucketCreated: boolean;
}

export function initOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): InitOptions {
  const cluster = clusterFromEnv(env);
  if (!cluster) throw new Error('TEMPORAL_ADDRESS is not set: mer-init sets up a Temporal cluster (host:port)');
  const num = (name: string, dflt: number) => {
    const v = env[name];
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`${name} must be a positive number, got '${v}'`);
    return n;
  };
  return {
    cluster,
    createNamespace: env.MER_CREATE_NAMESPACE === '1' || env.MER_CREATE_NAMESPACE === 'true',
    retentionDays: num('MER_NAMESPACE_RETENTION_DAYS', 7),
    searchAttributes: env.MER_REGISTER_SEARCH_ATTRIBUTES !== '0' && env.MER_REGISTER_SEARCH_ATTRIBUTES !== 'false',
    bucket: env.MER_S3_BUCKET || undefined,
    s3Endpoint: env.MER_S3_ENDPOINT || undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    waitSec: num('MER_INIT_WAIT_SEC', 120),
    log: (line) => console.error(`[mer-init] ${line}`),
  };
}

/** Retries `fn` until it succeeds or `deadline` (ms since epoch) passes; the last error is rethrown. */
async function until<T>(what: string, deadline: number, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() + 2000 > deadline) throw err;
      if (attempt === 1 || attempt % 10 === 0) log(`waiting for ${what}: ${(err as Error).message ?? String(err)}`);
      await sleep(2000);
    }
  }
}

type RetentionPeriod = Parameters<
  Connection['workflowService']['registerNamespace']
>[0]['workflowExecutionRetentionPeriod'];

const grpcCode = (err: unknown): number | undefined => (err as { code?: number } | null)?.code;

async function ensureNamespace(conn: Connection, o: InitOptions, deadline: number): Promise<boolean> {
  const namespace = o.cluster.namespace;
  try {
    await conn.workflowService.describeNamespace({ namespace });
    return false;
  } catch (err) {
    if (grpcCode(err) !== 5 /* NOT_FOUND */) throw err;
  }
  if (!o.createNamespace) {
    throw new Error(
      `namespace '${namespace}' does not exist; create it (or set MER_CREATE_NAMESPACE=1 on a self-hosted server)`,
    );
  }
  try {
    await conn.workflowService.registerNamespace({
      namespace,
      // int64 seconds: protobufjs takes a plain number for a Long field.
      workflowExecutionRetentionPeriod: { seconds: Math.round(o.retentionDays * 86400) } as unknown as RetentionPeriod,
      description: 'mer-pipeline runs',
    });
  } catch (err) {
    if (grpcCode(err) !== 6 /* ALREADY_EXISTS */) throw err;
    return false;
  }
  // A new namespace reaches every frontend's cache within seconds; wait for it before using it.
  await until(`namespace '${namespace}'`, deadline, o.log, () => conn.workflowService.describeNamespace({ namespace }));
  return true;
}

async function ensureSearchAttributes(conn: Connection, o: InitOptions, deadline: number): Promise<string[]> {
  const namespace = o.cluster.namespace;
  const want = new Map(MER_SEARCH_ATTRIBUTES.map((k) => [k.name, INDEXED_VALUE_TYPE[k.type]]));
  const current = async () => (await conn.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  const have = await until('search attributes', deadline, o.log, current);
  const missing: Record<string, number> = {};
  for (const [name, type] of want) {
    if (!(name in have)) missing[name] = type;
    else if (Number(have[name]) !== type) {
      throw new Error(
        `search attribute ${name} exists with type ${String(have[name])}, mer needs ${type}; remove it or use another namespace`,
      );
    }
  }
  const added = Object.keys(missing);
  if (added.length) {
    try {
      await conn.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    } catch (err) {
      if (grpcCode(err) !== 6 /* ALREADY_EXISTS: a concurrent init won */) throw err;
    }
    await until('search attributes to appear', deadline, o.log, async () => {
      const now = await current();
      const absent = added.filter((n) => !(n in now));
      if (absent.length) throw new Error(`not listed yet: ${absent.join(', ')}`);
    });
  }
  return added;
}

async function ensureBucket(o: InitOptions, deadline: number): Promise<boolean> {
  const bucket = o.bucket!;
  const s3 = new S3Client({
    region: o.region,
    endpoint: o.s3Endpoint,
    forcePathStyle: o.s3Endpoint !== undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 5000, socketTimeout: 30_000 },
  });
  try {
    const exists = await until(`S3 ${o.s3Endpoint ?? 'AWS'}`, deadline, o.log, async () => {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }));
        return true;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchBucket')
          return false;
        throw err;
      }
    });
    if (exists) return false;
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if ((err as Error).name === 'BucketAlreadyOwnedByYou') return false;
      throw err;
    }
    return true;
  } finally {
    s3.destroy();
  }
}

export async function runInit(o: InitOptions): Promise<InitReport> {
  const deadline = Date.now() + o.waitSec * 1000;
  const report: InitReport = { namespaceCreated: false, searchAttributesAdded: [], bucketCreated: false };
  const conn = await until(`Temporal at ${o.cluster.address}`, deadline, o.log, async () => {
    const c = await connectClient(o.cluster);
    try {
      await c.workflowService.getSystemInfo({});
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  });
  try {
    report.namespaceCreated = await ensureNamespace(conn, o, deadline);
    o.log(`namespace '${o.cluster.namespace}' ${report.namespaceCreated ? 'created' : 'present'}`);
    if (o.searchAttributes) {
      report.searchAttributesAdded = await ensureSearchAttributes(conn, o, deadline);
      const names = MER_SEARCH_ATTRIBUTES.map((k) => k.name).join(', ');
      o.log(
        report.searchAttributesAdded.length
          ? `search attributes added: ${report.searchAttributesAdded.join(', ')}`
          : `search attributes present: ${names}`,
      );
    }
  } finally {
    await conn.close();
  }
  if (o.bucket) {
    report.bucketCreated = await ensureBucket(o, deadline);
    o.log(`bucket '${o.bucket}' ${report.bucketCreated ? 'created' : 'present'}`);
  }
  return report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runInit(initOptionsFromEnv()).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`[mer-init] failed: ${(err as Error).message ?? String(err)}`);
      process.exit(1);
    },
  );
}
