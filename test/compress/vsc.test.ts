import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { vscParams } from '../../schemas/compress.ts';
import { createGuidance } from '../../activities/compress/guidance.ts';
import { vscKey } from '../../activities/compress/key.ts';
import {
  capGroups,
  compressFrame,
  createVsc,
  mergeTemporal,
  reduction,
  utteranceReduction,
} from '../../activities/compress/vsc.ts';
import { Rng } from '../../activities/model/rng.ts';

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-9, what = '') => {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
};
const cos = (a: number[], b: number[]) => (a[0] * b[0] + a[1] * b[1]) / (Math.hypot(...a) * Math.hypot(...b));
const softmax = (xs: number[]) => {
  const e = xs.map((x) => Math.exp(x));
  const z = e.reduce((s, x) => s + x, 0);
  return e.map((x) => x / z);
};
const axpy = (a: number, x: number[], y: number[]) => y.map((v, i) => v + a * x[i]);
const scale = (a: number, x: number[]) => x.map((v) => a * v);

describe('token selection', () => {
  // mean = (0.25, 0.5); cosines to it: 0.447, 0.894, 0.949, -0.447.
  const frame = Float32Array.from([1, 0, 0, 1, 1, 1, -1, 0]);
  const shape = { tokens: 4, dim: 2 };

  test('keeps the top-k by cosine to the frame mean, in spatial order', () => {
    const r = compressFrame(frame, shape, vscParams({ topK: 2 }));
    // Token 2 ranks first, token 1 second; the kept list is in spatial order all the same.
    assert.deepEqual([...r.kept], [1, 2]);
  });

  test('guidance moves the selection towards itself', () => {
    // m = (10.25, 0.5): cosines 0.999, 0.049, 0.741, -0.999.
    const r = compressFrame(frame, shape, vscParams({ topK: 2 }), [10, 0]);
    assert.deepEqual([...r.kept], [0, 2]);
  });

  test('ties keep the lower spatial index; k >= P keeps every token', () => {
    const same = Float32Array.from([1, 2, 1, 2, 1, 2, 1, 2]);
    assert.deepEqual([...compressFrame(same, shape, vscParams({ topK: 3 })).kept], [0, 1, 2]);
    const all = compressFrame(frame, shape, vscParams({ topK: 9 }));
    assert.deepEqual([...all.kept], [0, 1, 2, 3]);
    close(all.vector, [0.25, 0.5], 1e-12, 'all kept: frame vector is the mean');
  });
});

describe('merging dropped tokens', () => {
  // Norm-5 tokens so the cosines are exact: cos(X1,X0) = 0.8, cos(X1,X3) = 0.936,
  // cos(X2,X0) = 0.6 (not above the threshold), cos(X2,X3) = 0.8. The guidance makes X0 and X3 the kept pair.
  const X = [
    [5, 0],
    [4, 3],
    [3, 4],
    [4.8, 1.4],
  ];
  const frame = Float32Array.from(X.flat());
  const shape = { tokens: 4, dim: 2 };
  const guide = [100, -10];
  const t1 = softmax([cos(X[1], X[0]), cos(X[1], X[3])]);
  const t2 = softmax([cos(X[2], X[0]), cos(X[2], X[3])]);
  const K0 = axpy(0.1 * t1[0], X[1], scale(0.9, X[0]));

  test('accumulate: every dropped token above the threshold contributes', () => {
    const r = compressFrame(frame, shape, vscParams({ topK: 2 }), guide);
    assert.deepEqual([...r.kept], [0, 3]);
    const K3 = axpy(0.1 * t2[1], X[2], axpy(0.1 * t1[1], X[1], scale(0.9, X[3])));
    close(r.vector, scale(0.5, axpy(1, K0, K3)), 1e-6);
  });

  test('reference: the last dropped token in spatial order overwrites earlier ones', () => {
    const r = compressFrame(frame, shape, vscParams({ topK: 2, mergeMode: 'reference' }), guide);
    const K3 = axpy(0.1 * t2[1], X[2], scale(0.9, X[3]));
    close(r.vector, scale(0.5, axpy(1, K0, K3)), 1e-6);
  });

  test('a kept token nothing merges into stays as it is; keepWeight and threshold are honoured', () => {
    // Threshold 0.9: only X1 -> X3 (0.936) merges; X0 keeps its value.
    const r = compressFrame(frame, shape, vscParams({ topK: 2, mergeThreshold: 0.9, keepWeight: 0.5 }), guide);
    const K3 = axpy(0.5 * t1[1], X[1], scale(0.5, X[3]));
    close(r.vector, scale(0.5, axpy(1, X[0], K3)), 1e-6);
  });

  test('with at most one merging token per kept token both modes agree', () => {
    const p = { topK: 2, mergeThreshold: 0.9 };
    const a = compressFrame(frame, shape, vscParams(p), guide).vector;
    const b = compressFrame(frame, shape, vscParams({ ...p, mergeMode: 'reference' }), guide).vector;
    assert.deepEqual([...a], [...b]);
  });
});

