import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/**
 * Installs the Temporal runtime with a quieter logger (MER_LOG_LEVEL, default WARN): worker state
 * changes at INFO would drown the progress display. Must run before the first connection.
 */
export function installRuntime(level: LogLevel = (process.env.MER_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  if (installed) return;
  installed = true;
  try {
    const base = new DefaultLogger(level);
    // Workers on one queue kind legitimately have no workflows or no activities; saying so is noise.
    const expected = /not polling for (workflow|activity|Nexus) tasks/;
    const logger = new DefaultLogger(level, (entry) => {
      if (!expected.test(entry.message)) base.log(entry.level, entry.message, entry.meta);
    });
    Runtime.install({ logger });
  } catch {
    // Already installed by someone else (e.g. a test environment); theirs stands.
  }
}
