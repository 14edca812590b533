/**
 * Decoding one 512-byte tar header block. A port of tar-stream 3's `headers.decode` (which this reader
 * replaced, so that the framing, the end-of-archive marker and truncation are ours to check): names,
 * sizes and types come out exactly as tar-stream gave them, so store keys of existing corpora do not move.
 */

export const BLOCK = 512;
/** pax and GNU long-name headers are buffered whole; tar-stream refused bigger ones too. */
export const MAX_LONG_HEADER_BYTES = 4 * 1024 * 1024;

export type TarType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-link-path'
  | 'gnu-long-path';

export interface TarHeader {
  name: string;
  /** null for a type flag tar-stream did not know (GNU sparse, volume labels, ...). */
  type: TarType | null;
  size: number;
  linkname: string | null;
}

const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');

function toType(flag: number): TarType | null {
  switch (flag) {
    case 0:
      return 'file';
    case 1:
      return 'link';
    case 2:
      return 'symlink';
    case 3:
      return 'character-device';
    case 4:
      return 'block-device';
    case 5:
      return 'directory';
    case 6:
      return 'fifo';
    case 7:
      return 'contiguous-file';
    case 72:
      return 'pax-header';
    case 55:
      return 'pax-global-header';
    case 27:
      return 'gnu-long-link-path';
    case 28:
    case 30:
      return 'gnu-long-path';
  }
  return null;
}

/** Sum of the block with the checksum field counted as spaces. */
function cksum(block: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += block[i];
  for (let i = 156; i < BLOCK; i++) sum += block[i];
  return sum;
}

/** A block that is zero outside its checksum field: how tar-stream (and tar) recognise the end-of-archive marker. */
export function isNullBlock(block: Buffer): boolean {
  return block.length === BLOCK && cksum(block) === 8 * 32;
}

function indexOf(block: Buffer, byte: number, from: number, end: number): number {
  for (; from < end; from++) if (block[from] === byte) return from;
  return end;
}

function decodeStr(block: Buffer, offset: number, length: number): string {
  return block.subarray(offset, indexOf(block, 0, offset, offset + length)).toString('utf8');
}

/** Base-256 (GNU) numbers: 0x80 leads a positive one, 0xff a negative one. */
function parse256(field: Buffer): number | null {
  let positive: boolean;
  if (field[0] === 0x80) positive = true;
  else if (field[0] === 0xff) positive = false;
  else return null;
  let sum = 0;
  for (let i = field.length - 1, p = 0; i > 0; i--, p++) {
    sum += (positive ? field[i] : 0xff - field[i]) * Math.pow(256, p);
  }
  return positive ? sum : -1 * sum;
}

function decodeOct(block: Buffer, offset: number, length: number): number | null {
  const field = block.subarray(offset, offset + length);
  if (field[0] & 0x80) return parse256(field);
  let i = 0;
  // Older tars pad with leading spaces; the number ends at a space or NUL.
  while (i < field.length && field[i] === 32) i++;
  const end = indexOf(field, 32, i, field.length);
  while (i < end && field[i] === 0) i++;
  if (end === i) return 0;
  return parseInt(field.subarray(i, end).toString('utf8'), 8);
}

/** Decodes a header block that is not a null block; a checksum mismatch throws (the caller blames the archive). */
export function decodeHeader(block: Buffer): TarHeader {
  let typeflag = block[156] === 0 ? 0 : block[156] - 48;
  let name = decodeStr(block, 0, 100);
  const size = decodeOct(block, 124, 12);
  const linkname = block[157] === 0 ? null : decodeStr(block, 157, 100);
  if (cksum(block) !== decodeOct(block, 148, 8)) {
    throw new Error('invalid tar header (checksum mismatch): the data is corrupt here, or not a tar');
  }
  // ustar keeps a name prefix; GNU and pre-POSIX headers have none (unknown formats are read as old tars).
  if (block.subarray(257, 263).equals(USTAR_MAGIC) && block[345]) name = `${decodeStr(block, 345, 155)}/${name}`;
  // Old tars mark directories by a trailing slash only.
  if (typeflag === 0 && name && name.endsWith('/')) typeflag = 5;
  return { name, type: toType(typeflag), size: size ?? NaN, linkname };
}

/** Records of a pax header (`<len> <key>=<value>\n`), decoded as tar-stream decoded them. */
export function decodePax(buf: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  while (buf.length) {
    let i = 0;
    while (i < buf.length && buf[i] !== 32) i++;
    const len = parseInt(buf.subarray(0, i).toString('utf8'), 10);
    if (!len) return result;
    const record = buf.subarray(i + 1, len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq === -1) return result;
    result[record.slice(0, eq)] = record.slice(eq + 1);
    buf = buf.subarray(len);
  }
  return result;
}

export function decodeLongPath(buf: Buffer): string {
  return decodeStr(buf, 0, buf.length);
}
