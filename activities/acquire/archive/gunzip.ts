import * as zlib from 'node:zlib';

/**
 * Gunzip as a pull stream that hands on every byte it decompressed before a failure, then throws the
 * failure. Piping through zlib instead (a stream error destroys everything downstream at once) let a
 * bad CRC at the end of a small archive be blamed "before its first entry", and which entry a
 * truncation was blamed on depended on chunk timing. Here the tar reader sees the data end exactly
 * where the decompressed bytes end, and the failure is blamed on the entry it was reading there.
 */

/** Input is fed in slices so one slice's output stays bounded (deflate expands at most ~1032x). */
const SLICE_BYTES = 64 * 1024;
/** Decompressed bytes waiting for the reader before the next slice is fed. */
const QUEUE_BYTES = 1024 * 1024;
const TRAILER_BYTES = 8;

/**
 * `tag` marks the decoder's own errors (corrupt data) so the caller blames this archive; errors of
 * `source` are thrown as they are (the caller already knows whose they are).
 */
export async function* gunzipped(source: AsyncIterable<Buffer>, tag: (err: unknown) => void): AsyncGenerator<Buffer> {
  const gunzip = zlib.createGunzip();
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let stopped = false;
  let failed: { err: unknown } | null = null;
  let inputFailed: { err: unknown } | null = null;
  let wakeReader: (() => void) | null = null;
  let wakeFeeder: (() => void) | null = null;
  const wake = (): void => {
    const r = wakeReader;
    const f = wakeFeeder;
    wakeReader = wakeFeeder = null;
    r?.();
    f?.();
  };
  // Flowing and never paused: output is queued here as soon as zlib has it, so a failure that
  // destroys the decoder cannot drop output it was still holding.
  gunzip.on('data', (c: Buffer) => {
    queue.push(c);
    queued += c.length;
    wake();
  });
  gunzip.on('end', () => {
    ended = true;
    wake();
  });
  gunzip.on('error', (err) => {
    tag(err);
    failed ??= { err };
    wake();
  });
  const closed = new Promise<void>((resolve) => gunzip.once('close', resolve));
  const it = source[Symbol.asyncIterator]();

  const write = async (buf: Buffer): Promise<void> => {
    for (let o = 0; o < buf.length; o += SLICE_BYTES) {
      while (queued >= QUEUE_BYTES && !stopped && !failed) await new Promise<void>((res) => (wakeFeeder = res));
      if (stopped || failed) return;
      const slice = buf.subarray(o, o + SLICE_BYTES);
      await Promise.race([new Promise<void>((res) => gunzip.write(slice, () => res())), closed]);
    }
  };
  const feed = async (): Promise<void> => {
    // The last 8 bytes (the gzip trailer: CRC-32 and length) go in on their own, after everything
    // before them is decompressed and handed on: a failing check then loses no output with it.
    let held: Buffer = Buffer.alloc(0);
    let sourceDone = false;
    try {
      for (;;) {
        const r = await it.next();
        sourceDone = r.done === true;
        if (r.done || stopped || failed) break;
        if (r.value.length < TRAILER_BYTES) {
          const data = Buffer.concat([held, r.value]);
          const cut = Math.max(0, data.length - TRAILER_BYTES);
          held = data.subarray(cut);
          await write(data.subarray(0, cut));
        } else {
          await write(held);
          held = r.value.subarray(r.value.length - TRAILER_BYTES);
          await write(r.value.subarray(0, r.value.length - TRAILER_BYTES));
        }
      }
      if (stopped || failed) return;
      await write(held);
      if (!stopped && !failed) gunzip.end();
    } catch (err) {
      sourceDone = true;
      inputFailed = { err };
      wake();
    } finally {
      // Stopped early: stop reading the source too (closes a file, ends the enclosing entry's read).
      if (!sourceDone) await it.return?.()?.catch(() => undefined);
    }
  };
  const feeding = feed();

  try {
    for (;;) {
      const input = inputFailed as { err: unknown } | null;
      if (input) throw input.err;
      const c = queue.shift();
      if (c) {
        queued -= c.length;
        if (queued < QUEUE_BYTES) wake();
        yield c;
        continue;
      }
      const decoder = failed as { err: unknown } | null;
      if (decoder) throw decoder.err;
      if (ended) return;
      await new Promise<void>((res) => (wakeReader = res));
    }
  } finally {
    stopped = true;
    wake();
    if (!ended) gunzip.destroy();
    // Not awaited when stopped early: the feeder may be waiting on a slow source, and closes it itself.
    if (ended) await feeding;
  }
}
