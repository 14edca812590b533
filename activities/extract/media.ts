/**
 * Decoding the segment stage's media objects (schemas/segment.ts): PCM WAV audio and deflated raw
 * RGB frames. A malformed object is one utterance's problem: callers quarantine it with the message.
 */
import { inflateRawSync } from 'node:zlib';

export interface Pcm {
  sampleRate: number;
  channels: number;
  samples: Int16Array;
}

/** Parses a 16-bit PCM WAV (any chunk order; WAVE_FORMAT_EXTENSIBLE with a PCM subformat too). */
export function parseWav(bytes: Uint8Array): Pcm {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]);
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | null = null;
  let off = 12;
  while (off + 8 <= bytes.length) {
    const id = tag(off);
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) throw new Error('truncated fmt chunk');
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 26) format = view.getUint16(body + 24, true);
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      if (fmt.format !== 1 || fmt.bits !== 16)
        throw new Error(`unsupported encoding (format ${fmt.format}, ${fmt.bits}-bit); expected 16-bit PCM`);
      // a writer that streamed without seeking back may leave the size at 0 or 0xFFFFFFFF: take what is there
      const avail = bytes.length - body;
      const len = size === 0 || size === 0xffffffff || size > avail ? avail - (avail % 2) : size;
      if (size > avail && size !== 0xffffffff)
        throw new Error(`data chunk declares ${size} bytes but only ${avail} follow`);
      const samples = new Int16Array(len / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(body + i * 2, true);
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
    }
    off = body + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/** Inflates a frames object into [frames, height, width, 3] uint8, checking its size against the index. */
export function inflateFrames(bytes: Uint8Array, frames: number, height: number, width: number): Uint8Array {
  const expected = frames * height * width * 3;
  let raw: Buffer;
  try {
    raw = inflateRawSync(bytes, { maxOutputLength: expected + 1 });
  } catch (err) {
    throw new Error(`frames object does not inflate (${(err as Error).message})`);
  }
  if (raw.length !== expected)
    throw new Error(
      `frames object holds ${raw.length} bytes, the index says ${frames} x ${height} x ${width} x 3 = ${expected}`,
    );
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
}
