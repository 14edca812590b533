/**
 * Pillow's `Image.resize` for 8-bit RGB images, bit for bit: transformers' PIL-based image processors
 * (ViTImageProcessorPil, CLIPImageProcessorPil, BitImageProcessorPil) resize uint8 frames through it,
 * so the encoder sees exactly Python's pixels only if this is Pillow's arithmetic, not a textbook
 * filter (libImaging/Resample.c: separable two-pass convolution, horizontal first, coefficients
 * normalised in double then fixed-point with 22 fractional bits, each pass rounded and clipped to 8
 * bits; `reducing_gap` None, as transformers calls it). Nearest-neighbour is Pillow's own
 * (Geometry.c affine sampling at pixel centres). The torchvision-based processors give the same uint8
 * resize on these families' frames (scripts/extract/tiny_vision.py --compare-fast: at most 2.4e-7
 * apart after normalisation, torchvision 0.29.2); the PIL-based ones are the reference.
 * Proportional resizes only (horizontal pass first, verified against Pillow 13.0.0 for every filter):
 * for a resize whose axes scale differently Pillow 13 chooses the pass order by a cost estimate that
 * is not reproduced here, so it is refused; frames are square and the processors resize them to squares.
 */

/** PILImageResampling numbers as preprocessor_config.json stores them. */
export const RESAMPLE = { nearest: 0, lanczos: 1, bilinear: 2, bicubic: 3, box: 4, hamming: 5 } as const;
export const RESAMPLE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(RESAMPLE).map(([k, v]) => [v, k]),
);

interface Filter {
  support: number;
  f: (x: number) => number;
}

const sinc = (x: number): number => {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
};

const FILTERS: Record<number, Filter> = {
  [RESAMPLE.box]: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [RESAMPLE.bilinear]: {
    support: 1,
    f: (x) => {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  [RESAMPLE.hamming]: {
    support: 1,
    f: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x));
    },
  },
  [RESAMPLE.bicubic]: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  [RESAMPLE.lanczos]: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  /** [xmin, count] per output pixel. */
  bounds: Int32Array;
  /** Fixed-point coefficients, ksize per output pixel. */
  k: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc of Resample.c, for the whole input range. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) cast truncates toward zero
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter.f((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      // (int)(v * 2^22 + (v < 0 ? -0.5 : 0.5)): round half away from zero
      k[xx * ksize + x] = Math.trunc(v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, k };
}

const clip8 = (ss: number): number => {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * One pass over interleaved RGB rows of `src` (width sw): along x when `horizontal`, else along y.
 * Sums stay below 2^31: 255 x (sum of |k| <= about 1.3 x 2^22) fits Pillow's int32 accumulator.
 */
function pass(
  src: Uint8Array,
  sw: number,
  out: Uint8Array,
  ow: number,
  oh: number,
  c: Coeffs,
  horizontal: boolean,
): void {
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const min = c.bounds[o * 2];
      const count = c.bounds[o * 2 + 1];
      const kb = o * c.ksize;
      let s0 = half;
      let s1 = half;
      let s2 = half;
      for (let i = 0; i < count; i++) {
        const kv = c.k[kb + i];
        const p = horizontal ? (y * sw + min + i) * 3 : ((min + i) * sw + x) * 3;
        s0 += src[p] * kv;
        s1 += src[p + 1] * kv;
        s2 += src[p + 2] * kv;
      }
      const q = (y * ow + x) * 3;
      out[q] = clip8(s0);
      out[q + 1] = clip8(s1);
      out[q + 2] = clip8(s2);
    }
  }
}

/**
 * Pillow's NEAREST (Geometry.c ImagingScaleAffine): the source index under each output pixel centre,
 * the position accumulated step by step in double as Pillow does.
 */
function nearest(src: Uint8Array, sw: number, sh: number, ow: number, oh: number): Uint8Array {
  const index = (inSize: number, outSize: number): Int32Array => {
    const step = inSize / outSize;
    const t = new Int32Array(outSize);
    let pos = step * 0.5;
    for (let i = 0; i < outSize; i++) {
      t[i] = Math.min(inSize - 1, Math.trunc(pos));
      pos += step;
    }
    return t;
  };
  const xi = index(sw, ow);
  const yi = index(sh, oh);
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const p = (yi[y] * sw + xi[x]) * 3;
      out.set(src.subarray(p, p + 3), (y * ow + x) * 3);
    }
  }
  return out;
}

/** `Image.fromarray(rgb).resize((ow, oh), resample)` for one [sh, sw, 3] uint8 frame. */
export function resizeRgb(
  src: Uint8Array,
  sw: number,
  sh: number,
  ow: number,
  oh: number,
  resample: number,
): Uint8Array {
  if (src.length !== sw * sh * 3) throw new RangeError(`frame holds ${src.length} bytes, expected ${sw}x${sh}x3`);
  // Pillow returns a copy when the size is unchanged: no filter touches the pixels
  if (sw === ow && sh === oh) return src.slice();
  if (sw !== ow && sh !== oh && ow * sh !== oh * sw)
    throw new RangeError(
      `resize ${sw}x${sh} -> ${ow}x${oh} is not proportional; only proportional resizes match Pillow`,
    );
  if (resample === RESAMPLE.nearest) return nearest(src, sw, sh, ow, oh);
  const filter = FILTERS[resample];
  if (!filter) throw new RangeError(`resample ${resample} is not a Pillow filter (0-5)`);
  let cur = src;
  let cw = sw;
  if (ow !== sw) {
    const c = coefficients(sw, ow, filter);
    const tmp = new Uint8Array(ow * sh * 3);
    pass(cur, cw, tmp, ow, sh, c, true);
    cur = tmp;
    cw = ow;
  }
  if (oh !== sh) {
    const c = coefficients(sh, oh, filter);
    const tmp = new Uint8Array(ow * oh * 3);
    pass(cur, cw, tmp, ow, oh, c, false);
    cur = tmp;
  }
  return cur;
}
