import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import tar from 'tar-stream';

/** Shared plumbing for the synthetic corpora: seeded randomness, audio synthesis, WAV and tar writing. */

export type Rgb = readonly [number, number, number];
export type SynthScale = 'tiny' | 'small';

/** Anything media-related that depends on these bytes changes only with this number. */
export const GENERATOR_VERSION = 1;

/**
 * Output-side flags that make ffmpeg omit its version strings and other run-dependent bytes, so the same
 * build produces the same file for the same input.
 */
export const BITEXACT_OUTPUT_ARGS: readonly string[] = [
  '-fflags',
  '+bitexact',
  '-flags:v',
  '+bitexact',
  '-flags:a',
  '+bitexact',
  '-map_metadata',
  '-1',
];

// ---------------------------------------------------------------------------------------------------
// Randomness

/** FNV-1a followed by a murmur3 finaliser: cheap and well spread, enough to derive stream seeds. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * mulberry32. Sub-streams are derived with fork(name) from the seed and a name, never from the current
 * state, so adding draws in one part of the generator (e.g. a cue option) leaves every other part's
 * bytes unchanged.
 */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  fork(...path: (string | number)[]): Rng {
    return new Rng(hash32(`${this.seed}/${path.join('/')}`));
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)];
  }
  weighted<T>(pairs: readonly (readonly [T, number])[]): T {
    const total = pairs.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [v, w] of pairs) {
      r -= w;
      if (r < 0) return v;
    }
    return pairs[pairs.length - 1][0];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  /** k distinct indices of [0, n), in increasing order. */
  sample(n: number, k: number): number[] {
    const all = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(all)
      .slice(0, Math.min(k, n))
      .sort((a, b) => a - b);
  }
}

// ---------------------------------------------------------------------------------------------------
// Cues: each label can leave a learnable trace per modality, each present only in part of the samples.

export interface CueSettings {
  /** Probability that a given modality carries the label's cue in a given utterance (independently). */
  presence: number;
}

export type CueOption = boolean | Partial<CueSettings> | undefined;

export function cueSettings(opt: CueOption): CueSettings | null {
  if (!opt) return null;
  const presence = typeof opt === 'object' && opt.presence !== undefined ? opt.presence : 0.6;
  if (!(presence >= 0 && presence <= 1)) throw new Error(`cue presence must be in [0, 1], got ${presence}`);
  return { presence };
}

export interface LabelCue {
  word: string;
  pitchHz: number;
  rgb: Rgb;
}

export interface CueTruth {
  text: boolean;
  audio: boolean;
  video: boolean;
  word: string;
  pitchHz: number;
  rgb: Rgb;
}

/** What one utterance's media is made of; the cue, when drawn, overrides parts of the neutral render. */
export interface UttRender {
  words: string[];
  pitchHz: number;
  /** Patch drawn over the speaker's picture while the utterance lasts; null = no patch. */
  patchRgb: Rgb | null;
  cue: CueTruth | null;
}

export function renderUtterance(
  base: { words: string[]; pitchHz: number },
  cue: LabelCue | null,
  settings: CueSettings | null,
  rng: Rng,
): UttRender {
  if (!settings || !cue) return { words: base.words, pitchHz: base.pitchHz, patchRgb: null, cue: null };
  const text = rng.chance(settings.presence);
  const audio = rng.chance(settings.presence);
  const video = rng.chance(settings.presence);
  const words = [...base.words];
  if (text) words.splice(rng.int(0, words.length), 0, cue.word);
  return {
    words,
    pitchHz: audio ? cue.pitchHz : base.pitchHz,
    patchRgb: video ? cue.rgb : null,
    cue: { text, audio, video, word: cue.word, pitchHz: cue.pitchHz, rgb: cue.rgb },
  };
}

// ---------------------------------------------------------------------------------------------------
// Audio

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

