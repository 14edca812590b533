/** Pulling exact byte counts out of a stream of chunks, without copying where a chunk holds them already. */

const EMPTY = Buffer.alloc(0);

export class ByteReader {
  /** Bytes handed out (or skipped) so far: the offset of the next byte. */
  position = 0;
  private buf: Buffer = EMPTY;
  private off = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.off >= this.buf.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        this.buf = EMPTY;
        this.off = 0;
        return false;
      }
      this.buf = r.value;
      this.off = 0;
    }
    return true;
  }

  /** The next up to `max` bytes as they lie in the current chunk; empty only at the end of the data. */
  async chunk(max: number): Promise<Buffer> {
    if (max <= 0 || !(await this.fill())) return EMPTY;
    const n = Math.min(max, this.buf.length - this.off);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.position += n;
    return out;
  }

  /** Exactly n bytes, or fewer only when the data ends first. */
  async read(n: number): Promise<Buffer> {
    const first = await this.chunk(n);
    if (first.length === n || first.length === 0) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (c.length === 0) break;
      parts.push(c);
      got += c.length;
    }
    return Buffer.concat(parts, got);
  }

  /** Skips n bytes; answers how many there were. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const c = await this.chunk(left);
      if (c.length === 0) break;
      left -= c.length;
    }
    return n - left;
  }

  /** Stops reading the source (closing a file or stopping a decoder) when the reader gives up early. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.it.return?.();
  }
}
