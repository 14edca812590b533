import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Locating and running ffmpeg/ffprobe. Every stage that touches media goes through here so binary
 * resolution, timeouts, cancellation and error messages behave the same everywhere.
 */

export type ToolName = 'ffmpeg' | 'ffprobe';
export type ToolSource = 'env' | 'ffmpeg-static' | 'path';

export interface ResolvedTool {
  name: ToolName;
  path: string;
  source: ToolSource;
}

const ENV_VAR: Record<ToolName, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };

export class ToolNotFoundError extends Error {
  constructor(
    readonly tool: ToolName,
    message: string,
  ) {
    super(message);
    this.name = 'ToolNotFoundError';
  }
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return false;
    if (process.platform === 'win32') return true;
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function fromFfmpegStatic(): Promise<string | null> {
  try {
    // A variable specifier keeps TypeScript from demanding the optional package's types at build time.
    const specifier = 'ffmpeg-static';
    const mod: unknown = await import(specifier);
    const value = mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
    if (typeof value === 'string' && (await isExecutableFile(value))) return value;
  } catch {
    // Optional dependency: absent or its postinstall download failed. Fall through to PATH.
  }
  return null;
}

async function fromPath(name: ToolName): Promise<string | null> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const names = process.platform === 'win32' ? [`${name}.exe`, name] : [name];
  for (const dir of dirs) {
    for (const n of names) {
      const candidate = join(dir, n);
      if (await isExecutableFile(candidate)) return resolve(candidate);
    }
  }
  return null;
}

const resolveCache = new Map<string, Promise<ResolvedTool>>();

async function resolveUncached(name: ToolName): Promise<ResolvedTool> {
  const envVar = ENV_VAR[name];
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    const path = isAbsolute(fromEnv) ? fromEnv : resolve(fromEnv);
    // A set but broken variable is a configuration mistake; silently using another binary would hide it.
    if (!(await isExecutableFile(path))) {
      throw new ToolNotFoundError(name, `${envVar}=${fromEnv} is not an executable file`);
    }
    return { name, path, source: 'env' };
  }
  if (name === 'ffmpeg') {
    const p = await fromFfmpegStatic();
    if (p) return { name, path: p, source: 'ffmpeg-static' };
  }
  const p = await fromPath(name);
  if (p) return { name, path: p, source: 'path' };
  throw new ToolNotFoundError(
    name,
    `${name} not found: set ${envVar}, ${name === 'ffmpeg' ? 'install the optional ffmpeg-static package, ' : ''}` +
      `or run scripts/setup-tools.sh (installs Debian's ffmpeg) so that ${name} is on PATH`,
  );
}

/** Finds a tool: env FFMPEG_PATH/FFPROBE_PATH, then ffmpeg-static (ffmpeg only), then PATH. */
export function resolveTool(name: ToolName): Promise<ResolvedTool> {
  // Keyed by the inputs of resolution so a changed env (tests, long-lived workers) is honoured.
  const key = `${name}\0${process.env[ENV_VAR[name]] ?? ''}\0${process.env.PATH ?? ''}`;
  let hit = resolveCache.get(key);
  if (!hit) {
    hit = resolveUncached(name);
    resolveCache.set(key, hit);
    hit.catch(() => resolveCache.delete(key));
  }
  return hit;
}

export async function ffmpegPath(): Promise<string> {
  return (await resolveTool('ffmpeg')).path;
}

export async function ffprobePath(): Promise<string> {
  return (await resolveTool('ffprobe')).path;
}

/** Forgets resolved paths and versions (tests that change FFMPEG_PATH/PATH). */
export function clearToolCache(): void {
  resolveCache.clear();
  versionCache.clear();
}

// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------

const versionCache = new Map<string, Promise<string>>();

/** Parses `ffmpeg version 5.1.9-0+deb12u1 Copyright ...` → `5.1.9-0+deb12u1`; unknown shapes keep the whole line. */
export function parseVersionLine(firstLine: string): string {
  const m = /^\s*ff(?:mpeg|probe)\s+version\s+(\S+)/i.exec(firstLine);
  return m ? m[1] : firstLine.trim();
}

/** The resolved ffmpeg's version token, cached per binary path; stages put it into cache keys. */
export async function ffmpegVersion(opts: { signal?: AbortSignal } = {}): Promise<string> {
  const bin = await ffmpegPath();
  let hit = versionCache.get(bin);
  if (!hit) {
    hit = runTool(bin, ['-hide_banner', '-version'], { timeoutMs: 30_000, signal: opts.signal }).then(({ stdout }) => {
      const first = stdout.toString('utf8').split(/\r?\n/, 1)[0] ?? '';
      if (!first.trim()) throw new Error(`${bin} -version printed nothing`);
      return parseVersionLine(first);
    });
    versionCache.set(bin, hit);
    hit.catch(() => versionCache.delete(bin));
  }
  return hit;
}

