import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The archive's own sha256, computed in the same pass as the unpacking. */

/** A file's sha256 in one sequential read (a zip is read by random access; this runs beside it). */
export async function hashFile(
  path: string,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    onBytes(chunk.length);
  }
  return h.digest('hex');
}

/** Passes the input through, hashing it; errors the input itself raises are handed to `onInputError` first. */
export async function* hashedInput(
  source: AsyncIterable<Buffer>,
  hash: Hash,
  onBytes: (n: number) => void,
  onInputError: (err: unknown) => void,
): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (err) {
        onInputError(err);
        throw err;
      }
      if (r.done) return;
      hash.update(r.value);
      onBytes(r.value.length);
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}
