/**
 * VSC throughput and reduction on Swin-Tiny-shaped inputs: utterances of 15 frames x 49 tokens x 768,
 * one core, in memory (no Parquet, no float16 decode: those are reported separately).
 *
 * Two inputs:
 * - `random`: i.i.d. Gaussian tokens, the brief's case. Tokens are nearly orthogonal, so nothing
 *   merges: the ratio is the token reduction alone (49 / 1 per frame) and the merge loop runs its full
 *   similarity scan without updates.
 * - `scene`: a per-utterance base direction, a slow per-frame drift and per-token noise, as cached
 *   Swin tokens of a mostly static shot behave: tokens merge, near-duplicate frames merge, so the
 *   ratio shows the temporal part too.
 * Reported: utterances/s (median of timed passes after a warm-up) for the default settings with
 * `none` and `fixed` guidance, `reference` merging, VSC off; the reduction ratio (input values over
 * valid output values); the float16 decode of one utterance's tokens.
 */
import { fileURLToPath } from 'node:url';
import { vscParams, type VscParamsInput } from '../../schemas/compress.ts';
import { decodeFloat16, encodeFloat16 } from '../../activities/common/float16.ts';
import { createGuidance } from '../../activities/compress/guidance.ts';
import { createVsc, reduction } from '../../activities/compress/vsc.ts';
import { Rng } from '../../activities/model/rng.ts';
import { median } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';

const BENCH = 'compress/vsc';
const FRAMES = 15;
const TOKENS = 49;
const DIM = 768;
const TEXT = 768;
const AUDIO = 768;
const UTTERANCES = 24;
const TIMED = 3;

type Kind = 'random' | 'scene';

function utterances(kind: Kind, seed: number): Float32Array[] {
  const rng = new Rng(seed, 1);
  return Array.from({ length: UTTERANCES }, () => {
    const x = new Float32Array(FRAMES * TOKENS * DIM);
    if (kind === 'random') {
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      return x;
    }
    const base = Float32Array.from({ length: DIM }, () => 2 * rng.normal());
    const drift = Float32Array.from({ length: DIM }, () => rng.normal());
    for (let f = 0; f < FRAMES; f++) {
      const d = 0.12 * f;
      for (let p = 0; p < TOKENS; p++) {
        const o = (f * TOKENS + p) * DIM;
        for (let i = 0; i < DIM; i++) x[o + i] = base[i] + d * drift[i] + 0.8 * rng.normal();
      }
    }
    return x;
  });
}

function measure(data: Float32Array[], params: VscParamsInput, guided: boolean): { perSecond: number; ratio: number } {
  const p = vscParams(params);
  const vsc = createVsc(p, { tokens: TOKENS, dim: DIM });
  const rng = new Rng(3, 3);
  const t = Float32Array.from({ length: TEXT }, () => rng.normal());
  const a = Float32Array.from({ length: AUDIO }, () => rng.normal());
  let out = 0;
  const pass = () => {
    out = 0;
    const t0 = performance.now();
    for (const x of data) {
      // Guidance is per utterance: its cost belongs to the measured rate.
      const guide = guided
        ? createGuidance(p.guidanceSeed, { text: TEXT, audio: AUDIO, visual: DIM }).apply(t, a)
        : null;
      out += vsc.compress(x, FRAMES, guide).length;
    }
    return performance.now() - t0;
  };
  pass();
  const times = Array.from({ length: TIMED }, pass);
  return {
    perSecond: data.length / (median(times) / 1000),
    ratio: reduction(data.length * FRAMES * TOKENS * DIM, out * DIM).ratio,
  };
}

export default function run(): BenchRow[] {
  const rows: BenchRow[] = [];
  const shape = `${UTTERANCES} utterances of ${FRAMES} x ${TOKENS} x ${DIM}`;
  const data: Record<Kind, Float32Array[]> = { random: utterances('random', 1), scene: utterances('scene', 2) };
  const variants: Array<{ name: string; params: VscParamsInput; guided: boolean }> = [
    { name: 'default (k=16, accumulate), guidance none', params: {}, guided: false },
    { name: 'default, guidance fixed', params: { guidance: 'fixed' }, guided: true },
    { name: 'reference merge mode', params: { mergeMode: 'reference' }, guided: false },
    { name: 'VSC off (frame means)', params: { enabled: false }, guided: false },
  ];
  for (const kind of ['random', 'scene'] as const) {
    for (const v of variants) {
      if (kind === 'scene' && v.name.startsWith('reference')) continue;
      const m = measure(data[kind], v.params, v.guided);
      rows.push({
        bench: BENCH,
        metric: `${kind}: ${v.name} utterances/s`,
        value: m.perSecond,
        unit: 'utt/s',
        notes: `${shape}; median of ${TIMED} after a warm-up; one core`,
      });
      if (!v.guided)
        rows.push({
          bench: BENCH,
          metric: `${kind}: ${v.name} reduction`,
          value: m.ratio,
          unit: 'x',
          notes: 'input values / valid output values (padding excluded)',
        });
    }
  }
  const blob = encodeFloat16(data.scene[0]);
  const out = new Float32Array(blob.length / 2);
  const times = Array.from({ length: 7 }, () => {
    const t0 = performance.now();
    decodeFloat16(blob, out);
    return performance.now() - t0;
  });
  rows.push({
    bench: BENCH,
    metric: 'float16 decode of one utterance',
    value: median(times),
    unit: 'ms',
    notes: `${FRAMES * TOKENS * DIM} values (${(blob.length / 1e6).toFixed(2)} MB)`,
  });
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of run()) console.log(JSON.stringify(row));
}
