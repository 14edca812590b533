import { ffmpegPath } from '../common/ffmpeg.ts';
import { ffprobeJson, type ProbeResult } from '../common/ffprobe.ts';
import { ToolError, runTool, type RunToolOptions, type RunToolResult } from '../common/run-tool.ts';
import { runPiped, type PipedRunOptions, type PipedRunResult } from './ffmpeg-pipes.ts';

/**
 * The ffmpeg/ffprobe invocations of one shard: resolved once, counted (the shard reports how many
 * processes it ran), all bound to the activity's cancellation signal.
 */
export class SegmentTools {
  runs = 0;

  private constructor(
    readonly ffmpeg: string,
    readonly version: string,
    readonly signal: AbortSignal | undefined,
  ) {}

  static async create(version: string, signal?: AbortSignal): Promise<SegmentTools> {
    return new SegmentTools(await ffmpegPath(), version, signal);
  }

  /** ffmpeg 7 replaced `-filter_complex_script FILE` with `-/filter_complex FILE`; both read the graph from stdin here. */
  filterGraphFromStdin(): string[] {
    return versionAtLeast(this.version, 7, 0) ? ['-/filter_complex', 'pipe:0'] : ['-filter_complex_script', 'pipe:0'];
  }

  /** `-fps_mode` appeared in 5.1; older builds spell passthrough as `-vsync passthrough`. */
  passthroughFrames(): string[] {
    return versionAtLeast(this.version, 5, 1) ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough'];
  }

  probe(path: string, timeoutMs = 60_000): Promise<ProbeResult> {
    this.runs++;
    return this.cancellable(ffprobeJson(path, { timeoutMs, signal: this.signal }));
  }

  run(args: readonly string[], opts: Omit<RunToolOptions, 'signal'>): Promise<RunToolResult> {
    this.runs++;
    return this.cancellable(runTool(this.ffmpeg, args, { ...opts, signal: this.signal }));
  }

  piped(args: readonly string[], opts: Omit<PipedRunOptions, 'signal'>): Promise<PipedRunResult> {
    this.runs++;
    return this.cancellable(runPiped(this.ffmpeg, args, { ...opts, signal: this.signal }));
  }

  /** A run stopped by cancellation rejects with the signal's reason (Temporal's CancelledFailure), not a tool error. */
  private async cancellable<T>(run: Promise<T>): Promise<T> {
    try {
      return await run;
    } catch (err) {
      if (err instanceof ToolError && err.reason === 'aborted' && this.signal?.aborted) throw this.signal.reason ?? err;
      throw err;
    }
  }
}

/**
 * Release versions look like `5.1.9-0+deb12u1`, `6.1.1-static` or `n7.0`; git builds (`N-112345-g…`)
 * are newer than any release, so an unparsable version counts as new.
 */
export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^n?(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

/** ffmpeg's error text without the per-context prefixes (`[mov,mp4 @ 0x55…] `) and the file path. */
export function toolMessage(stderr: string, path?: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) =>
      l
        .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '')
        .replace(/^\[(?:panic|fatal|error|warning|info|verbose|debug)\]\s*/, ''),
    )
    .map((l) => (path && l.startsWith(`${path}: `) ? l.slice(path.length + 2) : l))
    .map((l) => (path && l.startsWith(`file:${path}: `) ? l.slice(path.length + 7) : l))
    .map((l) => l.trim())
    .filter(Boolean);
  return [...new Set(lines)].slice(-3).join('; ').slice(0, 300) || 'no message';
}