describe('temporal merging and the cap', () => {
  // f1 joins f0 (cos 0.995); f2 is within 0.97 of f1 (0.972) but not of the group mean (1, 0.05) (0.959).
  const vectors = [
    [1, 0],
    [1, 0.1],
    [1, 0.35],
    [0, 1],
    [0, 1],
    [0, -1],
  ];
  const flat = Float64Array.from(vectors.flat());

  test('consecutive frames above the threshold are averaged against the running group mean', () => {
    const g = mergeTemporal(flat, 6, 2, 0.97);
    assert.equal(g.groups, 4);
    assert.deepEqual([...g.counts.subarray(0, 4)], [2, 1, 2, 1]);
    close(g.sums.subarray(0, 8), [2, 0.1, 1, 0.35, 0, 2, 0, -1], 1e-12);
  });

  test('cap by merge joins the most similar neighbours, weighting by frame count', () => {
    const g = mergeTemporal(flat, 6, 2, 0.97);
    const n = capGroups(g, 2, 3, 'merge');
    assert.equal(n, 3);
    assert.deepEqual([...g.counts.subarray(0, 3)], [3, 2, 1]);
    close(g.sums.subarray(0, 6), [3, 0.45, 0, 2, 0, -1], 1e-12);
  });

  test('cap by truncate keeps the first groups', () => {
    const g = mergeTemporal(flat, 6, 2, 0.97);
    assert.equal(capGroups(g, 2, 3, 'truncate'), 3);
    close(g.sums.subarray(0, 6), [2, 0.1, 1, 0.35, 0, 2], 1e-12);
  });

  test('end to end: one token per frame, output padded to maxFrames with its length', () => {
    const vsc = createVsc(vscParams({ topK: 1, maxFrames: 5 }), { tokens: 1, dim: 2 });
    const out = vsc.compress(Float32Array.from(vectors.flat()), 6);
    assert.equal(out.length, 4);
    close(out.sequence, [1, 0.05, 1, 0.35, 0, 1, 0, -1, 0, 0], 1e-6);
    const capped = createVsc(vscParams({ topK: 1, maxFrames: 3 }), { tokens: 1, dim: 2 }).compress(
      Float32Array.from(vectors.flat()),
      6,
    );
    assert.equal(capped.length, 3);
    close(capped.sequence, [1, 0.15, 0, 1, 0, -1], 1e-6);
    const none = vsc.compress(new Float32Array(0), 0);
    assert.equal(none.length, 0);
    assert.ok(none.sequence.every((x) => x === 0));
  });

  test('VSC off: frame means of all tokens, no frame merging, still capped', () => {
    const tokens = Float32Array.from([1, 3, 3, 1, /* f1 */ 1, 3, 3, 1, /* f2 */ 0, 2, 2, 0]);
    const off = createVsc(vscParams({ enabled: false, maxFrames: 4 }), { tokens: 2, dim: 2 }).compress(tokens, 3);
    assert.equal(off.length, 3);
    close(off.sequence, [2, 2, 2, 2, 1, 1, 0, 0], 1e-12);
    const on = createVsc(vscParams({ maxFrames: 4 }), { tokens: 2, dim: 2 }).compress(tokens, 3);
    assert.equal(on.length, 1, 'identical directions merge when VSC is on');
  });
});

