import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { StoreNotFoundError, assertValidKey, type ObjectStore } from '../store/types.ts';

export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
const DEFAULT_USER_AGENT = 'mer-pipeline/0.1';
const SOURCE_RECORD = 'source.json';
const PART_RE = /^part-(\d+)$/;

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

/** What a part set was downloaded from: a resumed download must come from the same bytes. */
interface SourceRecord {
  v: 1;
  chunkBytes: number;
  totalBytes: number | null;
  etag: string | null;
  lastModified: string | null;
}

interface Validators {
  totalBytes?: number;
  etag?: string;
  lastModified?: string;
}

/** A failure that a fresh connection may fix. */
class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientError';
  }
}

/** Scheme, host and path only: IEMOCAP links carry access tokens in the query string. */
export function redactUrlForLog(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

export function partKey(partsPrefix: string, index: number): string {
  return `${partsPrefix}/part-${String(index).padStart(6, '0')}`;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('download aborted');
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

function headerValue(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | null {
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

function changedValidators(before: Validators, now: Validators): string | null {
  const diffs: string[] = [];
  if (before.etag && now.etag && before.etag !== now.etag) diffs.push(`ETag ${before.etag} -> ${now.etag}`);
  if (before.lastModified && now.lastModified && before.lastModified !== now.lastModified) {
    diffs.push(`Last-Modified ${before.lastModified} -> ${now.lastModified}`);
  }
  if (before.totalBytes !== undefined && now.totalBytes !== undefined && before.totalBytes !== now.totalBytes) {
    diffs.push(`size ${before.totalBytes} -> ${now.totalBytes}`);
  }
  return diffs.length ? diffs.join(', ') : null;
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

const SENSITIVE_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

interface OpenArgs {
  url: URL;
  headers: OutgoingHttpHeaders;
  maxRedirects: number;
  idleTimeoutMs: number;
  signal?: AbortSignal;
  safeUrl: string;
}

/** One GET, following redirects; answers the first non-redirect response with its body unread. */
async function openResponse(args: OpenArgs): Promise<IncomingMessage> {
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
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new MerError(
        ErrorTypes.SourceUnreachable,
        `download failed: invalid redirect target from ${redactUrlForLog(url)}`,
        { url: args.safeUrl },
      );
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new MerError(
        ErrorTypes.SourceUnreachable,
        `download failed: redirect to unsupported scheme ${next.protocol} from ${redactUrlForLog(url)}`,
        {
          url: args.safeUrl,
        },
      );
    }
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

/**
 * Downloads `url` into the store as fixed-size parts, reconnecting from the exact next byte when the
 * connection drops, and resuming from a previous attempt's stored parts. Network trouble that outlasts
 * `maxReconnects` throws a plain Error (the activity's retry policy takes over); answers that retrying
 * cannot fix (401/403/404/410 and other client errors) throw MerError SourceUnreachable.
 */
export async function downloadToStore(opts: DownloadOptions): Promise<DownloadResult> {
  const { store, signal } = opts;
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `download chunk size must be a positive integer number of bytes, got ${chunkBytes}`,
    );
  }
  assertValidKey(partKey(opts.partsPrefix, 1));
  let baseUrl: URL;
  try {
    baseUrl = new URL(opts.url);
  } catch {
    // The URL itself is not echoed: it may carry a token.
    throw new MerError(ErrorTypes.ConfigInvalid, 'download URL is not a valid absolute URL');
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
    throw new MerError(ErrorTypes.ConfigInvalid, `download URL must be http or https, got ${baseUrl.protocol}`);
  }
  const safeUrl = redactUrlForLog(baseUrl);
  const maxReconnects = opts.maxReconnects ?? 8;
  const maxRestarts = opts.maxRestarts ?? 3;
  const backoffInitial = opts.backoff?.initialMs ?? 1000;
  const backoffMax = opts.backoff?.maxMs ?? 60_000;
  const progressIntervalMs = opts.progressIntervalMs ?? 5000;
  const recordKey = `${opts.partsPrefix}/${SOURCE_RECORD}`;
  const partsPrefixForList = `${opts.partsPrefix}/part-`;

  // Parts [1, partsQueued] (queuedBytes) are complete in memory or in the store; [1, partsDone] are stored.
  let partsDone = 0;
  let partsQueued = 0;
  let queuedBytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let inflight: Promise<void> | null = null;
  let validators: Validators | null = null;
  let restarted = false;
  const restartReasons: string[] = [];
  let reconnects = 0;
  let bytesFetched = 0;
  let resumedParts = 0;
  let rangesUnsupported = false;
  let lastProgressAt = Date.now();

  const nextByte = (): number => queuedBytes + pendingBytes;
  const report = (): void => {
    lastProgressAt = Date.now();
    opts.onProgress?.({ bytesDone: nextByte(), totalBytes: validators?.totalBytes, partsDone });
  };
  const settleInflight = async (): Promise<void> => {
    if (!inflight) return;
    const p = inflight;
    inflight = null;
    await p;
  };
  const queuePart = async (chunks: Buffer[]): Promise<void> => {
    // One upload overlaps the filling of the next part; a second full part waits for it.
    await settleInflight();
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const index = ++partsQueued;
    queuedBytes += size;
    const key = partKey(opts.partsPrefix, index);
    // Handed over as the received chunks: no 64 MiB concatenation, and the store copies nothing.
    const p = store.put(key, Readable.from(chunks, { objectMode: false })).then((r) => {
      if (r.size !== size) throw new Error(`store wrote ${r.size} bytes for ${key}, expected ${size}`);
      partsDone = index;
      report();
    });
    p.catch(() => undefined); // surfaced by the next settleInflight
    inflight = p;
  };
  /** Takes the first `size` pending bytes as a list of chunks (splitting one chunk at most). */
  const takePart = (size: number): Buffer[] => {
    const part: Buffer[] = [];
    let need = size;
    while (need > 0) {
      const head = pending[0];
      if (head.length <= need) {
        part.push(head);
        pending.shift();
        need -= head.length;
      } else {
        part.push(head.subarray(0, need));
        pending[0] = head.subarray(need);
        need = 0;
      }
    }
    pendingBytes -= size;
    return part;
  };
  const writeRecord = async (v: Validators): Promise<void> => {
    const rec: SourceRecord = {
      v: 1,
      chunkBytes,
      totalBytes: v.totalBytes ?? null,
      etag: v.etag ?? null,
      lastModified: v.lastModified ?? null,
    };
    await store.put(recordKey, JSON.stringify(rec));
  };
  // The record goes first and comes back last: parts without a matching record are never trusted.
  const clearStore = async (): Promise<void> => {
    await store.delete(recordKey);
    await store.deletePrefix(partsPrefixForList);
  };
  /** Drops what is held in memory and, unless the stored parts are provably still valid, those too. */
  const rewind = async (keepStoredParts: boolean): Promise<void> => {
    await settleInflight();
    pending = [];
    pendingBytes = 0;
    if (!keepStoredParts) {
      partsDone = 0;
      partsQueued = 0;
      queuedBytes = 0;
      validators = null;
      await clearStore();
    }
    report();
  };
  let sourceChanges = 0;
  const restartForChange = async (reason: string): Promise<void> => {
    restarted = true;
    restartReasons.push(reason);
    if (++sourceChanges > maxRestarts) {
      throw new Error(
        `download of ${safeUrl} restarted ${sourceChanges} times because the source kept changing (${reason}); giving up for now`,
      );
    }
    await rewind(false);
  };

  try {
    if (signal?.aborted) throw abortReason(signal);

    // Resume: trust the leading parts the previous attempt reported, if the store agrees and the
    // record of what they were downloaded from exists; the first response then checks the source.
    const hint = Math.max(0, Math.floor(opts.resume?.partsDone ?? 0));
    if (hint > 0) {
      const record = await readRecord(store, recordKey);
      if (!record || record.chunkBytes !== chunkBytes) {
        restarted = true;
        restartReasons.push(
          record
            ? `resume ignored: stored parts were cut at ${record.chunkBytes} bytes, not ${chunkBytes}`
            : 'resume ignored: no record of the source the stored parts came from',
        );
      } else {
        const sizes = await storedPartSizes(store, opts.partsPrefix);
        let trusted = 0;
        let trustedBytes = 0;
        for (let i = 1; i <= hint; i++) {
          const expected =
            record.totalBytes === null ? chunkBytes : Math.min(chunkBytes, record.totalBytes - (i - 1) * chunkBytes);
          if (expected <= 0 || sizes.get(i) !== expected) break;
          trusted = i;
          trustedBytes += expected;
        }
        if (trusted > 0) {
          partsDone = partsQueued = resumedParts = trusted;
          queuedBytes = trustedBytes;
          validators = {
            totalBytes: record.totalBytes ?? undefined,
            etag: record.etag ?? undefined,
            lastModified: record.lastModified ?? undefined,
          };
        }
      }
    }
    if (partsDone === 0) await clearStore();

    let failures = 0;
    let highWater = nextByte();
    let done = validators !== null && validators.totalBytes !== undefined && nextByte() >= validators.totalBytes;
    while (!done) {
      if (signal?.aborted) throw abortReason(signal);
      const want = nextByte();
      const headers: OutgoingHttpHeaders = {
        'user-agent': opts.userAgent ?? DEFAULT_USER_AGENT,
        // Byte ranges only line up with the stored bytes if nothing re-encodes the body in transit.
        'accept-encoding': 'identity',
        ...Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      };
      if (want > 0 && !rangesUnsupported) headers.range = `bytes=${want}-`;
      const reachedBefore = highWater;
      let res: IncomingMessage | null = null;
      try {
        try {
          res = await openResponse({
            url: baseUrl,
            headers,
            maxRedirects: opts.maxRedirects ?? 10,
            idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
            signal,
            safeUrl,
          });
        } catch (err) {
          throw asTransient(err);
        }
        const status = res.statusCode ?? 0;
        if (status === 416) {
          const total = parseContentRange(headerValue(res, 'content-range'))?.total;
          res.resume();
          await restartForChange(
            `server answered 416 to a range from byte ${want}${total !== undefined ? ` (size now ${total})` : ''}`,
          );
          continue;
        }
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
        const lengthHeader = headerValue(res, 'content-length');
        const contentLength =
          lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
        let start = 0;
        let end: number | undefined; // exclusive end of this body, in file offsets
        const now: Validators = { etag: headerValue(res, 'etag'), lastModified: headerValue(res, 'last-modified') };
        if (status === 206) {
          const cr = parseContentRange(headerValue(res, 'content-range'));
          if (!cr || cr.start !== want || cr.end < cr.start) {
            res.resume();
            throw new TransientError(
              `asked for bytes from ${want}, got HTTP 206 with Content-Range ${headerValue(res, 'content-range') ?? '(none)'}`,
            );
          }
          start = cr.start;
          end = cr.end + 1;
          now.totalBytes = cr.total;
        } else {
          now.totalBytes = contentLength;
          end = contentLength;
        }
        const changed = validators ? changedValidators(validators, now) : null;
        if (changed) {
          if (status === 206) {
            res.destroy();
            await restartForChange(`source changed between connections (${changed})`);
            continue;
          }
          await restartForChange(`source changed between connections (${changed})`);
        } else if (status === 200 && want > 0) {
          // The body starts again at byte 0. When the validators prove it is the same file, stored
          // parts stay and the bytes they hold are read past; otherwise everything starts over.
          const v = validators;
          const provablySame = v !== null && Boolean((now.etag && v.etag) || (now.lastModified && v.lastModified));
          if (!rangesUnsupported) {
            rangesUnsupported = true;
            restarted = true;
            restartReasons.push(
              `server ignored the Range request (HTTP 200 instead of 206) at byte ${want}: refetching from byte 0`,
            );
          }
          await rewind(provablySame);
        }
        if (!validators) {
          validators = now;
          await writeRecord(now);
        } else if (validators.totalBytes === undefined && now.totalBytes !== undefined) {
          validators.totalBytes = now.totalBytes;
        }

        let pos = start;
        const body = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        for (;;) {
          let step: IteratorResult<Buffer>;
          try {
            step = await body.next();
          } catch (err) {
            throw asTransient(err);
          }
          if (step.done) break;
          const chunk = step.value;
          bytesFetched += chunk.length;
          let data = chunk;
          const have = nextByte();
          if (pos < have) {
            const skip = Math.min(have - pos, data.length);
            pos += skip;
            data = data.subarray(skip);
            if (!data.length) continue;
          }
          pos += data.length;
          pending.push(data);
          pendingBytes += data.length;
          highWater = Math.max(highWater, nextByte());
          while (pendingBytes >= chunkBytes) await queuePart(takePart(chunkBytes));
          if (Date.now() - lastProgressAt >= progressIntervalMs) report();
        }
        if (end !== undefined && pos < end) throw new TransientError(`connection closed at byte ${pos} of ${end}`);
        const total = validators.totalBytes;
        if (total !== undefined && pos > total)
          throw new Error(`server sent ${pos} bytes of a ${total}-byte file at ${safeUrl}`);
        // A clean end short of the total is a server capping range sizes: the next range follows.
        if (total === undefined || pos >= total) done = true;
        else if (highWater === reachedBefore)
          throw new TransientError(`response ended at byte ${pos} without new data`);
        failures = 0;
      } catch (err) {
        res?.destroy();
        if (signal?.aborted) throw abortReason(signal);
        if (!(err instanceof TransientError)) throw err;
        if (highWater > reachedBefore) failures = 0;
        failures++;
        reconnects++;
        if (failures > maxReconnects) {
          throw new Error(
            `download of ${safeUrl} failed: ${failures} connections in a row brought no new data (last: ${err.message}); ` +
              `${nextByte()} bytes held, ${partsDone} parts stored`,
          );
        }
        const base = Math.min(backoffMax, backoffInitial * 2 ** (failures - 1));
        const wait = Math.min(backoffMax, Math.max(base / 2 + Math.random() * (base / 2), err.retryAfterMs ?? 0));
        try {
          await sleep(wait, undefined, signal ? { signal } : {});
        } catch {
          throw abortReason(signal as AbortSignal);
        }
      }
    }

    if (pendingBytes > 0) await queuePart(takePart(pendingBytes));
    await settleInflight();
    const totalBytes = nextByte();
    if (!validators) validators = {};
    if (validators.totalBytes === undefined) {
      validators.totalBytes = totalBytes;
      await writeRecord(validators);
    }
    // A previous, larger download may have left parts past the end.
    for (const [index] of await storedPartSizes(store, opts.partsPrefix)) {
      if (index > partsDone) await store.delete(partKey(opts.partsPrefix, index));
    }
    report();
    const parts = Array.from({ length: partsDone }, (_, i) => partKey(opts.partsPrefix, i + 1));
    return {
      totalBytes,
      parts,
      reconnects,
      restarted,
      restartReasons,
      bytesFetched,
      resumedParts,
      etag: validators.etag,
      lastModified: validators.lastModified,
    };
  } catch (err) {
    // Leave no upload running behind the caller's back; a failed one changes nothing here.
    await settleInflight().catch(() => undefined);
    throw err;
  }
}

/** Anything that goes wrong on the wire (reset, DNS, TLS, timeout, bad framing) is worth a new connection. */
function asTransient(err: unknown): unknown {
  if (err instanceof MerError || err instanceof TransientError) return err;
  const t = new TransientError(errorText(err));
  t.cause = err;
  return t;
}

async function storedPartSizes(store: ObjectStore, partsPrefix: string): Promise<Map<number, number>> {
  const sizes = new Map<number, number>();
  for (const o of await store.list(`${partsPrefix}/part-`)) {
    const m = PART_RE.exec(o.key.slice(partsPrefix.length + 1));
    if (m) sizes.set(Number(m[1]), o.size);
  }
  return sizes;
}

async function readRecord(store: ObjectStore, key: string): Promise<SourceRecord | null> {
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (err) {
    if (err instanceof StoreNotFoundError) return null;
    throw err;
  }
  try {
    const r = JSON.parse(raw.toString('utf8')) as Partial<SourceRecord>;
    if (r.v !== 1 || typeof r.chunkBytes !== 'number') return null;
    return {
      v: 1,
      chunkBytes: r.chunkBytes,
      totalBytes: typeof r.totalBytes === 'number' ? r.totalBytes : null,
      etag: typeof r.etag === 'string' ? r.etag : null,
      lastModified: typeof r.lastModified === 'string' ? r.lastModified : null,
    };
  } catch {
    return null;
  }
}

/**
 * The parts, in order, as one stream (the downloaded file). Destroying it stops the current read. A
 * missing part is SourceMissing: the download was committed, so retrying cannot bring it back.
 */
export function partsReadable(store: ObjectStore, parts: readonly string[]): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for (const key of parts) {
      let s: Readable;
      try {
        s = await store.getStream(key);
      } catch (err) {
        if (err instanceof StoreNotFoundError) {
          throw new MerError(
            ErrorTypes.SourceMissing,
            `downloaded part ${key} is missing from ${store.describe}: download again`,
            { key },
          );
        }
        throw err;
      }
      for await (const chunk of s as AsyncIterable<Buffer>) yield chunk;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}
