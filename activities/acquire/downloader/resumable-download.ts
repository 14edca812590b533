import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { downloadSourceRecordKey } from '../../../schemas/layout.ts';
import {
  TransientError,
  asTransient,
  bodySpan,
  checkStatus,
  headerValue,
  openResponse,
  parseContentRange,
} from './http.ts';
import { resolveSettings, type DownloadOptions, type DownloadResult, type DownloadSettings } from './options.ts';
import { PartWriter } from './parts.ts';
import {
  changedValidators,
  readRecord,
  recordValidators,
  storedPartSizes,
  trustedParts,
  writeRecord,
  type Validators,
} from './source-record.ts';

/** How one connection ended: the file is complete, more is to come, or it all starts again. */
type Outcome = 'done' | 'more' | 'restarted';

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('download aborted');
}

/** Exponential backoff with jitter, never shorter than the server's Retry-After. */
function backoffMs(settings: DownloadSettings, failures: number, retryAfterMs: number | undefined): number {
  const max = settings.backoffMaxMs;
  const base = Math.min(max, settings.backoffInitialMs * 2 ** (failures - 1));
  return Math.min(max, Math.max(base / 2 + Math.random() * (base / 2), retryAfterMs ?? 0));
}

/** One call of downloadToStore: the parts, what the source is known to be, and what happened on the way. */
class ResumableDownload {
  readonly parts: PartWriter;
  private readonly recordKey: string;
  private validators: Validators | null = null;
  private restarted = false;
  private readonly restartReasons: string[] = [];
  private sourceChanges = 0;
  private reconnects = 0;
  private bytesFetched = 0;
  private resumedParts = 0;
  private rangesUnsupported = false;
  /** The furthest byte ever held: a connection that does not move it brought no new data. */
  private highWater = 0;
  private lastProgressAt = Date.now();

  constructor(
    private readonly opts: DownloadOptions,
    private readonly settings: DownloadSettings,
  ) {
    this.recordKey = downloadSourceRecordKey(opts.partsPrefix);
    this.parts = new PartWriter(opts.store, opts.partsPrefix, settings.chunkBytes, () => this.report());
  }

  async run(): Promise<DownloadResult> {
    this.checkAbort();
    const hint = Math.max(0, Math.floor(this.opts.resume?.partsDone ?? 0));
    if (hint > 0) await this.adoptStoredParts(hint);
    if (this.parts.done === 0) await this.parts.clearStore();
    await this.fetchAll();
    return this.finish();
  }

  /**
   * Resume: trust the leading parts the previous attempt reported, if the store agrees and the record
   * of what they were downloaded from exists; the first response then checks the source.
   */
  private async adoptStoredParts(hint: number): Promise<void> {
    const { store } = this.opts;
    const { chunkBytes } = this.settings;
    const record = await readRecord(store, this.recordKey);
    if (!record || record.chunkBytes !== chunkBytes) {
      this.noteRestart(
        record
          ? `resume ignored: stored parts were cut at ${record.chunkBytes} bytes, not ${chunkBytes}`
          : 'resume ignored: no record of the source the stored parts came from',
      );
      return;
    }
    const trusted = trustedParts(record, await storedPartSizes(store, this.opts.partsPrefix), hint);
    if (trusted.parts > 0) {
      this.parts.adopt(trusted.parts, trusted.bytes);
      this.resumedParts = trusted.parts;
      this.validators = recordValidators(record);
    }
  }

