/**
 * The segment stage's audio format (16 kHz mono 16-bit PCM, canonical 44-byte WAV header) and a RIFF
 * reader that recognises input already in that format, so such files are re-wrapped byte for byte
 * instead of going through an ffmpeg process each.
 */

export const SEGMENT_SAMPLE_RATE = 16_000;
export const WAV_HEADER_BYTES = 44;

export interface WavInfo {
  /** 1 = integer PCM (WAVE_FORMAT_EXTENSIBLE with a PCM sub-format reads as 1 too). */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataOffset: number;
  /** Bytes of sample data actually present (a header claiming more than the file holds is clamped). */
  dataBytes: number;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Parses a RIFF/WAVE header; null when the bytes are not a WAV file with fmt and data chunks. */
export function parseWav(buf: Uint8Array): WavInfo | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return null;
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataBytes'> | null = null;
  let pos = 12;
  while (pos + 8 <= b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= b.length) {
      let format = b.readUInt16LE(body);
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40 && body + 26 <= b.length) format = b.readUInt16LE(body + 24);
      fmt = {
        format,
        channels: b.readUInt16LE(body + 2),
        sampleRate: b.readUInt32LE(body + 4),
        bitsPerSample: b.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) return null;
      // Streamed WAVs carry 0 or 0xFFFFFFFF here; the bytes that are really there are what counts.
      const available = b.length - body;
      const claimed = size === 0 || size === 0xffffffff ? available : size;
      return { ...fmt, dataOffset: body, dataBytes: Math.min(claimed, available) };
    }
    // Chunks are word-aligned: an odd size is followed by a pad byte.
    pos = body + size + (size & 1);
  }
  return null;
}

/** True when the data can be stored as is: integer PCM, 16-bit, mono, 16 kHz. */
export function isSegmentFormat(info: WavInfo): boolean {
  return (
    info.format === WAVE_FORMAT_PCM &&
    info.bitsPerSample === 16 &&
    info.channels === 1 &&
    info.sampleRate === SEGMENT_SAMPLE_RATE
  );
}

/** The PCM samples of a segment-format WAV (whole samples only). */
export function wavSamples(buf: Uint8Array, info: WavInfo): Buffer {
  const bytes = info.dataBytes - (info.dataBytes % 2);
  return Buffer.from(buf.buffer, buf.byteOffset + info.dataOffset, bytes);
}

/** 16 kHz mono s16le samples -> a WAV file with the canonical 44-byte header. */
export function encodeSegmentWav(pcm: Uint8Array): Buffer {
  const dataBytes = pcm.byteLength - (pcm.byteLength % 2);
  const out = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'latin1');
  out.write('fmt ', 12, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(SEGMENT_SAMPLE_RATE, 24);
  out.writeUInt32LE(SEGMENT_SAMPLE_RATE * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(dataBytes, 40);
  Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes).copy(out, WAV_HEADER_BYTES);
  return out;
}
