import { ByteReader } from './byte-reader.ts';
import { gunzipped } from './gunzip.ts';
import {
  BLOCK,
  MAX_LONG_HEADER_BYTES,
  decodeHeader,
  decodeLongPath,
  decodePax,
  isNullBlock,
  type TarType,
} from './tar-header.ts';
import type { EntryKind, EntrySink } from './types.ts';

/**
 * Reading a tar or tar.gz as it streams (flat memory), as a sequence of RawEntry, with its end checked
 * as tar checks it. A tar ends with its end-of-archive marker, two zero blocks; data that stops before
 * it (even exactly between two entries, which looks like a smaller but valid archive) is truncated and
 * refused. The archive ends at the first zero block where a header is due, as GNU tar and libarchive
 * read it: entries hidden behind it are not extracted, and the data found there is reported.
 */

function entryKind(type: TarType | null): EntryKind {
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'link') return 'hardlink';
  if (
    type === 'symlink' ||
    type === 'directory' ||
    type === 'character-device' ||
    type === 'block-device' ||
    type === 'fifo'
  )
    return type;
  return 'other';
}

const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
/** A block (or the short piece at the end of the data) of zeros only. */
const isZeros = (b: Buffer): boolean => b.equals(ZERO_BLOCK.subarray(0, b.length));

/** Long names and pax records wait for the header they apply to (tar-stream's rules, kept for the same names). */
interface Pending {
  longPath: string | null;
  longLink: string | null;
  pax: Record<string, string> | null;
  paxGlobal: Record<string, string> | null;
}

class TarReader {
  private readonly pending: Pending = { longPath: null, longLink: null, pax: null, paxGlobal: null };

  constructor(
    private readonly r: ByteReader,
    private readonly sink: EntrySink,
  ) {}

  /** An error of this archive's own bytes, tagged so the caller blames this archive (and the entry it is in). */
  private corrupt(message: string): Error {
    const err = new Error(message);
    this.sink.tag(err);
    return err;
  }

  async run(): Promise<void> {
    for (;;) {
      this.sink.checkAbort();
      const at = this.r.position;
      const block = await this.r.read(BLOCK);
      if (block.length === 0)
        throw this.corrupt(
          'the data ends without the end-of-archive marker (two zero blocks) that ends every tar: the file is cut short and entries may be missing',
        );
      if (block.length < BLOCK)
        throw this.corrupt(`the data ends inside a header (${block.length} of ${BLOCK} bytes at byte ${at})`);
      if (isNullBlock(block)) {
        await this.endOfArchive(at);
        return;
      }
      let header;
      try {
        header = decodeHeader(block);
      } catch (err) {
        throw this.corrupt(`${(err as Error).message} at byte ${at}`);
      }
      const { type } = header;
      if (!(header.size >= 0) || !Number.isSafeInteger(header.size))
        throw this.corrupt(`invalid size field in the header at byte ${at}`);
      if (
        type === 'pax-header' ||
        type === 'pax-global-header' ||
        type === 'gnu-long-path' ||
        type === 'gnu-long-link-path'
      ) {
        await this.longHeader(type, header.size, at);
        continue;
      }
      let { name, linkname } = header;
      let size = header.size;
      const p = this.pending;
      if (p.longPath !== null) name = p.longPath;
      if (p.longLink !== null) linkname = p.longLink;
      if (p.pax) {
        if (p.pax.path) name = p.pax.path;
        if (p.pax.linkpath) linkname = p.pax.linkpath;
        if (p.pax.size) size = parseInt(p.pax.size, 10);
      }
      p.longPath = p.longLink = null;
      p.pax = null;
      if (!(size >= 0) || !Number.isSafeInteger(size))
        throw this.corrupt(`invalid size in the pax header of the entry at byte ${at}`);
      // A directory has no data, whatever its size field says: the next header follows (as GNU tar reads it).
      if (type === 'directory') size = 0;
      await this.entry(name, type, size, linkname);
    }
  }

