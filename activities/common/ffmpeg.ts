import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { runTool } from './run-tool.ts';

/**
 * Locating ffmpeg/ffprobe and the resolved ffmpeg's version. Every stage that touches media goes through
 * here (running: run-tool.ts, probing: ffprobe.ts) so binary resolution behaves the same everywhere.
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
const versionCache = new Map<string, Promise<string>>();

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