describe('guidance', () => {
  const dims = { text: 6, audio: 4, visual: 5 };
  const t = Float32Array.from([1, -2, 0.5, 0, 3, 1]);
  const a = Float32Array.from([0.3, 0.1, -1, 2]);

  test('fixed guidance is a deterministic function of the seed', () => {
    const g1 = createGuidance(7, dims).apply(t, a);
    assert.deepEqual([...createGuidance(7, dims).apply(t, a)], [...g1]);
    assert.notDeepEqual([...createGuidance(8, dims).apply(t, a)], [...g1]);
    assert.ok(g1.every(Number.isFinite));
  });

  test('is affine in [t; a]; a missing modality contributes zeros', () => {
    const g = createGuidance(3, dims);
    // eslint-disable-next-line prefer-spread -- Guidance.apply is our method, not Function.prototype.apply
    const bias = g.apply(null, null);
    const ta = g.apply(t, a);
    const tOnly = g.apply(t, null);
    // eslint-disable-next-line prefer-spread -- Guidance.apply is our method, not Function.prototype.apply
    const aOnly = g.apply(null, a);
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(ta[i] - (tOnly[i] + aOnly[i] - bias[i])) < 1e-5);
    // Weights and bias lie within nn.Linear's default bound 1/sqrt(in).
    assert.ok(bias.every((b) => Math.abs(b) <= 1 / Math.sqrt(10)));
    assert.throws(() => g.apply(new Float32Array(5), a), /text vector has 5 values, expected 6/);
  });

  test('none vs fixed: the guide changes the selection, the same seed gives the same sequence', () => {
    const rng = new Rng(11, 1);
    const P = 49;
    const D = 16;
    const tokens = Float32Array.from({ length: 4 * P * D }, () => rng.normal());
    const gd = { text: 8, audio: 8, visual: D };
    const text = Float32Array.from({ length: 8 }, () => 20 * rng.normal());
    const audio = Float32Array.from({ length: 8 }, () => 20 * rng.normal());
    const vsc = createVsc(vscParams({ guidance: 'fixed', temporalThreshold: 1 }), { tokens: P, dim: D });
    const guided = vsc.compress(tokens, 4, createGuidance(5, gd).apply(text, audio));
    const again = vsc.compress(tokens, 4, createGuidance(5, gd).apply(text, audio));
    const unguided = vsc.compress(tokens, 4, null);
    const otherSeed = vsc.compress(tokens, 4, createGuidance(6, gd).apply(text, audio));
    assert.deepEqual([...again.sequence], [...guided.sequence]);
    assert.notDeepEqual([...unguided.sequence], [...guided.sequence]);
    assert.notDeepEqual([...otherSeed.sequence], [...guided.sequence]);
  });
});

describe('cache key and reduction', () => {
  test('parameters that change the output change the key; irrelevant ones do not', () => {
    const base = vscKey({}, { visual: 'v1' });
    assert.notEqual(vscKey({ topK: 8 }, { visual: 'v1' }), base);
    assert.notEqual(vscKey({ mergeMode: 'reference' }, { visual: 'v1' }), base);
    assert.notEqual(vscKey({}, { visual: 'v2' }), base);
    assert.equal(
      vscKey({ guidanceSeed: 9 }, { visual: 'v1', text: 't' }),
      base,
      'seed and text are unused without guidance',
    );
    const fixed = vscKey({ guidance: 'fixed' }, { visual: 'v1', text: 't', audio: 'a' });
    assert.notEqual(fixed, base);
    assert.notEqual(vscKey({ guidance: 'fixed', guidanceSeed: 1 }, { visual: 'v1', text: 't', audio: 'a' }), fixed);
    assert.notEqual(vscKey({ guidance: 'fixed' }, { visual: 'v1', text: 't2', audio: 'a' }), fixed);
    assert.equal(vscKey({ enabled: false, topK: 3 }, { visual: 'v1' }), vscKey({ enabled: false }, { visual: 'v1' }));
    assert.throws(() => vscKey({ guidance: 'fixed' }, { visual: 'v1' }), /text and audio/);
  });

  test('ratio is input values over valid output values', () => {
    assert.equal(utteranceReduction(15, { tokens: 49, dim: 768 }, 15).ratio, 49);
    assert.equal(utteranceReduction(15, { tokens: 49, dim: 768 }, 5).ratio, 147);
    assert.equal(reduction(0, 0).ratio, 1);
    assert.throws(() => reduction(10, 0));
  });
});