  private async longHeader(type: TarType, size: number, at: number): Promise<void> {
    if (size > MAX_LONG_HEADER_BYTES)
      throw this.corrupt(`${type} of ${size} bytes at byte ${at} (more than ${MAX_LONG_HEADER_BYTES} bytes)`);
    const data = await this.r.read(size);
    if (data.length < size || (await this.r.skip(padding(size))) < padding(size))
      throw this.corrupt(`the data ends inside the ${type} at byte ${at}`);
    const p = this.pending;
    if (type === 'gnu-long-path') p.longPath = decodeLongPath(data);
    else if (type === 'gnu-long-link-path') p.longLink = decodeLongPath(data);
    else if (type === 'pax-global-header') p.paxGlobal = decodePax(data);
    else p.pax = p.paxGlobal === null ? decodePax(data) : { ...p.paxGlobal, ...decodePax(data) };
  }

  private async entry(name: string, type: TarType | null, size: number, linkname: string | null): Promise<void> {
    const r = this.r;
    let consumed = 0;
    async function* data(): AsyncGenerator<Buffer> {
      while (consumed < size) {
        const c = await r.chunk(size - consumed);
        // Ends early when the archive does: the caller checks what it got against `size`.
        if (c.length === 0) return;
        consumed += c.length;
        yield c;
      }
    }
    await this.sink.entry({
      name,
      kind: entryKind(type),
      label: type ?? 'unknown type',
      size,
      linkname,
      sequential: true,
      open: () => Promise.resolve(data()),
    });
    // Whatever the sink left unread, and the padding to the next header.
    const rest = size - consumed + padding(size);
    if ((await r.skip(rest)) < rest) throw this.corrupt(`the data ends inside entry ${name} or the padding after it`);
  }

  /**
   * The first zero block where a header is due ends the archive. The marker must be complete (a file
   * cut after one of its two blocks is truncated); what follows it must be zeros (tar pads to its
   * record size), else it is reported: bytes and entries there are not part of the archive.
   */
  private async endOfArchive(at: number): Promise<void> {
    const second = await this.r.read(BLOCK);
    if (second.length < BLOCK && isZeros(second))
      throw this.corrupt(
        `the data ends after the first of the two zero blocks of the end-of-archive marker (at byte ${at}): the file is cut short`,
      );
    const lone = !isNullBlock(second);
    const after = lone ? at + BLOCK : at + 2 * BLOCK;
    // Look for the first block holding data, then read the rest through (for the checksum and the gzip trailer).
    let first: Buffer | null = lone ? second : null;
    while (!first) {
      const block = await this.r.read(BLOCK);
      this.sink.readPast(block.length);
      if (block.length === 0) return;
      if (!isZeros(block)) first = block;
    }
    if (lone) this.sink.readPast(second.length);
    let firstName: string | null = null;
    if (first.length === BLOCK && !isNullBlock(first)) {
      try {
        firstName = decodeHeader(first).name;
      } catch {
        firstName = null;
      }
    }
    for (;;) {
      const c = await this.r.chunk(1024 * 1024);
      if (c.length === 0) break;
      this.sink.readPast(c.length);
    }
    const bytes = this.r.position - after;
    const marker = lone
      ? `a lone zero block at byte ${at}, which ends the archive as tar reads it`
      : `the end-of-archive marker at byte ${at}`;
    this.sink.ignored(
      firstName ?? '(data after the end of the archive)',
      `${bytes} bytes after ${marker}: not part of the archive (tar does not list them); not extracted`,
    );
  }
}

/** Hands the entries to the sink in stream order; each entry's bytes must be consumed before the next arrives. */
export async function readTar(source: AsyncIterable<Buffer>, gzipped: boolean, sink: EntrySink): Promise<void> {
  const r = new ByteReader(gzipped ? gunzipped(source, (err) => sink.tag(err)) : source);
  try {
    await new TarReader(r, sink).run();
  } finally {
    await r.close();
  }
}
