import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import yazl from 'yazl';
import type { UnpackInput } from '../../activities/acquire/archive/types.ts';

/** Archives crafted byte by byte for the hostile-input tests: tar members by hand, zips by yazl, inputs in chunks. */

export function bytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}
export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// ---- tar, by hand -----------------------------------------------------------------------------------

/** One ustar header block (`magic: 'v7'` leaves the magic out, as pre-POSIX tars did). */
export function header(
  name: string,
  size: number,
  o: { type?: string; linkname?: string; magic?: 'v7'; size256?: boolean } = {},
): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  if (o.size256) {
    b[124] = 0x80;
    b.writeUIntBE(size, 130, 6);
  } else b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write('14707030424\0', 136, 'latin1');
  b[156] = (o.type ?? '0').charCodeAt(0);
  if (o.linkname) b.write(o.linkname, 157, 100, 'utf8');
  if (o.magic !== 'v7') b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}
export const padded = (d: Buffer): Buffer => Buffer.concat([d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
export const member = (name: string, data: Buffer | string, o: Parameters<typeof header>[2] = {}): Buffer => {
  const d = Buffer.from(data);
  return Buffer.concat([header(name, d.length, o), padded(d)]);
};
export const MARKER = Buffer.alloc(1024);
/** GNU tar pads the archive to its 10 KiB record: zeros after the marker are normal. */
export const recordPadded = (t: Buffer): Buffer =>
  Buffer.concat([t, Buffer.alloc((10240 - (t.length % 10240)) % 10240)]);

export async function zipOf(items: Array<{ name: string; data: Buffer | string }>, compress = true): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const it of items) zip.addBuffer(Buffer.from(it.data), it.name, { compress });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The same bytes in chunks of `size` (0: one chunk), so a message cannot depend on how the data arrives. */
export function chunked(b: Buffer, size: number): UnpackInput {
  const parts: Buffer[] = [];
  if (size === 0) parts.push(b);
  else for (let o = 0; o < b.length; o += size) parts.push(b.subarray(o, o + size));
  return { kind: 'stream', stream: Readable.from(parts) };
}
