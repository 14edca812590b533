import { spawn } from 'node:child_process';

/**
 * Running a binary (ffmpeg, ffprobe, anything) with an argument array and collected output. Every stage
 * that touches media goes through here so timeouts, cancellation and error messages behave the same
 * everywhere.
 */

export interface RunToolOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: Uint8Array | string;
  cwd?: string;
  /** Stdout beyond this is an error (protects against runaway rawvideo dumps). Default 512 MiB. */
  maxStdoutBytes?: number;
}

export interface RunToolResult {
  stdout: Buffer;
  stderr: string;
}

export type ToolFailureReason = 'exit' | 'timeout' | 'aborted' | 'spawn' | 'output-limit';

export class ToolError extends Error {
  constructor(
    message: string,
    readonly reason: ToolFailureReason,
    readonly command: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
    readonly stderrTail: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ToolError';
  }
}

const STDERR_KEEP = 256 * 1024;
const STDERR_TAIL_IN_MESSAGE = 2000;

/** Shell-like rendering for messages only; the tool is never run through a shell. */
export function formatCommand(bin: string, args: readonly string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [bin, ...args].map(q).join(' ');
}

function tail(s: string, n: number): string {
  const t = s.length > n ? `…${s.slice(-n)}` : s;
  return t.trimEnd();
}

/**
 * Runs a binary with an argument array. Rejects with ToolError on non-zero exit, spawn failure,
 * timeout or abort (the child is SIGKILLed: a half-written output is useless to every caller, so there
 * is nothing to gain from a graceful stop).
 */
export function runTool(bin: string, args: readonly string[], opts: RunToolOptions): Promise<RunToolResult> {
  const command = formatCommand(bin, args);
  const maxStdout = opts.maxStdoutBytes ?? 512 * 1024 * 1024;
  return new Promise<RunToolResult>((resolvePromise, reject) => {
    if (opts.signal?.aborted) {
      reject(
        new ToolError(`aborted before start: ${command}`, 'aborted', command, null, null, '', {
          cause: opts.signal.reason,
        }),
      );
      return;
    }
    const child = spawn(bin, [...args], {
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: { reason: ToolFailureReason; detail: string; cause?: unknown } | null = null;
    let settled = false;

    const kill = (reason: ToolFailureReason, detail: string, cause?: unknown) => {
      if (failure) return;
      failure = { reason, detail, cause };
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timeout', `timed out after ${opts.timeoutMs} ms`), opts.timeoutMs);
    const onAbort = () => kill('aborted', 'aborted', opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (err: ToolError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolvePromise({ stdout: Buffer.concat(chunks), stderr });
    };

    child.stdout!.on('data', (c: Buffer) => {
      stdoutBytes += c.length;
      if (stdoutBytes > maxStdout) {
        kill('output-limit', `stdout exceeded ${maxStdout} bytes`);
        return;
      }
      chunks.push(c);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      stderr += c;
      if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
    });
    if (child.stdin) {
      // The tool may exit before reading all input (e.g. it failed on arguments): EPIPE is not the error to report.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
    child.on('error', (err) => {
      finish(
        new ToolError(`failed to start ${command}: ${err.message}`, 'spawn', command, null, null, '', { cause: err }),
      );
    });
    child.on('close', (code, signal) => {
      const stderrTail = tail(stderr, STDERR_TAIL_IN_MESSAGE);
      if (failure) {
        const f = failure;
        finish(
          new ToolError(
            `${f.detail}: ${command}${stderrTail ? `\n${stderrTail}` : ''}`,
            f.reason,
            command,
            code,
            signal,
            stderrTail,
            {
              cause: f.cause,
            },
          ),
        );
      } else if (code !== 0) {
        const how = code === null ? `killed by ${signal}` : `exit code ${code}`;
        finish(
          new ToolError(
            `${how}: ${command}${stderrTail ? `\n${stderrTail}` : ''}`,
            'exit',
            command,
            code,
            signal,
            stderrTail,
          ),
        );
      } else {
        finish(null);
      }
    });
  });
}
