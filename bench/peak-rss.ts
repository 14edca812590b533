import { readFileSync } from 'node:fs';

/**
 * Peak RSS of this process since exec, in KiB. VmHWM is this process's own high-water mark;
 * getrusage's maxRSS is not: on Linux a spawned child's maxRSS starts at its parent's RSS (measured:
 * a 40 MiB child of a 450 MiB parent reports ~410 MiB), which would hide exactly the flatness the
 * benches' child processes are meant to show. Elsewhere it falls back to maxRSS.
 */
export function peakRssKiB(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}
