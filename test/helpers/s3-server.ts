import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3StoreSpec } from '../../schemas/store.ts';
import { freePort } from './ports.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REGION = 'us-east-1';

export interface S3TestServerOptions {
  /** Default 'mer-test'. */
  bucket?: string;
  /** Store prefix put into `spec`. */
  prefix?: string;
  /** Bound on each wait for the server to answer HTTP (default 20 s). */
  readyTimeoutMs?: number;
  /**
   * Keep object metadata in a sidecar folder instead of extended attributes. Chosen automatically when
   * the temp folder's file system has no user xattrs (some overlay and container file systems);
   * MER_S3_SIDECAR=1 forces it.
   */
  sidecar?: boolean;
}

export interface S3TestServer {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  /** What createStore needs to reach this server; credentials travel through the environment. */
  readonly spec: S3StoreSpec;
  readonly dataDir: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Whether object metadata lives in a sidecar folder rather than xattrs. */
  readonly sidecar: boolean;
  /** Kills the server; the data folder and port are kept for restart(). Idempotent. */
  stop(): Promise<void>;
  /** Stops the server if running and starts it again on the same port and data folder. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data folder. */
  dispose(): Promise<void>;
}

/** VERSITYGW_PATH, else the copy scripts/setup-tools.sh --test builds into .mer/tools/bin. */
export async function resolveVersitygw(): Promise<string> {
  const bin = process.env.VERSITYGW_PATH || join(REPO_ROOT, '.mer', 'tools', 'bin', 'versitygw');
  try {
    await access(bin, constants.X_OK);
  } catch {
    throw new Error(
      `versitygw (the S3-compatible server the S3 tests run against) is not at ${bin}. ` +
        'Install it with `bash scripts/setup-tools.sh --test`, or set VERSITYGW_PATH to an existing binary.',
    );
  }
  return bin;
}

/** Children still running; killed on exit so a crashed or forgetful test never leaves a server behind. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Starts a real versitygw (POSIX backend) on 127.0.0.1 with fresh root keys and one empty bucket, and
 * points the AWS SDK's default credential chain at it through this process's environment.
 */
export async function startS3Server(opts: S3TestServerOptions = {}): Promise<S3TestServer> {
  const bin = await resolveVersitygw();
  const bucket = opts.bucket ?? 'mer-test';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const root = await mkdtemp(join(tmpdir(), 'mer-s3-'));
  const dataDir = join(root, 'data');
  const metaDir = join(root, 'meta');
  await mkdir(dataDir);
  await mkdir(metaDir);

  const accessKeyId = `MER${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  let sidecar = opts.sidecar ?? process.env.MER_S3_SIDECAR === '1';
  let port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = ['--port', `127.0.0.1:${port}`, '--quiet', 'posix'];
    if (sidecar) args.push('--sidecar', metaDir);
    args.push(dataDir);
    // Keys go through the environment rather than argv, where every local user could read them in ps.
    const proc = spawn(bin, args, {
      env: {
        PATH: process.env.PATH ?? '',
        ROOT_ACCESS_KEY_ID: accessKeyId,
        ROOT_SECRET_ACCESS_KEY: secretAccessKey,
        VGW_REGION: REGION,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (b: Buffer): void => {
      output = (output + b.toString('utf8')).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    // A test that forgets dispose() must still be able to exit; the exit hook then kills the server.
    proc.unref();
    (proc.stdout as { unref?: () => void } | null)?.unref?.();
    (proc.stderr as { unref?: () => void } | null)?.unref?.();
    live.add(proc);
    const exited = new Promise<string>((res) => {
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        res(`versitygw exited (${signal ?? `code ${code}`}): ${output.trim() || '(no output)'}`);
      });
      proc.once('error', (err) => {
        live.delete(proc);
        res(`versitygw could not be started from ${bin}: ${err.message}`);
      });
    });
    child = proc;
    try {
      const outcome = await Promise.race([waitHttp(port, readyTimeoutMs).then(() => null), exited]);
      if (outcome !== null) throw new Error(outcome);
    } catch (err) {
      await stop();
      throw err;
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((res) => proc.once('exit', () => res()));
    proc.kill('SIGTERM');
    if (!(await within(gone, 5_000))) {
      proc.kill('SIGKILL');
      if (!(await within(gone, 5_000))) throw new Error(`versitygw pid ${proc.pid} did not exit after SIGKILL`);
    }
  };

  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await launch();
        break;
      } catch (err) {
        const msg = (err as Error).message;
        if (!sidecar && /xattr/i.test(msg)) {
          sidecar = true; // versitygw refuses to start on file systems without user xattrs
        } else if (attempt < 4 && /address already in use/i.test(msg)) {
          port = await freePort(); // lost the race for the probed port to another process
        } else {
          throw err;
        }
        if (attempt >= 4) throw err;
      }
    }

    process.env.AWS_ACCESS_KEY_ID = accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = secretAccessKey;
    process.env.AWS_REGION = REGION;
    // A session token or profile from the developer's shell would be mixed into requests and rejected.
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    // The project pins the SDK on Node 20 on purpose; its upgrade notice is noise in test output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

    const endpoint = `http://127.0.0.1:${port}`;
    const admin = new S3Client({
      endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      admin.destroy();
    }

    const spec: S3StoreSpec = { kind: 's3', bucket, endpoint, region: REGION, forcePathStyle: true };
    if (opts.prefix !== undefined) spec.prefix = opts.prefix;
    return {
      endpoint,
      port,
      bucket,
      spec,
      dataDir,
      accessKeyId,
      secretAccessKey,
      get sidecar() {
        return sidecar;
      },
      stop,
      restart: async () => {
        await stop();
        await launch();
      },
      dispose: async () => {
        await stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stop().catch(() => {});
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** Resolves once anything answers HTTP on the port (an S3 error response counts: the server is up). */
async function waitHttp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', timeout: 1_000 }, (resp) => {
        resp.resume();
        res(true);
      });
      req.once('timeout', () => req.destroy());
      req.once('error', () => res(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`versitygw did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((res) => {
    timer = setTimeout(() => res(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
