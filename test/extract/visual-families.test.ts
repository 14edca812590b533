/**
 * Every vision family against Python (scripts/extract/tiny_vision.py ran transformers' PIL-based image
 * processors and PyTorch on the same generated frames): Pillow resizes bit for bit, processed pixels
 * within 1e-6 (in fact identical bytes), last_hidden_state within 1e-4, special tokens (CLS,
 * registers) out of the cached patch grid, pooling 'mean' and 'cls', poolGrid.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { isQuarantine } from '../../activities/extract/encoder.ts';
import { imageProcessing, processFrames } from '../../activities/extract/image-processing.ts';
import { resizeRgb } from '../../activities/extract/image-resize.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { VisualEncoder, type VisualInput } from '../../activities/extract/visual-encoder.ts';
import { poolPatchGrid } from '../../activities/extract/visual-layout.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { MODELS, framesRgb, maxAbsDiff } from './inputs.ts';

interface PixelRef {
  shape: number[];
  sha256: string;
  stride: number;
  sample: number[];
}
interface FamilyCase {
  name: string;
  frames: number;
  seed: number;
  shape?: [number, number, number];
  hidden?: string;
  pixels: PixelRef;
  pooledMean?: number[];
  pooledCls?: number[];
}
interface VisionExpected {
  families: Record<string, { folder: string; specialTokens: number; cases: FamilyCase[] }>;
  resize: Array<{ filter: number; height: number; width: number; seed: number; sha256: string; sample: number[] }>;
}

const expected = JSON.parse(readFileSync(`${MODELS}vision-expected.json`, 'utf8')) as VisionExpected;
const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
const TOL = 1e-4;
const FAMILIES = ['vit', 'clip_vision_model', 'dinov2', 'dinov2_with_registers'] as const;

const sha256 = (a: ArrayBufferView) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
const hidden = (rel: string) => {
  const b = readFileSync(`${MODELS}${rel}`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const open = async (family: string, options = {}) =>
  VisualEncoder.open(await readModelFolder('visual', `${MODELS}${expected.families[family].folder}`), runtime, options);
const prepared = (enc: VisualEncoder, c: FamilyCase): VisualInput => {
  const p = enc.prepare(framesRgb(c.frames, c.seed), c.frames);
  assert.ok(!isQuarantine(p));
  return p;
};

after(() => releaseEncoderSessions());

describe('Pillow resampling', () => {
  test('every filter, up and down, non-square: the same uint8 pixels as PIL.Image.resize', () => {
    for (const r of expected.resize) {
      const got = resizeRgb(framesRgb(1, r.seed), 224, 224, r.width, r.height, r.filter);
      const sample = Array.from({ length: r.sample.length }, (_, i) => got[i * 997]);
      assert.deepEqual(sample, r.sample, `filter ${r.filter} to ${r.height}x${r.width}`);
      assert.equal(sha256(got), r.sha256, `filter ${r.filter} to ${r.height}x${r.width}`);
    }
  });
});

describe('processed pixels (resize, centre crop, rescale, normalize)', () => {
  for (const family of [...FAMILIES, 'swin']) {
    test(`${family}: identical to transformers' PIL-based processor`, async () => {
      const { folder, cases } = expected.families[family];
      const proc = imageProcessing(await readModelFolder('visual', `${MODELS}${folder}`));
      for (const c of cases) {
        const px = processFrames(proc, framesRgb(c.frames, c.seed), c.frames);
        assert.equal(
          px.length,
          c.pixels.shape.reduce((a, b) => a * b, 1),
        );
        const sample = Array.from({ length: c.pixels.sample.length }, (_, i) => px[i * c.pixels.stride]);
        assert.ok(maxAbsDiff(sample, c.pixels.sample) <= 1e-6, `${family} ${c.name}: sampled pixels differ`);
        assert.equal(sha256(px), c.pixels.sha256, `${family} ${c.name}: float32 bytes differ`);
      }
    });
  }
  test('DINOv2 resizes to 256 bicubic and crops the centre 224; CLIP and ViT at 224 do not resample', async () => {
    const dino = imageProcessing(await readModelFolder('visual', `${MODELS}tiny-dinov2`));
    assert.deepEqual(
      [dino.resize, dino.crop],
      [
        { height: 256, width: 256, resample: 3 },
        { height: 224, width: 224 },
      ],
    );
    const clip = imageProcessing(await readModelFolder('visual', `${MODELS}tiny-clip_vision_model`));
    assert.deepEqual([clip.resize, clip.crop, clip.height], [null, null, 224]);
  });
});

describe('hidden states, special tokens and pooling', () => {
  for (const family of FAMILIES) {
    test(`${family}: patch grid and pooled vectors within 1e-4 of PyTorch, special tokens kept out`, async () => {
      const { specialTokens, cases } = expected.families[family];
      const enc = await open(family);
      const cls = await open(family, { pooling: 'cls' });
      assert.equal(enc.layout.specialTokens, specialTokens);
      // batchFrames 2 splits the three-frame utterance and mixes the utterances in one call
      const out = await enc.encode(
        cases.map((c) => prepared(enc, c)),
        2,
      );
      const outCls = await cls.encode(
        cases.map((c) => prepared(cls, c)),
        4,
      );
      cases.forEach((c, i) => {
        const [F, T, D] = c.shape!;
        const ref = hidden(c.hidden!);
        const patches = T - specialTokens;
        const e = out[i];
        assert.deepEqual([e.steps, e.tokens, e.dim], [F, patches, D], c.name);
        // the cached sequence is exactly the reference's rows after the special tokens, frame by frame
        const want = new Float32Array(F * patches * D);
        for (let f = 0; f < F; f++)
          want.set(ref.subarray((f * T + specialTokens) * D, (f + 1) * T * D), f * patches * D);
        assert.ok(maxAbsDiff(e.sequence, want) <= TOL, `${family} ${c.name}: sequence ${maxAbsDiff(e.sequence, want)}`);
        assert.ok(maxAbsDiff(e.pooled, c.pooledMean!) <= TOL, `${family} ${c.name}: mean pooling`);
        assert.ok(maxAbsDiff(outCls[i].pooled, c.pooledCls!) <= TOL, `${family} ${c.name}: cls pooling`);
        assert.ok(maxAbsDiff(outCls[i].sequence, e.sequence) === 0, 'pooling changes only the pooled vector');
        // and the CLS pooled vector is not the patch mean
        assert.ok(maxAbsDiff(outCls[i].pooled, e.pooled) > 1e-3);
      });
    });
  }

  test('token counts per frame: 196 for the /16 ViT and CLIP, 256 for DINOv2 at 224, registers dropped', async () => {
    const counts = await Promise.all(FAMILIES.map(async (f) => (await open(f)).tokens));
    assert.deepEqual(counts, [196, 196, 256, 256]);
    assert.equal((await open('dinov2_with_registers')).layout.outputTokens, 261);
  });

  test("'cls' pooling is refused for Swin, which has no CLS token", async () => {
    await assert.rejects(
      VisualEncoder.open(await readModelFolder('visual', `${MODELS}tiny-swin`), runtime, { pooling: 'cls' }),
      (err: Error & { type?: string }) => err.type === 'MerModelMismatch' && /has no CLS token/.test(err.message),
    );
  });
});

describe('poolGrid', () => {
  test('14x14 -> 7x7 averages 2x2 blocks of the PyTorch patch grid; the pooled vector stays the patch mean', async () => {
    const c = expected.families.vit.cases[1];
    const [, T, D] = c.shape!;
    const enc = await open('vit', { poolGrid: 7 });
    assert.equal(enc.tokens, 49);
    const [e] = await enc.encode([prepared(enc, c)], 8);
    const ref = hidden(c.hidden!);
    for (const [i, j] of [
      [0, 0],
      [3, 5],
      [6, 6],
    ]) {
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (const [dy, dx] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ])
          s += ref[(1 + (2 * i + dy) * 14 + 2 * j + dx) * D + d];
        assert.ok(Math.abs(e.sequence[(i * 7 + j) * D + d] - s / 4) <= TOL, `cell ${i},${j} dim ${d}`);
      }
    }
    assert.ok(maxAbsDiff(e.pooled, c.pooledMean!) <= TOL);
    assert.equal(T, 197);
  });

  test('a grid that does not divide pools overlapping cells as AdaptiveAvgPool2d; a finer grid is refused', async () => {
    // 3 -> 2: rows [0,2) and [1,3) (torch.nn.AdaptiveAvgPool2d's floor/ceil bounds)
    const src = Float32Array.from({ length: 9 }, (_, k) => k);
    const out = new Float32Array(4);
    poolPatchGrid(src, 0, 3, 3, 1, 2, out, 0);
    assert.deepEqual(Array.from(out), [2, 3, 5, 6]);
    await assert.rejects(open('vit', { poolGrid: 15 }), /poolGrid 15 is finer than ViT's 14x14 patch grid/);
  });
});

describe('preprocessing that is not reproduced is refused by name', () => {
  test('a non-square size, a crop larger than the image, another processor class', async () => {
    const vit = await readModelFolder('visual', `${MODELS}tiny-vit`);
    const refused = (preprocessor: Record<string, unknown>, why: RegExp) =>
      assert.throws(
        () => imageProcessing({ ...vit, preprocessor: { ...vit.preprocessor, ...preprocessor } }),
        (err: Error & { type?: string }) =>
          err.type === 'MerModelMismatch' && err.message.includes('preprocessor_config.json') && why.test(err.message),
      );
    refused({ size: { height: 224, width: 320 } }, /size 224x320 is not square/);
    refused({ do_center_crop: true, crop_size: { height: 256, width: 256 } }, /crop_size 256x256 is larger/);
    refused({ image_processor_type: 'ConvNextImageProcessor' }, /ConvNextImageProcessor is not one this stage/);
    refused({ resample: 7 }, /resample 7 is not a PIL filter/);
    // the older feature-extractor name and the fast/Pil class names are the same steps
    assert.equal(
      imageProcessing({ ...vit, preprocessor: { ...vit.preprocessor, image_processor_type: 'ViTImageProcessorFast' } })
        .height,
      224,
    );
  });
});
