import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const INSTALL_HINT = "run `bash scripts/setup-tools.sh --test` (installs Debian's chromium) or set MER_CHROMIUM";

/** Debian's chromium (scripts/setup-tools.sh --test installs it); MER_CHROMIUM overrides. Null when absent. */
export function findChromium(): string | null {
  const p = process.env.MER_CHROMIUM || '/usr/bin/chromium';
  try {
    accessSync(p, constants.X_OK);
    return p;
  } catch {
    return null;
  }
}

/** The chromium executable; throws, saying how to install it, when there is none. */
export function chromiumPath(): string {
  const p = findChromium();
  if (!p) throw new Error(`Chromium not found at ${process.env.MER_CHROMIUM || '/usr/bin/chromium'}: ${INSTALL_HINT}`);
  return p;
}

/**
 * For `test(name, { skip: chromiumSkipReason() }, …)`: a reason to skip when chromium is absent on a
 * developer machine, but undefined under CI (CI set), where the test must run and fail loudly instead.
 */
export function chromiumSkipReason(): string | undefined {
  if (findChromium() || process.env.CI) return undefined;
  return `chromium not installed: ${INSTALL_HINT} (under CI this fails instead of skipping)`;
}

/** Launches headless chromium through playwright-core (which never downloads a browser). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    timeout: 30_000,
  });
}
