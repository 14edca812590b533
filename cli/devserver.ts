import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { merHome, requireTemporalCli, resolveTemporalCli } from '../activities/common/tools.ts';
import { MER_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.ts';

export interface DevServerSettings {
  ip: string;
  port: number;
  uiPort: number;
  dbFile: string;
  namespace: string;
}

export function devServerSettings(env: NodeJS.ProcessEnv = process.env): DevServerSettings {
  const port = Number(env.MER_DEV_PORT ?? 7233);
  return {
    ip: env.MER_DEV_IP ?? '127.0.0.1',
    port,
    uiPort: Number(env.MER_DEV_UI_PORT ?? 8233),
    dbFile: join(merHome(), 'temporal', 'dev.db'),
    namespace: 'default',
  };
}

export const devAddress = (s: DevServerSettings) => `${s.ip}:${s.port}`;
export const devUiUrl = (s: DevServerSettings) => `http://localhost:${s.uiPort}`;
const pidFile = () => join(merHome(), 'temporal', 'dev.pid');
const logFile = () => join(merHome(), 'temporal', 'dev.log');

export function devServerArgs(s: DevServerSettings): string[] {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    s.dbFile,
    '--ip',
    s.ip,
    '--port',
    String(s.port),
    '--ui-port',
    String(s.uiPort),
    '--namespace',
    s.namespace,
    '--log-level',
    'warn',
  ];
  for (const [name, type] of SEARCH_ATTRIBUTE_FLAGS) args.push('--search-attribute', `${name}=${type}`);
  return args;
}

export async function isServerUp(address: string, timeoutMs = 1500): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    await conn.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/**
 * The first command after `npm ci` alone: no Temporal CLI anywhere (TEMPORAL_CLI, PATH, .mer/tools).
 * `mer` says in one line what to run rather than running it: the setup script may install Debian
 * packages through sudo (ffmpeg), which a `mer run` must not start behind the user's back, and the
 * SDK's download (the former fallback) fails offline with "failed to download ephemeral server
 * executable" and gives a server that dies with the command. MER_SDK_DEV_SERVER=1 still asks for it.
 */
export const TEMPORAL_CLI_MISSING =
  'the Temporal CLI is not installed: run `npm run setup` once (= bash scripts/setup-tools.sh, idempotent: the pinned temporal CLI into .mer/tools, and ffmpeg), or set TEMPORAL_CLI to a temporal binary, or TEMPORAL_ADDRESS to use a cluster';

export class ToolMissingError extends Error {
  override name = 'ToolMissingError';
}

const sdkDownloadAllowed = () => process.env.MER_SDK_DEV_SERVER === '1';

/**
 * Opt-in (MER_SDK_DEV_SERVER=1) without the Temporal CLI: the SDK downloads a dev server (needs
 * internet). It lives only as long as this process, with the same database.
 */
async function sdkDownloadedServer(s: DevServerSettings, log: (m: string) => void): Promise<() => Promise<void>> {
  log(
    'Temporal CLI not found; MER_SDK_DEV_SERVER=1: downloading a dev server through the Temporal SDK (needs internet; it stops when this command ends)',
  );
  mkdirSync(join(merHome(), 'temporal'), { recursive: true });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download' },
      dbFilename: s.dbFile,
      ip: s.ip,
      port: s.port,
      ui: true,
      uiPort: s.uiPort,
      namespace: s.namespace,
      searchAttributes: MER_SEARCH_ATTRIBUTES,
    },
  });
  return () => env.teardown();
}

/**
 * Starts the persistent dev server in the background (it outlives this process) unless one answers.
 * `stop` is set only when the server had to be run inside this process (SDK download fallback).
 */
export async function ensureDevServer(
  s: DevServerSettings = devServerSettings(),
  log: (m: string) => void = () => {},
): Promise<{ started: boolean; stop?: () => Promise<void> }> {
  if (await isServerUp(devAddress(s))) return { started: false };
  const cli = resolveTemporalCli();
  if (!cli) {
    if (!sdkDownloadAllowed()) throw new ToolMissingError(TEMPORAL_CLI_MISSING);
    return { started: true, stop: await sdkDownloadedServer(s, log) };
  }
  mkdirSync(join(merHome(), 'temporal'), { recursive: true });
  const out = openSync(logFile(), 'a');
  const child = spawn(cli, devServerArgs(s), { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  writeFileSync(pidFile(), String(child.pid));
  log(`starting Temporal dev server (db ${s.dbFile}, log ${logFile()})`);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await isServerUp(devAddress(s))) return { started: true };
    await new Promise((r) => setTimeout(r, 500));
  }
  // Two `mer run` started together both find no server and both start one: the loser's exits on the
  // taken port, and the winner's is the one to use.
  if (await isServerUp(devAddress(s))) return { started: false };
  throw new Error(`Temporal dev server did not come up on ${devAddress(s)}; see ${logFile()}`);
}

/** Runs the dev server in the foreground (`mer dev`): Ctrl-C stops it. */
export async function runDevServerForeground(s: DevServerSettings = devServerSettings()): Promise<number> {
  if (await isServerUp(devAddress(s))) {
    console.log(
      `a Temporal server already answers on ${devAddress(s)} (UI ${devUiUrl(s)}); stop it with \`mer dev --stop\``,
    );
    return 0;
  }
  if (!resolveTemporalCli()) {
    if (!sdkDownloadAllowed()) throw new ToolMissingError(TEMPORAL_CLI_MISSING);
    const stop = await sdkDownloadedServer(s, (m) => console.error(m));
    await new Promise<void>((res) => {
      process.once('SIGINT', res);
      process.once('SIGTERM', res);
    });
    await stop();
    return 0;
  }
  mkdirSync(join(merHome(), 'temporal'), { recursive: true });
  const child = spawn(requireTemporalCli(), devServerArgs(s), { stdio: 'inherit' });
  writeFileSync(pidFile(), String(child.pid));
  const code: number = await new Promise((res) => child.on('exit', (c) => res(c ?? 0)));
  rmSync(pidFile(), { force: true });
  return code;
}

export function stopDevServer(): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(), 'utf8'));
  } catch {
    return false;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
  rmSync(pidFile(), { force: true });
  return true;
}
