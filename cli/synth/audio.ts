import type { Rng } from './random.ts';

/** Speech-like audio for the synthetic corpora: tones, mixing, noise floor, PCM sample handling. */

/**
 * Speech-like tone: a fundamental with two harmonics under a syllable envelope (3-6 syllables a second),
 * so energy-based voice activity and pitch trackers behave roughly as on speech. Peak about -11 dBFS.
 */
export function voice(length: number, sampleRate: number, pitchHz: number, rng: Rng): Float32Array {
  const out = new Float32Array(length);
  let pos = 0;
  while (pos < length) {
    const syl = Math.max(1, Math.round(sampleRate * (0.15 + 0.15 * rng.next())));
    const pause = rng.chance(0.25) ? Math.round(sampleRate * 0.04 * rng.next()) : 0;
    for (let i = 0; i < syl && pos + i < length; i++) out[pos + i] = Math.sin((Math.PI * i) / syl) ** 0.7;
    pos += syl + pause;
  }
  // Short fades so cut points never start on a click.
  const fade = Math.min(Math.round(sampleRate * 0.01), Math.floor(length / 2));
  for (let i = 0; i < fade; i++) {
    out[i] *= i / fade;
    out[length - 1 - i] *= i / fade;
  }
  const w = (2 * Math.PI * pitchHz) / sampleRate;
  for (let i = 0; i < length; i++) {
    const ph = w * i;
    out[i] *= 9000 * (0.7 * Math.sin(ph) + 0.2 * Math.sin(2 * ph) + 0.1 * Math.sin(3 * ph));
  }
  return out;
}

/** Adds `signal * gain` into channel `channel` of interleaved `into`, starting at frame `offset`. */
export function mixInto(
  into: Int16Array,
  channels: number,
  channel: number,
  offset: number,
  signal: Float32Array,
  gain: number,
): void {
  for (let i = 0; i < signal.length; i++) {
    const k = (offset + i) * channels + channel;
    if (k >= into.length) break;
    into[k] = clamp16(into[k] + signal[i] * gain);
  }
}

/** Low deterministic noise floor: real recordings never contain digital silence. */
export function addNoise(into: Int16Array, amplitude: number, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < into.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    into[i] = clamp16(into[i] + ((x % (2 * amplitude + 1)) - amplitude));
  }
}

function clamp16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
}

/** One channel of an interleaved buffer, samples [from, to). */
export function extractChannel(
  samples: Int16Array,
  channels: number,
  channel: number,
  from: number,
  to: number,
): Int16Array {
  const out = new Int16Array(Math.max(0, to - from));
  for (let i = 0; i < out.length; i++) out[i] = samples[(from + i) * channels + channel];
  return out;
}

/** Little-endian interleaved PCM bytes for ffmpeg's `-f s16le` input. */
export function pcmBytes(samples: Int16Array): Buffer {
  const b = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i], 2 * i);
  return b;
}
