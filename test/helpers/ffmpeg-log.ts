import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clearToolCache, resolveTool } from '../../activities/common/ffmpeg.ts';

/**
 * ffmpeg and ffprobe behind logging wrappers: every invocation (with its arguments) is appended to a
 * log file before the real binary is exec'd with the same stdio, so tests can count and inspect the
 * media work of in-process and child-process workers alike. `delaySec` slows every invocation down
 * while `slow(true)` is in effect (a shard then runs long enough to kill its worker part way).
 */
export interface FfmpegLog {
  /** FFMPEG_PATH / FFPROBE_PATH for a child process's environment. */
  env: { FFMPEG_PATH: string; FFPROBE_PATH: string };
  logFile: string;
  /** One entry per invocation so far: `ffmpeg <args>` or `ffprobe <args>`. */
  lines(): Promise<string[]>;
  /** Points this process at the wrappers; returns the function that restores the previous setting. */
  install(): () => void;
  /** Turns the `delaySec` slow-down on or off for every wrapper started from now on. */
  slow(on: boolean): Promise<void>;
}

export async function ffmpegLog(dir: string, opts: { delaySec?: number } = {}): Promise<FfmpegLog> {
  const logFile = join(dir, 'ffmpeg-invocations.log');
  const slowMarker = join(dir, 'ffmpeg-slow');
  await writeFile(logFile, '');
  if (opts.delaySec) await writeFile(slowMarker, '');
  const wrap = async (name: 'ffmpeg' | 'ffprobe'): Promise<string> => {
    const real = (await resolveTool(name)).path;
    const path = join(dir, `logged-${name}`);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    await writeFile(
      path,
      [
        '#!/bin/sh',
        `printf '%s %s\\n' ${name} "$*" >> ${q(logFile)}`,
        opts.delaySec ? `[ -e ${q(slowMarker)} ] && sleep ${opts.delaySec}` : '',
        `exec ${q(real)} "$@"`,
        '',
      ].join('\n'),
    );
    await chmod(path, 0o755);
    return path;
  };
  const env = { FFMPEG_PATH: await wrap('ffmpeg'), FFPROBE_PATH: await wrap('ffprobe') };
  return {
    env,
    logFile,
    lines: async () => (await readFile(logFile, 'utf8')).split('\n').filter(Boolean),
    slow: async (on) => {
      if (on) await writeFile(slowMarker, '');
      else await rm(slowMarker, { force: true });
    },
    install: () => {
      const before = { FFMPEG_PATH: process.env.FFMPEG_PATH, FFPROBE_PATH: process.env.FFPROBE_PATH };
      Object.assign(process.env, env);
      clearToolCache();
      return () => {
        for (const [k, v] of Object.entries(before)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
        clearToolCache();
      };
    },
  };
}
