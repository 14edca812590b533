import * as zlib from 'node:zlib';
import yauzl from 'yauzl';
import type { EntryKind, EntrySink, RawEntry } from './types.ts';
import { directoryGap, readDirectoryBounds } from './zip-directory.ts';

/** Reading a zip (random access, through yauzl) as a sequence of RawEntry, and the CRC-32 its entries carry. */

// CRC-32 (zlib.crc32 arrived in Node 20.15; the engines range starts earlier)
type Crc32 = (data: Uint8Array, value?: number) => number;
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
export const crc32: Crc32 =
  typeof (zlib as { crc32?: Crc32 }).crc32 === 'function'
    ? ((zlib as { crc32?: Crc32 }).crc32 as Crc32)
    : (data, value = 0) => {
        let c = (value ^ 0xffffffff) >>> 0;
        for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
        return (c ^ 0xffffffff) >>> 0;
      };

/** yauzl exports this but its type declarations do not. */
const getZipFileName = (
  yauzl as unknown as {
    getFileNameLowLevel: (
      flags: number,
      raw: Buffer,
      extraFields: Array<{ id: number; data: Buffer }>,
      strict: boolean,
    ) => string;
  }
).getFileNameLowLevel;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // Names are decoded here, not by yauzl: with decoding on, yauzl rejects the whole archive at the
    // first `../` name, whereas one bad entry should be skipped and reported.
    yauzl.open(
      path,
      { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
      (err, zip) => (err ? reject(err) : resolve(zip)),
    );
  });
}

function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry): void => {
      cleanup();
      resolve(e);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/** The kind a Unix-made zip records in the high bits of the external attributes; others record none. */
function zipEntryKind(name: string, e: yauzl.Entry): EntryKind {
  const madeBy = e.versionMadeBy >> 8;
  const mode = madeBy === 3 || madeBy === 19 ? (e.externalFileAttributes >>> 16) & S_IFMT : 0;
  if (name.endsWith('/') || mode === S_IFDIR) return 'directory';
  if (mode === S_IFLNK) return 'symlink';
  if (mode === S_IFCHR) return 'character-device';
  if (mode === S_IFBLK) return 'block-device';
  if (mode === S_IFIFO) return 'fifo';
  return 'file';
}

function zipEntry(zip: yauzl.ZipFile, e: yauzl.Entry, tag: (err: unknown) => void): RawEntry {
  // Backslashes become separators (old Windows zippers), so `..\evil` is caught as `../evil`.
  const name = getZipFileName(e.generalPurposeBitFlag, e.fileName as unknown as Buffer, e.extraFields, false);
  const kind = zipEntryKind(name, e);
  let unreadable: string | undefined;
  if (e.isEncrypted()) unreadable = 'encrypted entry';
  else if (e.compressionMethod !== 0 && e.compressionMethod !== 8)
    unreadable = `unsupported zip compression method ${e.compressionMethod}`;
  return {
    name,
    kind,
    label: kind,
    size: e.uncompressedSize,
    linkname: null,
    unreadable,
    crc32: e.crc32,
    sequential: false,
    open: () =>
      new Promise<AsyncIterable<Buffer>>((resolve, reject) => {
        zip.openReadStream(e, (err, stream) => {
          if (err) {
            tag(err);
            reject(err);
            return;
          }
          stream.on('error', tag);
          resolve(stream as AsyncIterable<Buffer>);
        });
      }),
  };
}

export interface ZipSink extends EntrySink {
  /** The error to throw when the file cannot be opened as a zip at all. */
  corrupt(err: unknown): unknown;
  /** Called with the directory's entry count before the first entry. */
  reserve(count: number): void;
}

/** Bytes one entry's record takes in the central directory. */
const recordBytes = (e: yauzl.Entry): number => 46 + e.fileNameLength + e.extraFieldLength + e.fileCommentLength;

/**
 * Hands a zip file's entries to the sink, one at a time, in directory order. The directory is checked
 * whole (see zip-directory.ts): where it lies before the first entry, that its records fill it after the last.
 */
export async function readZip(path: string, sink: ZipSink): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(path);
  } catch (err) {
    throw sink.corrupt(err);
  }
  const tag = (err: unknown): void => sink.tag(err);
  zip.on('error', tag);
  try {
    const bounds = await readDirectoryBounds(path);
    const gap = bounds ? await directoryGap(path, bounds) : 'the end-of-central-directory record cannot be read';
    if (gap) throw sink.corrupt(new Error(gap));
    sink.reserve(zip.entryCount);
    let recorded = 0;
    for (;;) {
      sink.checkAbort();
      const e = await nextZipEntry(zip);
      if (!e) break;
      recorded += recordBytes(e);
      await sink.entry(zipEntry(zip, e, tag));
    }
    if (bounds && recorded !== bounds.size) {
      throw sink.corrupt(
        new Error(
          `it is ${bounds.size} bytes, but the ${zip.entryCount} entries the end record counts take ${recorded}: ` +
            'the count is wrong (entries would go missing) or the directory is damaged',
        ),
      );
    }
  } finally {
    zip.close();
  }
}
