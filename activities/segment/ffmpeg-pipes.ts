import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ToolError, formatCommand, type ToolFailureReason } from '../common/run-tool.ts';

/**
 * ffmpeg with its outputs streamed: stdout cut into fixed-size records (raw video frames) handed to
 * an async callback one at a time — the child is paused while the callback runs, so memory stays at
 * one frame however long the video — and an optional second output on fd 3 (`pipe:3`) collected
 * whole (an utterance's audio). Argument arrays only, never a shell; a timeout and an abort signal
 * SIGKILL the child, as in runTool.
 */

export interface PipedRunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Written to stdin, which is then closed (e.g. a filtergraph read with `-filter_complex_script pipe:0`). */
  stdin?: string | Uint8Array;
  /** Size of one stdout record; required when stdout is used. */
  recordBytes?: number;
  onRecord?: (record: Buffer, index: number) => Promise<void> | void;
  /** Collect fd 3. */
  fd3?: boolean;
  /** Bytes of fd 3 beyond this are an error (default 256 MiB: an hour of 16 kHz audio is 115 MB). */
  maxFd3Bytes?: number;
  /** Each stderr line as it arrives; return true to keep it out of the error text (e.g. per-frame showinfo lines). */
  onStderrLine?: (line: string) => boolean;
  /** stderr is closed: no more lines will come. */
  onStderrEnd?: () => void;
}

export interface PipedRunResult {
  records: number;
  /** Bytes after the last whole record (non-zero means the child stopped mid-frame). */
  trailingBytes: number;
  fd3: Buffer;
  stderr: string;
}

const STDERR_KEEP = 64 * 1024;

export function runPiped(bin: string, args: readonly string[], opts: PipedRunOptions): Promise<PipedRunResult> {
  const command = formatCommand(bin, args);
  if (opts.signal?.aborted) {
    return Promise.reject(
      new ToolError(`aborted before start: ${command}`, 'aborted', command, null, null, '', {
        cause: opts.signal.reason,
      }),
    );
  }
  const child = spawn(bin, [...args], {
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', opts.fd3 ? 'pipe' : 'ignore'],
    windowsHide: true,
  });
  let failure: { reason: ToolFailureReason; detail: string; cause?: unknown } | null = null;
  const kill = (reason: ToolFailureReason, detail: string, cause?: unknown): void => {
    if (failure) return;
    failure = { reason, detail, cause };
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => kill('timeout', `timed out after ${opts.timeoutMs} ms`), opts.timeoutMs);
  const onAbort = (): void => kill('aborted', 'aborted', opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  let stderr = '';
  let partial = '';
  const keep = (text: string): void => {
    stderr += text;
    if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    if (!opts.onStderrLine) return keep(c);
    const lines = (partial + c).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (!opts.onStderrLine(line)) keep(`${line}\n`);
  });
  child.stderr!.on('close', () => {
    if (partial && !opts.onStderrLine?.(partial)) keep(partial);
    partial = '';
    opts.onStderrEnd?.();
  });
  const fd3Chunks: Buffer[] = [];
  let fd3Bytes = 0;
  const maxFd3 = opts.maxFd3Bytes ?? 256 * 1024 * 1024;
  const fd3 = child.stdio[3] as Readable | null | undefined;
  fd3?.on('data', (c: Buffer) => {
    fd3Bytes += c.length;
    if (fd3Bytes > maxFd3) kill('output-limit', `fd 3 exceeded ${maxFd3} bytes`);
    else fd3Chunks.push(c);
  });
  if (child.stdin) {
    // The child may exit before reading its input (bad arguments): EPIPE is not the error to report.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin);
  }

  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Awaited only after stdout is drained; a spawn failure must not count as unhandled meanwhile.
  closed.catch(() => undefined);

  const consume = async (): Promise<{ records: number; trailingBytes: number }> => {
    const size = opts.recordBytes ?? 0;
    let records = 0;
    let record = size > 0 ? Buffer.allocUnsafe(size) : Buffer.alloc(0);
    let filled = 0;
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      if (size === 0) continue;
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(size - filled, chunk.length - off);
        chunk.copy(record, filled, off, off + n);
        filled += n;
        off += n;
        if (filled === size) {
          await opts.onRecord?.(record, records++);
          record = Buffer.allocUnsafe(size);
          filled = 0;
        }
      }
    }
    return { records, trailingBytes: filled };
  };

  const finish = (): void => {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  };

  return (async () => {
    let consumed: { records: number; trailingBytes: number };
    try {
      consumed = await consume();
    } catch (err) {
      // The callback failed (e.g. a store write): stop the child and report the callback's error.
      kill('aborted', 'stopped after a consumer error', err);
      await closed.catch(() => undefined);
      finish();
      throw err;
    }
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await closed;
    } catch (err) {
      finish();
      throw new ToolError(`failed to start ${command}: ${(err as Error).message}`, 'spawn', command, null, null, '', {
        cause: err,
      });
    }
    finish();
    const tail = stderr.trimEnd().slice(-2000);
    if (failure) {
      const f = failure as { reason: ToolFailureReason; detail: string; cause?: unknown };
      throw new ToolError(
        `${f.detail}: ${command}${tail ? `\n${tail}` : ''}`,
        f.reason,
        command,
        exit.code,
        exit.signal,
        tail,
        { cause: f.cause },
      );
    }
    if (exit.code !== 0) {
      const how = exit.code === null ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
      throw new ToolError(
        `${how}: ${command}${tail ? `\n${tail}` : ''}`,
        'exit',
        command,
        exit.code,
        exit.signal,
        tail,
      );
    }
    return { ...consumed, fd3: Buffer.concat(fd3Chunks), stderr };
  })();
}
