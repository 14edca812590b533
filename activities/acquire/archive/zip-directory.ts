import { open } from 'node:fs/promises';

/**
 * Where a zip's central directory lies, by its end records, so the directory can be checked whole.
 * yauzl trusts the end record's entry count and offsets: a zip whose count was lowered reads as a
 * smaller archive without a word, and a zip cut right after a stored inner zip's end record reads as
 * that inner zip. The directory must run from its offset up to the end records, and its records must
 * fill it exactly.
 */

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
/** An optional (PKWARE) record that may sit between the directory and the end records. */
const DIGITAL_SIGNATURE = 0x05054b50;

export interface DirectoryBounds {
  /** Offset and size of the central directory, as the end records give them. */
  offset: number;
  size: number;
  /** Where the end records begin (the zip64 one where there is one): the directory must end here. */
  end: number;
}

function readUInt64LE(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * 0x100000000 + buf.readUInt32LE(at);
}

/** The end records, found as yauzl finds them (the last signature, searching back over a comment); null if none. */
export async function readDirectoryBounds(path: string): Promise<DirectoryBounds | null> {
  const fh = await open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const tailSize = Math.min(fileSize, ZIP64_LOCATOR_BYTES + EOCD_BYTES + 0xffff);
    const tail = Buffer.alloc(tailSize);
    await fh.read(tail, 0, tailSize, fileSize - tailSize);
    for (let i = tailSize - EOCD_BYTES; i >= 0; i--) {
      if (tail.readUInt32LE(i) !== EOCD_SIGNATURE) continue;
      const eocdAt = fileSize - tailSize + i;
      const locAt = i - ZIP64_LOCATOR_BYTES;
      if (locAt >= 0 && tail.readUInt32LE(locAt) === ZIP64_LOCATOR_SIGNATURE) {
        const recordAt = readUInt64LE(tail, locAt + 8);
        const record = Buffer.alloc(56);
        const { bytesRead } = await fh.read(record, 0, 56, recordAt);
        if (bytesRead < 56 || record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) return null;
        return { offset: readUInt64LE(record, 48), size: readUInt64LE(record, 40), end: recordAt };
      }
      return { offset: tail.readUInt32LE(i + 16), size: tail.readUInt32LE(i + 12), end: eocdAt };
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** Why the directory does not end where the end records begin, or null when it does. */
export async function directoryGap(path: string, b: DirectoryBounds): Promise<string | null> {
  const dirEnd = b.offset + b.size;
  if (dirEnd === b.end) return null;
  if (dirEnd < b.end) {
    const fh = await open(path, 'r');
    try {
      const sig = Buffer.alloc(4);
      const { bytesRead } = await fh.read(sig, 0, 4, dirEnd);
      if (bytesRead === 4 && sig.readUInt32LE(0) === DIGITAL_SIGNATURE) return null;
    } finally {
      await fh.close();
    }
  }
  return (
    `the directory (${b.size} bytes at byte ${b.offset}) does not end where the end record lies (byte ${b.end}): ` +
    'the file was cut short or pieced together, so entries may be missing'
  );
}