/** Canonical 44-byte PCM WAV header + interleaved little-endian 16-bit samples. */
export function encodeWav(samples: Int16Array, sampleRate: number, channels: number): Buffer {
  const dataBytes = samples.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(channels, 22);
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * channels * 2, 28);
  buf.writeUInt16LE(channels * 2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i], 44 + 2 * i);
  return buf;
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

// ---------------------------------------------------------------------------------------------------
// Files, ffmpeg helpers, concurrency

export function hex(rgb: Rgb): string {
  return `0x${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** drawbox filter; `between` limits it to a time range (seconds). */
export function drawbox(
  x: number,
  y: number,
  w: number,
  h: number,
  rgb: Rgb,
  between?: readonly [number, number],
): string {
  const enable = between ? `:enable='between(t,${between[0].toFixed(4)},${between[1].toFixed(4)})'` : '';
  return `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=${hex(rgb)}:t=fill${enable}`;
}

export async function writeFileEnsured(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

export function defaultConcurrency(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** Runs fn over items with at most `limit` in flight; the first failure rejects after in-flight work settles. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed: { err: unknown } | null = null;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw (failed as { err: unknown }).err;
  return results;
}

/**
 * Apple Double residue as macOS `tar`/Finder leave it (`._name`): magic 0x00051607, version 2, a filler
 * string and an empty entry table, padded to the 4096 bytes such files usually have.
 */
export function appleDoubleBytes(): Buffer {
  const b = Buffer.alloc(4096);
  b.writeUInt32BE(0x00051607, 0);
  b.writeUInt32BE(0x00020000, 4);
  b.write('Mac OS X        ', 8, 'ascii');
  b.writeUInt16BE(0, 24);
  return b;
}

// ---------------------------------------------------------------------------------------------------
// Deterministic tar.gz

/** Fixed timestamp for archive entries: archives must not depend on when they were built. */
export const ARCHIVE_MTIME = new Date('2012-01-01T00:00:00Z');

async function walkSorted(dir: string, rel: string, out: { rel: string; abs: string; dir: boolean }[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  // Code-unit order, not locale order, so the entry order is identical on every machine.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const abs = join(dir, e.name);
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) {
      out.push({ rel: r, abs, dir: true });
      await walkSorted(abs, r, out);
    } else if (e.isFile()) {
      out.push({ rel: r, abs, dir: false });
    }
  }
}

/**
 * Packs folder `dir` as `<prefix>/...` into a gzipped ustar archive at `outFile`. Entries are sorted,
 * with fixed mtime, uid/gid 0 and no user names; Node's gzip header carries no timestamp, so equal
 * inputs give equal archive bytes.
 */
export async function packTarGz(dir: string, prefix: string, outFile: string): Promise<void> {
  const items: { rel: string; abs: string; dir: boolean }[] = [{ rel: prefix, abs: dir, dir: true }];
  await walkSorted(dir, prefix, items);
  await mkdir(dirname(outFile), { recursive: true });
  await rm(outFile, { force: true });
  const pack = tar.pack();
  const written = pipeline(
    pack,
    createGzip({ level: zlibConstants.Z_DEFAULT_COMPRESSION }),
    createWriteStream(outFile),
  );
  const common = { mtime: ARCHIVE_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  try {
    for (const item of items) {
      if (item.dir) {
        await new Promise<void>((res, rej) =>
          pack.entry({ ...common, name: `${item.rel}/`, type: 'directory', mode: 0o755 }, (err) =>
            err ? rej(err) : res(),
          ),
        );
        continue;
      }
      const size = (await stat(item.abs)).size;
      let sink: ReturnType<typeof pack.entry> | undefined;
      const done = new Promise<void>((res, rej) => {
        sink = pack.entry({ ...common, name: item.rel, type: 'file', mode: 0o644, size }, (err) =>
          err ? rej(err) : res(),
        );
      });
      for await (const chunk of createReadStream(item.abs)) {
        if (!sink!.write(chunk as Buffer)) await once(sink!, 'drain');
      }
      sink!.end(undefined);
      await done;
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => {});
    throw err;
  }
  await written;
}
