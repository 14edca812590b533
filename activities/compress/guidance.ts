import { Rng } from '../model/rng.ts';

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
  weight: Float32Array; // [visual x (text + audio)], row-major
  bias: Float32Array; // [visual]
}

// The projection for 768-d inputs is 4.7 MB and takes tens of milliseconds to draw: a worker compressing
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
  const weight = new Float32Array(dims.visual * inputs);
  for (let i = 0; i < weight.length; i++) weight[i] = (2 * rng.uniform() - 1) * bound;
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
  return {
    dims,
    apply(text, audio) {
      check('text', text, dims.text);
      check('audio', audio, dims.audio);
      x.fill(0);
      if (text) x.set(text, 0);
      if (audio) x.set(audio, dims.text);
      const out = new Float32Array(dims.visual);
      // Four rows per pass over x: the 768 x 1536 product is per utterance, as costly as a few frames of VSC.
      let r = 0;
      for (; r + 4 <= dims.visual; r += 4) {
        const w0 = r * inputs;
        const w1 = w0 + inputs;
        const w2 = w1 + inputs;
        const w3 = w2 + inputs;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let i = 0; i < inputs; i++) {
          const v = x[i];
          s0 += weight[w0 + i] * v;
          s1 += weight[w1 + i] * v;
          s2 += weight[w2 + i] * v;
          s3 += weight[w3 + i] * v;
        }
        out[r] = bias[r] + s0;
        out[r + 1] = bias[r + 1] + s1;
        out[r + 2] = bias[r + 2] + s2;
        out[r + 3] = bias[r + 3] + s3;
      }
      for (; r < dims.visual; r++) {
        let acc = 0;
        for (let i = 0; i < inputs; i++) acc += weight[r * inputs + i] * x[i];
        out[r] = bias[r] + acc;
      }
      return out;
    },
  };
}
