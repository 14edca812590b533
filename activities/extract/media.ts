/**
 * Decoding the segment stage's media objects (schemas/segment.ts): deflated raw RGB frames here, PCM WAV
 * audio in activities/common/wav.ts (readPcm16). A malformed object is one utterance's problem: callers
 * quarantine it with the message.
 */
import { inflateRawSync } from 'node:zlib';

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
