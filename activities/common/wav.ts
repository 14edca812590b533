/**
 * The one WAV codec. The segment stage's audio format is 16 kHz mono 16-bit PCM with the canonical
 * 44-byte WAV header; the RIFF reader recognises input already in that format, so such files are
 * re-wrapped byte for byte instead of going through an ffmpeg process each, and the extract stage reads
 * the same objects back as samples. One chunk walker serves both contracts: `parseWav` (null when the
 * bytes are not a usable WAV: the caller falls back to ffmpeg) and `readPcm16` (throws the reason: the
 * caller quarantines the utterance with the message).
 */

export const SEGMENT_SAMPLE_RATE = 16_000;
export const WAV_HEADER_BYTES = 44;

export interface WavInfo {
  /** 1 = integer PCM (WAVE_FORMAT_EXTENSIBLE with the PCM sub-format GUID reads as 1 too). */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataOffset: number;
  /** Bytes of sample data actually present (a header claiming more than the file holds is clamped). */
  dataBytes: number;
}

/** Decoded 16-bit PCM (interleaved when channels > 1). */
export interface Pcm {
  sampleRate: number;
  channels: number;
  samples: Int16Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/**
 * Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID (xxxxxxxx-0000-0010-8000-00aa00389b71, stored
 * little-endian); its first two bytes are then the plain format code (1 = PCM, 3 = float). A sub-format
 * outside that family is some vendor's encoding, never PCM.
 */
const KSDATAFORMAT_TAIL = Buffer.from([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);

type WavScan = { info: WavInfo; declaredBytes: number } | { error: string };

/** The format code of a fmt chunk at `body`; WAVE_FORMAT_EXTENSIBLE resolves through its sub-format GUID. */
function formatCode(b: Buffer, body: number, size: number): number {
  const format = b.readUInt16LE(body);
  // The extensible fmt chunk is 40 bytes: 16 plain + cbSize, valid bits, channel mask, 16-byte GUID.
  if (format !== WAVE_FORMAT_EXTENSIBLE || size < 40 || body + 40 > b.length) return format;
  return b.subarray(body + 26, body + 40).equals(KSDATAFORMAT_TAIL) ? b.readUInt16LE(body + 24) : format;
}

/** Walks the RIFF chunks (any order, odd sizes padded) up to the data chunk. */
function scanWav(buf: Uint8Array): WavScan {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE')
    return { error: 'not a RIFF/WAVE file' };
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataBytes'> | null = null;
  let pos = 12;
  while (pos + 8 <= b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) return { error: 'truncated fmt chunk' };
      fmt = {
        format: formatCode(b, body, size),
        channels: b.readUInt16LE(body + 2),
        sampleRate: b.readUInt32LE(body + 4),
        bitsPerSample: b.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) return { error: 'data chunk before fmt chunk' };
      // Streamed WAVs carry 0 or 0xFFFFFFFF here; the bytes that are really there are what counts.
      const available = b.length - body;
      const claimed = size === 0 || size === 0xffffffff ? available : size;
      return { info: { ...fmt, dataOffset: body, dataBytes: Math.min(claimed, available) }, declaredBytes: size };
    }
    // Chunks are word-aligned: an odd size is followed by a pad byte.
    pos = body + size + (size & 1);
  }
  return { error: 'no data chunk' };
}

/** Parses a RIFF/WAVE header; null when the bytes are not a WAV file with fmt and data chunks. */
export function parseWav(buf: Uint8Array): WavInfo | null {
  const scan = scanWav(buf);
  return 'error' in scan ? null : scan.info;
}

/**
 * The samples of a 16-bit PCM WAV. Throws with the reason on anything else, and on a data chunk that
 * declares more bytes than follow (a cut-off stored object, unlike a streamed 0 / 0xFFFFFFFF size).
 */
export function readPcm16(bytes: Uint8Array): Pcm {
  const scan = scanWav(bytes);
  if ('error' in scan) throw new Error(scan.error);
  const { info, declaredBytes } = scan;
  if (info.format !== WAVE_FORMAT_PCM || info.bitsPerSample !== 16)
    throw new Error(`unsupported encoding (format ${info.format}, ${info.bitsPerSample}-bit); expected 16-bit PCM`);
  const available = bytes.length - info.dataOffset;
  if (declaredBytes > available && declaredBytes !== 0xffffffff)
    throw new Error(`data chunk declares ${declaredBytes} bytes but only ${available} follow`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const samples = new Int16Array(Math.floor(info.dataBytes / 2));
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(info.dataOffset + i * 2, true);
  return { sampleRate: info.sampleRate, channels: info.channels, samples };
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

/** Writes the canonical 44-byte header of a 16-bit PCM WAV holding `dataBytes` into the start of `out`. */
function writeWavHeader(out: Buffer, dataBytes: number, sampleRate: number, channels: number): void {
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'latin1');
  out.write('fmt ', 12, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * channels * 2, 28);
  out.writeUInt16LE(channels * 2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(dataBytes, 40);
}

/** 16 kHz mono s16le sample bytes -> a WAV file with the canonical 44-byte header (a trailing odd byte is dropped). */
export function encodeSegmentWav(pcm: Uint8Array): Buffer {
  const dataBytes = pcm.byteLength - (pcm.byteLength % 2);
  const out = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  writeWavHeader(out, dataBytes, SEGMENT_SAMPLE_RATE, 1);
  Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes).copy(out, WAV_HEADER_BYTES);
  return out;
}

/** Canonical 44-byte PCM WAV header + interleaved little-endian 16-bit samples. */
export function encodeWav(samples: Int16Array, sampleRate: number, channels: number): Buffer {
  const dataBytes = samples.length * 2;
  const out = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  writeWavHeader(out, dataBytes, sampleRate, channels);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i], WAV_HEADER_BYTES + 2 * i);
  return out;
}
