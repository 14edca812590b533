import { open, stat } from 'node:fs/promises';
import { ErrorTypes, MerError } from '../../common/errors.ts';
import type { ArchiveType } from './types.ts';

/** Format sniffing: which kind of archive some bytes are, by content first and name second. */

/** Bytes enough for every signature, the tar header checksum included. */
export const SNIFF_BYTES = 512;

function typeFromName(name: string): ArchiveType | null {
  const n = name.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.zip')) return 'zip';
  return null;
}

function tarChecksumOk(head: Buffer): boolean {
  if (head.length < 512) return false;
  const field = head
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i];
  return sum === parseInt(field, 8);
}

function sniff(head: Buffer): ArchiveType | { unsupported: string } | null {
  const starts = (...bytes: number[]): boolean => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'tar.gz';
  if (starts(0x50, 0x4b, 0x03, 0x04) || starts(0x50, 0x4b, 0x05, 0x06) || starts(0x50, 0x4b, 0x07, 0x08)) return 'zip';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if (starts(0x42, 0x5a, 0x68)) return { unsupported: 'bzip2' };
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return { unsupported: 'xz' };
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return { unsupported: 'zstd' };
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return { unsupported: '7-Zip' };
  if (starts(0x52, 0x61, 0x72, 0x21, 0x1a, 0x07)) return { unsupported: 'RAR' };
  if (tarChecksumOk(head)) return 'tar';
  return null;
}

/**
 * The content's signature decides when it is unambiguous (a `.tar.gz` some client already gunzipped
 * is still read right); the name decides only for signature-less old tars.
 */
export function detectArchiveType(name: string, head: Buffer): ArchiveType {
  const supported = 'supported: .tar, .tar.gz/.tgz, .zip';
  if (head.length === 0) throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} is empty`, { archive: name });
  const byContent = sniff(head);
  if (byContent && typeof byContent === 'object') {
    throw new MerError(
      ErrorTypes.ArchiveUnsupported,
      `archive ${name} is ${byContent.unsupported}-compressed, which is not supported (${supported})`,
      {
        archive: name,
      },
    );
  }
  if (byContent) return byContent;
  const byName = typeFromName(name);
  if (byName === 'tar.gz')
    throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} does not start with a gzip header`, {
      archive: name,
    });
  if (byName === 'zip')
    throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} does not start with a zip header`, {
      archive: name,
    });
  if (byName === 'tar')
    throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} does not start with a valid tar header`, {
      archive: name,
    });
  throw new MerError(
    ErrorTypes.ArchiveUnsupported,
    `cannot tell what kind of archive ${name} is, by name or content (${supported})`,
    { archive: name },
  );
}

/** Reads the first n bytes and hands back a stream of everything, those bytes included. */
export async function peek(
  source: AsyncIterable<Buffer>,
  n: number,
): Promise<{ head: Buffer; all: AsyncIterable<Buffer>; close: () => Promise<void> }> {
  const it = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    chunks.push(r.value);
    len += r.value.length;
  }
  const first = Buffer.concat(chunks);
  const rest: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => it };
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    if (!ended) yield* rest;
  }
  return {
    head: first.subarray(0, n),
    all: all(),
    close: async () => {
      if (!ended) await it.return?.();
    },
  };
}

/** Sniffs a stream's head; the stream is closed when it is not an archive we read. */
export async function detectStream(
  name: string,
  source: AsyncIterable<Buffer>,
): Promise<{ type: ArchiveType; all: AsyncIterable<Buffer> }> {
  const p = await peek(source, SNIFF_BYTES);
  try {
    return { type: detectArchiveType(name, p.head), all: p.all };
  } catch (err) {
    await p.close();
    throw err;
  }
}

/** The head of an archive file, for sniffing; a missing path or a non-file is SourceMissing. */
export async function readFileHead(path: string): Promise<Buffer> {
  let fh;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new MerError(ErrorTypes.SourceMissing, `archive ${path} is not a regular file`, { path });
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new MerError(ErrorTypes.SourceMissing, `archive not found: ${path}`, { path });
    throw err;
  }
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
