import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../activities/common/tools.ts';

export interface MerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the real `mer` bin as a user would, in its own process, and returns its exit and output. The
 * process is killed (SIGKILL) if it outlives `timeoutMs`: a test never leaves one behind.
 */
export function runMer(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<MerResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/mer.mjs', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** The environment that points `mer` at a test's Temporal server instead of the embedded dev server. */
export function clusterEnv(address: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default', MER_UI_URL: '', ...extra };
}