// ---------------------------------------------------------------------------------------------------

export type StreamKind = 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | 'unknown';

export interface ProbeStream {
  index: number;
  kind: StreamKind;
  codec: string;
  /** Seconds, when the container states it per stream. */
  duration?: number;
  /** Timestamp of the stream's first frame/sample, seconds (non-zero e.g. for MP4 edit lists). */
  startTime?: number;
  /** Frames (video) or packets (audio) when the container states them. */
  frames?: number;
  width?: number;
  height?: number;
  /** Average frame rate, else the nominal rate; absent when neither is meaningful. */
  fps?: number;
  pixFmt?: string;
  sampleRate?: number;
  channels?: number;
}

export interface ProbeFormat {
  /** ffprobe's comma-separated demuxer names, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  formatName: string;
  duration?: number;
  size?: number;
  bitRate?: number;
}

export interface ProbeResult {
  format: ProbeFormat;
  streams: ProbeStream[];
  /** First video/audio stream, the ones every caller wants. */
  video?: ProbeStream;
  audio?: ProbeStream;
}

const numLike = z.union([z.string(), z.number()]).optional();
const rawProbeSchema = z.object({
  streams: z
    .array(
      z
        .object({
          index: z.number(),
          codec_type: z.string().optional(),
          codec_name: z.string().optional(),
          width: z.number().optional(),
          height: z.number().optional(),
          avg_frame_rate: z.string().optional(),
          r_frame_rate: z.string().optional(),
          pix_fmt: z.string().optional(),
          sample_rate: numLike,
          channels: z.number().optional(),
          duration: numLike,
          start_time: numLike,
          nb_frames: numLike,
        })
        .loose(),
    )
    .default([]),
  format: z
    .object({
      format_name: z.string().optional(),
      duration: numLike,
      size: numLike,
      bit_rate: numLike,
    })
    .loose()
    .optional(),
});

function num(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** `24000/1001` → 23.976…; `0/0` and garbage → undefined. */
export function parseRate(rate: string | undefined): number | undefined {
  if (!rate) return undefined;
  const [a, b] = rate.split('/');
  const n = Number(a);
  const d = b === undefined ? 1 : Number(b);
  if (!Number.isFinite(n) || !Number.isFinite(d) || n <= 0 || d <= 0) return undefined;
  return n / d;
}

const KINDS: readonly StreamKind[] = ['video', 'audio', 'subtitle', 'data', 'attachment'];

export function parseProbeJson(json: unknown): ProbeResult {
  const raw = rawProbeSchema.parse(json);
  const streams: ProbeStream[] = raw.streams.map((s) => {
    const kind = (KINDS as readonly string[]).includes(s.codec_type ?? '') ? (s.codec_type as StreamKind) : 'unknown';
    const out: ProbeStream = { index: s.index, kind, codec: s.codec_name ?? 'unknown' };
    const duration = num(s.duration);
    if (duration !== undefined) out.duration = duration;
    const startTime = num(s.start_time);
    if (startTime !== undefined) out.startTime = startTime;
    const frames = num(s.nb_frames);
    if (frames !== undefined) out.frames = frames;
    if (kind === 'video') {
      if (s.width !== undefined) out.width = s.width;
      if (s.height !== undefined) out.height = s.height;
      const fps = parseRate(s.avg_frame_rate) ?? parseRate(s.r_frame_rate);
      if (fps !== undefined) out.fps = fps;
      if (s.pix_fmt) out.pixFmt = s.pix_fmt;
    }
    if (kind === 'audio') {
      const sr = num(s.sample_rate);
      if (sr !== undefined) out.sampleRate = sr;
      if (s.channels !== undefined) out.channels = s.channels;
    }
    return out;
  });
  const format: ProbeFormat = { formatName: raw.format?.format_name ?? 'unknown' };
  const fd = num(raw.format?.duration);
  if (fd !== undefined) format.duration = fd;
  const size = num(raw.format?.size);
  if (size !== undefined) format.size = size;
  const br = num(raw.format?.bit_rate);
  if (br !== undefined) format.bitRate = br;
  const result: ProbeResult = { format, streams };
  const video = streams.find((s) => s.kind === 'video');
  const audio = streams.find((s) => s.kind === 'audio');
  if (video) result.video = video;
  if (audio) result.audio = audio;
  return result;
}

/** ffprobe a file; a corrupt or unreadable file rejects with ToolError carrying ffprobe's message. */
export async function ffprobeJson(
  path: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ProbeResult> {
  const bin = await ffprobePath();
  const { stdout } = await runTool(bin, ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', path], {
    timeoutMs: opts.timeoutMs ?? 60_000,
    signal: opts.signal,
  });
  let json: unknown;
  try {
    json = JSON.parse(stdout.toString('utf8'));
  } catch (err) {
    throw new Error(`ffprobe printed invalid JSON for ${path}`, { cause: err });
  }
  return parseProbeJson(json);
}