  /** Connects until the whole file is held, reconnecting with backoff after transient failures. */
  private async fetchAll(): Promise<void> {
    let failures = 0;
    this.highWater = this.parts.nextByte();
    const v = this.validators;
    let done = v !== null && v.totalBytes !== undefined && this.parts.nextByte() >= v.totalBytes;
    while (!done) {
      this.checkAbort();
      const reachedBefore = this.highWater;
      try {
        const outcome = await this.connect(reachedBefore);
        if (outcome === 'restarted') continue;
        done = outcome === 'done';
        failures = 0;
      } catch (err) {
        this.checkAbort();
        if (!(err instanceof TransientError)) throw err;
        if (this.highWater > reachedBefore) failures = 0;
        failures++;
        this.reconnects++;
        if (failures > this.settings.maxReconnects) {
          throw new Error(
            `download of ${this.settings.safeUrl} failed: ${failures} connections in a row brought no new data (last: ${err.message}); ` +
              `${this.parts.nextByte()} bytes held, ${this.parts.done} parts stored`,
          );
        }
        await this.pause(backoffMs(this.settings, failures, err.retryAfterMs));
      }
    }
  }

  private async pause(ms: number): Promise<void> {
    const { signal } = this.opts;
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
    } catch {
      throw abortReason(signal as AbortSignal);
    }
  }

  /** One connection, from the next byte needed; a failed one is torn down before the caller retries. */
  private async connect(reachedBefore: number): Promise<Outcome> {
    const want = this.parts.nextByte();
    const headers: OutgoingHttpHeaders = { ...this.settings.headers };
    if (want > 0 && !this.rangesUnsupported) headers.range = `bytes=${want}-`;
    let res: IncomingMessage;
    try {
      res = await openResponse({
        url: this.settings.url,
        headers,
        maxRedirects: this.settings.maxRedirects,
        idleTimeoutMs: this.settings.idleTimeoutMs,
        signal: this.opts.signal,
        safeUrl: this.settings.safeUrl,
      });
    } catch (err) {
      throw asTransient(err);
    }
    try {
      return await this.receive(res, want, reachedBefore);
    } catch (err) {
      res.destroy();
      throw err;
    }
  }

  private async receive(res: IncomingMessage, want: number, reachedBefore: number): Promise<Outcome> {
    const status = res.statusCode ?? 0;
    if (status === 416) {
      const total = parseContentRange(headerValue(res, 'content-range'))?.total;
      res.resume();
      await this.restartForChange(
        `server answered 416 to a range from byte ${want}${total !== undefined ? ` (size now ${total})` : ''}`,
      );
      return 'restarted';
    }
    checkStatus(res, status, this.settings.safeUrl);
    const span = bodySpan(res, status, want);
    const changed = this.validators ? changedValidators(this.validators, span.now) : null;
    if (changed) {
      if (status === 206) {
        res.destroy();
        await this.restartForChange(`source changed between connections (${changed})`);
        return 'restarted';
      }
      await this.restartForChange(`source changed between connections (${changed})`);
    } else if (status === 200 && want > 0) {
      await this.refetchFromZero(want, span.now);
    }
    const validators = await this.acceptValidators(span.now);
    const pos = await this.readBody(res, span.start);
    if (span.end !== undefined && pos < span.end)
      throw new TransientError(`connection closed at byte ${pos} of ${span.end}`);
    const total = validators.totalBytes;
    if (total !== undefined && pos > total)
      throw new Error(`server sent ${pos} bytes of a ${total}-byte file at ${this.settings.safeUrl}`);
    // A clean end short of the total is a server capping range sizes: the next range follows.
    if (total === undefined || pos >= total) return 'done';
    if (this.highWater === reachedBefore) throw new TransientError(`response ended at byte ${pos} without new data`);
    return 'more';
  }

  /**
   * The body starts again at byte 0. When the validators prove it is the same file, stored parts stay
   * and the bytes they hold are read past; otherwise everything starts over.
   */
  private async refetchFromZero(want: number, now: Validators): Promise<void> {
    const v = this.validators;
    const provablySame = v !== null && Boolean((now.etag && v.etag) || (now.lastModified && v.lastModified));
    if (!this.rangesUnsupported) {
      this.rangesUnsupported = true;
      this.noteRestart(
        `server ignored the Range request (HTTP 200 instead of 206) at byte ${want}: refetching from byte 0`,
      );
    }
    await this.rewind(provablySame);
  }

  /** The first answer's validators are recorded; later ones may only fill in a size not known before. */
  private async acceptValidators(now: Validators): Promise<Validators> {
    if (!this.validators) {
      this.validators = now;
      await writeRecord(this.opts.store, this.recordKey, this.settings.chunkBytes, now);
    } else if (this.validators.totalBytes === undefined && now.totalBytes !== undefined) {
      this.validators.totalBytes = now.totalBytes;
    }
    return this.validators;
  }

  /** Reads the body into parts, skipping what is already held; answers the file offset it ended at. */
  private async readBody(res: IncomingMessage, start: number): Promise<number> {
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
      this.bytesFetched += chunk.length;
      let data = chunk;
      const have = this.parts.nextByte();
      if (pos < have) {
        const skip = Math.min(have - pos, data.length);
        pos += skip;
        data = data.subarray(skip);
        if (!data.length) continue;
      }
      pos += data.length;
      this.parts.push(data);
      this.highWater = Math.max(this.highWater, this.parts.nextByte());
      await this.parts.queueFull();
      if (Date.now() - this.lastProgressAt >= this.settings.progressIntervalMs) this.report();
    }
    return pos;
  }

  private noteRestart(reason: string): void {
    this.restarted = true;
    this.restartReasons.push(reason);
  }

  private async restartForChange(reason: string): Promise<void> {
    this.noteRestart(reason);
    if (++this.sourceChanges > this.settings.maxRestarts) {
      throw new Error(
        `download of ${this.settings.safeUrl} restarted ${this.sourceChanges} times because the source kept changing (${reason}); giving up for now`,
      );
    }
    await this.rewind(false);
  }

  /** Drops what is held in memory and, unless the stored parts are provably still valid, those too. */
  private async rewind(keepStoredParts: boolean): Promise<void> {
    await this.parts.dropPending();
    if (!keepStoredParts) {
      this.parts.forget();
      this.validators = null;
      await this.parts.clearStore();
    }
    this.report();
  }

  private async finish(): Promise<DownloadResult> {
    await this.parts.flush();
    const totalBytes = this.parts.nextByte();
    const validators = (this.validators ??= {});
    if (validators.totalBytes === undefined) {
      validators.totalBytes = totalBytes;
      await writeRecord(this.opts.store, this.recordKey, this.settings.chunkBytes, validators);
    }
    await this.parts.deleteBeyondEnd();
    this.report();
    return {
      totalBytes,
      parts: this.parts.keys(),
      reconnects: this.reconnects,
      restarted: this.restarted,
      restartReasons: this.restartReasons,
      bytesFetched: this.bytesFetched,
      resumedParts: this.resumedParts,
      etag: validators.etag,
      lastModified: validators.lastModified,
    };
  }

  private report(): void {
    this.lastProgressAt = Date.now();
    this.opts.onProgress?.({
      bytesDone: this.parts.nextByte(),
      totalBytes: this.validators?.totalBytes,
      partsDone: this.parts.done,
    });
  }

  private checkAbort(): void {
    const { signal } = this.opts;
    if (signal?.aborted) throw abortReason(signal);
  }
}

/**
 * Downloads `url` into the store as fixed-size parts, reconnecting from the exact next byte when the
 * connection drops, and resuming from a previous attempt's stored parts. Network trouble that outlasts
 * `maxReconnects` throws a plain Error (the activity's retry policy takes over); answers that retrying
 * cannot fix (401/403/404/410 and other client errors) throw MerError SourceUnreachable.
 */
export async function downloadToStore(opts: DownloadOptions): Promise<DownloadResult> {
  const download = new ResumableDownload(opts, resolveSettings(opts));
  try {
    return await download.run();
  } catch (err) {
    // Leave no upload running behind the caller's back; a failed one changes nothing here.
    await download.parts.settle().catch(() => undefined);
    throw err;
  }
}