describe('property: random inputs', () => {
  test('lengths within bounds, finite values bounded by the inputs, zero padding, determinism', () => {
    const rng = new Rng(2024, 3);
    const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform() * (hi - lo + 1));
    for (let c = 0; c < 150; c++) {
      const P = int(1, 50);
      const D = int(1, 20);
      const F = int(0, 30);
      const params = vscParams({
        enabled: rng.uniform() < 0.85,
        topK: int(1, P + 3),
        mergeThreshold: 2 * rng.uniform() - 1,
        keepWeight: rng.uniform(),
        mergeMode: rng.uniform() < 0.5 ? 'accumulate' : 'reference',
        temporalThreshold: rng.uniform() < 0.3 ? 0.97 : 2 * rng.uniform() - 1,
        maxFrames: int(1, 20),
        cap: rng.uniform() < 0.5 ? 'merge' : 'truncate',
      });
      const tokens = new Float32Array(F * P * D);
      for (let i = 0; i < tokens.length; i++) {
        const kind = rng.uniform();
        // Zeros and repeated tokens exercise the zero-norm and tie paths.
        tokens[i] = kind < 0.05 ? 0 : kind < 0.15 && i >= D ? tokens[i - D] : 1e3 * rng.normal() * rng.uniform() ** 4;
      }
      const guide = rng.uniform() < 0.5 ? Float32Array.from({ length: D }, () => 10 * rng.normal()) : null;
      const vsc = createVsc(params, { tokens: P, dim: D });
      const out = vsc.compress(tokens, F, guide);
      const what = `case ${c}: P=${P} D=${D} F=${F} ${JSON.stringify(params)}`;
      assert.ok(out.length <= Math.min(F, params.maxFrames), what);
      assert.ok(F === 0 || out.length >= 1, what);
      assert.equal(out.sequence.length, params.maxFrames * D, what);
      let maxIn = 0;
      for (const x of tokens) maxIn = Math.max(maxIn, Math.abs(x));
      const k = Math.min(params.topK, P);
      const bound = maxIn * (1 + (params.enabled ? ((1 - params.keepWeight) * (P - k)) / k : 0)) * (1 + 1e-5);
      for (let i = 0; i < out.sequence.length; i++) {
        const x = out.sequence[i];
        assert.ok(Number.isFinite(x), what);
        if (i >= out.length * D) assert.equal(x, 0, `${what}: padding`);
        else assert.ok(Math.abs(x) <= bound, `${what}: |${x}| > ${bound}`);
      }
      assert.deepEqual([...vsc.compress(tokens, F, guide).sequence], [...out.sequence], `${what}: deterministic`);
    }
  });

  test('accumulate mode does not depend on the spatial order of tokens; reference mode does', () => {
    const rng = new Rng(5, 5);
    const P = 12;
    const D = 3;
    // Tokens near one direction so that many dropped tokens merge into each kept one.
    const base = [1, 0.5, -0.25];
    const tokens = Float32Array.from({ length: P * D }, (_, i) => base[i % D] + 0.3 * rng.normal());
    const perm = rng.permutation(P);
    const permuted = new Float32Array(P * D);
    for (let p = 0; p < P; p++) permuted.set(tokens.subarray(perm[p] * D, perm[p] * D + D), p * D);
    const acc = vscParams({ topK: 4 });
    close(
      compressFrame(permuted, { tokens: P, dim: D }, acc).vector,
      compressFrame(tokens, { tokens: P, dim: D }, acc).vector,
      1e-12,
    );
    const ref = vscParams({ topK: 4, mergeMode: 'reference' });
    const a = compressFrame(tokens, { tokens: P, dim: D }, ref).vector;
    const b = compressFrame(permuted, { tokens: P, dim: D }, ref).vector;
    assert.ok(
      [...a].some((x, i) => Math.abs(x - b[i]) > 1e-6),
      'a different visiting order changes which token wins',
    );
  });
});
