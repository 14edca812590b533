import { Rng } from '../model/rng.ts';
import { dotRows } from './dot-rows.ts';

/**
 * The `fixed` guidance of model-spec section 2: G([t; a]) = W [t; a] + b with W and b drawn once from
 * a seed. The reference code's guidance projection receives no gradient, so in effect it is a frozen
 * freshly initialised nn.Linear; W and b are drawn from that layer's default distribution,
 * U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's kaiming_uniform with a = sqrt(5), and its bias rule).
 */

/** Distinguishes this generator's stream from every other use of the same seed. */
const GUIDANCE_STREAM = 0x56534347; // 'VSCG'

export interface GuidanceDims {
  readonly text: number;
  readonly audio: number;
  readonly visual: number;
}

export interface Guidance {
  readonly dims: GuidanceDims;
  /** G([t; a]); a missing modality contributes zeros (the bias remains). Returns a fresh array. */
  apply(text: Float32Array | null, audio: Float32Array | null): Float32Array;
}

interface Projection {
  /** [visual x (text + audio)], row-major: float32 values, held as doubles for the shared kernel. */
  weight: Float64Array;
  bias: Float32Array; // [visual]
}

// The projection for 768-d inputs is 9.4 MB (as doubles) and takes tens of milliseconds to draw: a worker compressing
// many shards with one configuration draws it once.
const cache = new Map<string, Projection>();
const CACHE_LIMIT = 4;

function projection(seed: number, dims: GuidanceDims): Projection {
  const id = `${seed}:${dims.text}:${dims.audio}:${dims.visual}`;
  const hit = cache.get(id);
  if (hit) return hit;
  const inputs = dims.text + dims.audio;
  const bound = 1 / Math.sqrt(inputs);
  const rng = new Rng(seed, GUIDANCE_STREAM, dims.text, dims.audio, dims.visual);
  const weight = new Float64Array(dims.visual * inputs);
  for (let i = 0; i < weight.length; i++) weight[i] = Math.fround((2 * rng.uniform() - 1) * bound);
  const bias = new Float32Array(dims.visual);
  for (let i = 0; i < bias.length; i++) bias[i] = (2 * rng.uniform() - 1) * bound;
  const p = { weight, bias };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(id, p);
  return p;
}

export function createGuidance(seed: number, dims: GuidanceDims): Guidance {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`guidance: ${k} dimension must be a positive integer, got ${v}`);
  }
  const { weight, bias } = projection(seed, dims);
  const inputs = dims.text + dims.audio;
  const check = (name: string, x: Float32Array | null, want: number) => {
    if (x && x.length !== want)
      throw new RangeError(`guidance: ${name} vector has ${x.length} values, expected ${want}`);
  };
  const x = new Float64Array(inputs);
  const wx = new Float64Array(dims.visual);
  return {
    dims,
    apply(text, audio) {
      check('text', text, dims.text);
      check('audio', audio, dims.audio);
      x.fill(0);
      if (text) x.set(text, 0);
      if (audio) x.set(audio, dims.text);
      // The 768 x 1536 product is per utterance, as costly as a few frames of VSC.
      dotRows(weight, dims.visual, inputs, x, 0, wx);
      const out = new Float32Array(dims.visual);
      for (let r = 0; r < dims.visual; r++) out[r] = bias[r] + wx[r];
      return out;
    },
  };
}
