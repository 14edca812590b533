import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { ErrorTypes, MerError } from '../../common/errors.ts';
import { redactUrlForLog } from '../../common/redact.ts';
import type { Validators } from './source-record.ts';

/** One GET and what its answer means: which failures a new connection may fix, and which byte range a body holds. */

/** A failure that a fresh connection may fix. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientError';
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** Anything that goes wrong on the wire (reset, DNS, TLS, timeout, bad framing) is worth a new connection. */
export function asTransient(err: unknown): unknown {
  if (err instanceof MerError || err instanceof TransientError) return err;
  const t = new TransientError(errorText(err));
  t.cause = err;
  return t;
}

export function headerValue(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | null {
  const m = value ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value) : null;
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function unreachable(status: number, statusText: string | undefined, safeUrl: string): MerError {
  const hint =
    status === 401 || status === 403 || status === 404 || status === 410
      ? ' The link may have expired or be wrong: IEMOCAP download links expire about 48 h after they are issued, so request a new one.'
      : '';
  return new MerError(
    ErrorTypes.SourceUnreachable,
    `download failed: HTTP ${status}${statusText ? ` ${statusText}` : ''} for ${safeUrl} (query string not shown).${hint}`,
    { status, url: safeUrl },
  );
}

/**
 * Throws unless the status carries a body to use: client errors (but 408 and 429) are SourceUnreachable,
 * which retrying cannot fix; anything else but 200 and 206 is transient.
 */
export function checkStatus(res: IncomingMessage, status: number, safeUrl: string): void {
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    res.resume();
    throw unreachable(status, res.statusMessage, safeUrl);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new TransientError(
      `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`,
      parseRetryAfter(headerValue(res, 'retry-after')),
    );
  }
}

/** Where a 200 or 206 body lies in the file (`end` exclusive, when known), and the validators it came with. */
export function bodySpan(
  res: IncomingMessage,
  status: number,
  want: number,
): { start: number; end: number | undefined; now: Validators } {
  const lengthHeader = headerValue(res, 'content-length');
  const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const now: Validators = { etag: headerValue(res, 'etag'), lastModified: headerValue(res, 'last-modified') };
  if (status !== 206) {
    now.totalBytes = contentLength;
    return { start: 0, end: contentLength, now };
  }
  const cr = parseContentRange(headerValue(res, 'content-range'));
  if (!cr || cr.start !== want || cr.end < cr.start) {
    res.resume();
    throw new TransientError(
      `asked for bytes from ${want}, got HTTP 206 with Content-Range ${headerValue(res, 'content-range') ?? '(none)'}`,
    );
  }
  now.totalBytes = cr.total;
  return { start: cr.start, end: cr.end + 1, now };
}

const SENSITIVE_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export interface OpenArgs {
  url: URL;
  headers: OutgoingHttpHeaders;
  maxRedirects: number;
  idleTimeoutMs: number;
  signal?: AbortSignal;
  safeUrl: string;
}

/** The next URL of a redirect chain; refuses targets that are not http(s) or not URLs at all. */
function redirectTarget(location: string, from: URL, safeUrl: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new MerError(
      ErrorTypes.SourceUnreachable,
      `download failed: invalid redirect target from ${redactUrlForLog(from)}`,
      { url: safeUrl },
    );
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new MerError(
      ErrorTypes.SourceUnreachable,
      `download failed: redirect to unsupported scheme ${next.protocol} from ${redactUrlForLog(from)}`,
      {
        url: safeUrl,
      },
    );
  }
  return next;
}

/** One GET, following redirects; answers the first non-redirect response with its body unread. */
export async function openResponse(args: OpenArgs): Promise<IncomingMessage> {
  let url = args.url;
  let headers = { ...args.headers };
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(url, headers, args.idleTimeoutMs, args.signal);
    const status = res.statusCode ?? 0;
    if (![301, 302, 303, 307, 308].includes(status)) return res;
    res.resume();
    const location = headerValue(res, 'location');
    if (!location)
      throw new TransientError(`HTTP ${status} redirect without a Location header from ${redactUrlForLog(url)}`);
    if (hop >= args.maxRedirects) {
      throw new MerError(
        ErrorTypes.SourceUnreachable,
        `download failed: more than ${args.maxRedirects} redirects starting at ${args.safeUrl}`,
        {
          url: args.safeUrl,
        },
      );
    }
    const next = redirectTarget(location, url, args.safeUrl);
    // Like browsers and curl: credentials meant for one origin are not handed to another.
    if (next.origin !== url.origin) {
      headers = Object.fromEntries(
        Object.entries(headers).filter(([k]) => !SENSITIVE_HEADERS.includes(k.toLowerCase())),
      );
    }
    url = next;
  }
}

function requestOnce(
  url: URL,
  headers: OutgoingHttpHeaders,
  idleTimeoutMs: number,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: 'GET', headers, signal });
    req.setTimeout(idleTimeoutMs, () =>
      req.destroy(new TransientError(`no data for ${Math.round(idleTimeoutMs / 1000)} s`)),
    );
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}
