import { Readable } from 'node:stream';
import { downloadPartKey, downloadPartsListing, downloadSourceRecordKey } from '../../../schemas/layout.ts';
import { ErrorTypes, MerError } from '../../common/errors.ts';
import { StoreNotFoundError, type ObjectStore } from '../../store/types.ts';
import { storedPartSizes } from './source-record.ts';

/**
 * The downloaded bytes as fixed-size parts in the store: filled in memory, uploaded one behind the
 * filling, and read back as one stream. Parts [1, queued] are complete in memory or in the store;
 * parts [1, done] are stored.
 */
export class PartWriter {
  /** Parts durably stored, contiguous from part 1. */
  done = 0;
  private queued = 0;
  private queuedBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inflight: Promise<void> | null = null;

  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
    private readonly chunkBytes: number,
    /** Called after each part is stored. */
    private readonly onStored: () => void,
  ) {}

  /** The file offset the next received byte belongs at. */
  nextByte(): number {
    return this.queuedBytes + this.pendingBytes;
  }

  /** Takes over the leading parts a previous attempt stored. */
  adopt(parts: number, bytes: number): void {
    this.done = this.queued = parts;
    this.queuedBytes = bytes;
  }

  push(data: Buffer): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  /** Uploads every full part held in memory. */
  async queueFull(): Promise<void> {
    while (this.pendingBytes >= this.chunkBytes) await this.queuePart(this.takePart(this.chunkBytes));
  }

  /** Uploads the last, short part and waits for every upload. */
  async flush(): Promise<void> {
    if (this.pendingBytes > 0) await this.queuePart(this.takePart(this.pendingBytes));
    await this.settle();
  }

  /** Waits for the upload in flight; its failure surfaces here. */
  async settle(): Promise<void> {
    if (!this.inflight) return;
    const p = this.inflight;
    this.inflight = null;
    await p;
  }

  /** Drops the bytes held in memory (the stored parts stay). */
  async dropPending(): Promise<void> {
    await this.settle();
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Forgets every part: the download starts again at byte 0 (call `clearStore` to delete them). */
  forget(): void {
    this.done = 0;
    this.queued = 0;
    this.queuedBytes = 0;
  }

  // The record goes first and comes back last: parts without a matching record are never trusted.
  async clearStore(): Promise<void> {
    await this.store.delete(downloadSourceRecordKey(this.prefix));
    await this.store.deletePrefix(downloadPartsListing(this.prefix));
  }

  /** A previous, larger download may have left parts past the end. */
  async deleteBeyondEnd(): Promise<void> {
    for (const [index] of await storedPartSizes(this.store, this.prefix)) {
      if (index > this.done) await this.store.delete(downloadPartKey(this.prefix, index));
    }
  }

  keys(): string[] {
    return Array.from({ length: this.done }, (_, i) => downloadPartKey(this.prefix, i + 1));
  }

  private async queuePart(chunks: Buffer[]): Promise<void> {
    // One upload overlaps the filling of the next part; a second full part waits for it.
    await this.settle();
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const index = ++this.queued;
    this.queuedBytes += size;
    const key = downloadPartKey(this.prefix, index);
    // Handed over as the received chunks: no 64 MiB concatenation, and the store copies nothing.
    const p = this.store.put(key, Readable.from(chunks, { objectMode: false })).then((r) => {
      if (r.size !== size) throw new Error(`store wrote ${r.size} bytes for ${key}, expected ${size}`);
      this.done = index;
      this.onStored();
    });
    p.catch(() => undefined); // surfaced by the next settle
    this.inflight = p;
  }

  /** Takes the first `size` pending bytes as a list of chunks (splitting one chunk at most). */
  private takePart(size: number): Buffer[] {
    const part: Buffer[] = [];
    let need = size;
    while (need > 0) {
      const head = this.pending[0];
      if (head.length <= need) {
        part.push(head);
        this.pending.shift();
        need -= head.length;
      } else {
        part.push(head.subarray(0, need));
        this.pending[0] = head.subarray(need);
        need = 0;
      }
    }
    this.pendingBytes -= size;
    return part;
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
