import { ErrorTypes, MerError } from '../../common/errors.ts';
import { redactUrlForLog } from '../../common/redact.ts';
import { downloadPartKey } from '../../../schemas/layout.ts';
import { assertValidKey, type ObjectStore } from '../../store/types.ts';

/** What a resumable download is asked to do, what it reports, and the settings it runs with. */

export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
const DEFAULT_USER_AGENT = 'mer-pipeline/0.1';

export interface DownloadProgress {
  /** Bytes received so far (stored parts plus the part being filled). */
  bytesDone: number;
  totalBytes?: number;
  /** Parts durably stored, contiguous from part 1: what a later attempt may pass back as `resume`. */
  partsDone: number;
}

export interface DownloadOptions {
  store: ObjectStore;
  url: string;
  /** Parts land at `${partsPrefix}/part-000001`, ...; `${partsPrefix}/source.json` records the source's validators. */
  partsPrefix: string;
  /** Size of every part but the last. Default 64 MiB; at most two parts are held in memory at once. */
  chunkBytes?: number;
  /** From a previous attempt's last progress report. Only parts present in the store with the right size are trusted. */
  resume?: { partsDone: number };
  /** Called after each stored part, after a restart, and every `progressIntervalMs` while bytes arrive. */
  onProgress?: (p: DownloadProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /** Consecutive failed connections (without a single new byte) tolerated before giving up. Default 8. */
  maxReconnects?: number;
  /** A source that keeps changing under us is given up on after this many restarts. Default 3. */
  maxRestarts?: number;
  maxRedirects?: number;
  userAgent?: string;
  headers?: Record<string, string>;
  /** Exponential backoff between reconnects (with jitter). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** A connection silent for this long is dropped and resumed. Default 60 s. */
  idleTimeoutMs?: number;
}

export interface DownloadResult {
  totalBytes: number;
  /** Store keys of the parts, in order. */
  parts: string[];
  /** Connections re-opened after a drop, an error status or an idle timeout. */
  reconnects: number;
  /** True when bytes had to be fetched again from byte 0 (source changed, or server ignores Range). */
  restarted: boolean;
  restartReasons: string[];
  /** Body bytes received from the network by this call (refetched bytes included). */
  bytesFetched: number;
  /** Parts of a previous attempt that were reused. */
  resumedParts: number;
  etag?: string;
  lastModified?: string;
}

/** The options checked and with their defaults filled in. */
export interface DownloadSettings {
  chunkBytes: number;
  url: URL;
  /** The URL as messages show it: no query string, no user info. */
  safeUrl: string;
  maxReconnects: number;
  maxRestarts: number;
  maxRedirects: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  progressIntervalMs: number;
  idleTimeoutMs: number;
  /** Sent with every request, names lower-cased so a caller's header replaces ours. */
  headers: Record<string, string>;
}

/** Checks the options (ConfigInvalid for a bad chunk size or URL) and fills in the defaults. */
export function resolveSettings(opts: DownloadOptions): DownloadSettings {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `download chunk size must be a positive integer number of bytes, got ${chunkBytes}`,
    );
  }
  assertValidKey(downloadPartKey(opts.partsPrefix, 1));
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    // The URL itself is not echoed: it may carry a token.
    throw new MerError(ErrorTypes.ConfigInvalid, 'download URL is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MerError(ErrorTypes.ConfigInvalid, `download URL must be http or https, got ${url.protocol}`);
  }
  return {
    chunkBytes,
    url,
    safeUrl: redactUrlForLog(url),
    maxReconnects: opts.maxReconnects ?? 8,
    maxRestarts: opts.maxRestarts ?? 3,
    maxRedirects: opts.maxRedirects ?? 10,
    backoffInitialMs: opts.backoff?.initialMs ?? 1000,
    backoffMaxMs: opts.backoff?.maxMs ?? 60_000,
    progressIntervalMs: opts.progressIntervalMs ?? 5000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    headers: {
      'user-agent': opts.userAgent ?? DEFAULT_USER_AGENT,
      // Byte ranges only line up with the stored bytes if nothing re-encodes the body in transit.
      'accept-encoding': 'identity',
      ...Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    },
  };
}
