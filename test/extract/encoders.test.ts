/**
 * The three encoders against PyTorch (scripts/extract/make_tiny_models.py ran the same random-weight
 * models on the same inputs through transformers' own tokenizer, feature extractor and image
 * processor): token ids exactly, hidden states and pooled vectors within 1e-4.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { openAudioEncoder, type AudioEncoder, type AudioInput } from '../../activities/extract/audio-encoder.ts';
import { isQuarantine } from '../../activities/extract/encoder.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { TransformerTextEncoder, type TextInput } from '../../activities/extract/text-encoder.ts';
import { VisualEncoder, type VisualInput } from '../../activities/extract/visual-encoder.ts';
import { TINY, expected, framesRgb, lcgSamples, maxAbsDiff } from './inputs.ts';

const TOL = 1e-4;
const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });

/** An encoder output's sequence and pooled vector within TOL of the PyTorch reference case. */
function assertNearPyTorch(
  e: { sequence: ArrayLike<number>; pooled: ArrayLike<number> },
  c: { name: string; sequence: ArrayLike<number>; pooled: ArrayLike<number> },
): void {
  for (const part of ['sequence', 'pooled'] as const) {
    const diff = maxAbsDiff(e[part], c[part]);
    assert.ok(diff <= TOL, `${c.name}: ${part} differs by ${diff}`);
  }
}

after(() => releaseEncoderSessions());

describe('text encoder (tiny BERT)', () => {
  let enc: TransformerTextEncoder;
  before(async () => {
    enc = await TransformerTextEncoder.open(await readModelFolder('text', TINY.text), runtime);
  });

  const prepared = (c: (typeof expected.text)[number]): TextInput => {
    const p = enc.prepare(c.text, c.context, 128);
    assert.ok(!isQuarantine(p));
    return p;
  };

  test('token ids, type ids and utterance start equal the Python tokenizer', () => {
    for (const c of expected.text) {
      const p = prepared(c);
      assert.deepEqual(p.ids, c.ids, c.name);
      assert.deepEqual(p.typeIds, c.typeIds, c.name);
      assert.equal(p.utteranceStart, c.utteranceStart, c.name);
    }
    assert.ok(expected.text.find((c) => c.name === 'long')!.ids.length === 128);
  });

  test('hidden states and pooled vectors match PyTorch, one utterance at a time', async () => {
    for (const c of expected.text) {
      const [e] = await enc.encode([prepared(c)]);
      assert.deepEqual([e.steps, e.dim], c.shape, c.name);
      assertNearPyTorch(e, c);
    }
  });

  test('a padded batch gives every utterance its own result (mask-aware pooling)', async () => {
    const out = await enc.encode(expected.text.map(prepared));
    out.forEach((e, i) => {
      const c = expected.text[i];
      assert.equal(e.steps, c.shape[0]);
      assert.ok(
        maxAbsDiff(e.pooled, c.pooled) <= TOL,
        `${c.name} in a batch: pooled differs by ${maxAbsDiff(e.pooled, c.pooled)}`,
      );
      assert.ok(maxAbsDiff(e.sequence, c.sequence) <= TOL, `${c.name} in a batch`);
    });
  });

  test('context is pooled out: the utterance with context differs from the context-free one only through attention', async () => {
    const c = expected.text.find((x) => x.name === 'context')!;
    const p = prepared(c);
    assert.ok(p.utteranceStart > 0);
    const [withCtx] = await enc.encode([p]);
    const alone = enc.prepare(c.text, [], 128) as TextInput;
    const [noCtx] = await enc.encode([alone]);
    assert.equal(
      withCtx.steps - withCtx.utteranceTokenStart!,
      alone.ids.length - 1,
      'pooled span = utterance tokens + final [SEP]',
    );
    assert.ok(maxAbsDiff(withCtx.pooled, noCtx.pooled) > 1e-3, 'context changes the pooled vector');
  });
});

describe('audio encoder (tiny wav2vec2)', () => {
  let enc: AudioEncoder;
  before(async () => {
    enc = await openAudioEncoder(await readModelFolder('audio', TINY.audio), runtime);
  });
  const input = (c: (typeof expected.audio.cases)[number]): AudioInput => {
    const p = enc.prepare(lcgSamples(c.samples, c.seed), 16000, 15);
    assert.ok(!isQuarantine(p));
    return p;
  };

  test('receptive field and frame counts follow the conv stack', () => {
    assert.equal(enc.receptiveField, expected.audio.receptiveField);
    assert.equal(enc.receptiveField, 400);
    for (const c of expected.audio.cases) assert.equal(enc.framesFor(c.samples), c.shape[0], c.name);
  });

  test('frame sequences and pooled vectors match PyTorch', async () => {
    for (const c of expected.audio.cases) {
      const [e] = await enc.encode([input(c)]);
      assert.deepEqual([e.steps, e.dim], c.shape, c.name);
      assertNearPyTorch(e, c);
    }
  });

  test('an equal-length batch equals the unbatched results exactly', async () => {
    const twins = expected.audio.cases.filter((c) => c.name.startsWith('twin'));
    const batched = await enc.encode(twins.map(input));
    for (const [i, c] of twins.entries()) {
      const [single] = await enc.encode([input(c)]);
      assert.equal(maxAbsDiff(batched[i].sequence, single.sequence), 0, `${c.name}: batched differs from unbatched`);
      assert.deepEqual(batched[i].pooled, single.pooled);
      assert.ok(maxAbsDiff(batched[i].pooled, c.pooled) <= TOL);
    }
  });

  test('unequal lengths are refused rather than padded', async () => {
    const [a, b] = expected.audio.cases;
    await assert.rejects(enc.encode([input(a), input(b)]), /equal length/);
  });

  test('audio shorter than the receptive field is quarantined, longer than maxSeconds is cut and flagged', () => {
    const short = enc.prepare(lcgSamples(399, 1), 16000, 15);
    assert.ok(isQuarantine(short));
    assert.match(short.quarantine, /^audio_too_short: 399 samples.*receptive field of 400 \(25 ms\)/);
    assert.ok(!isQuarantine(enc.prepare(lcgSamples(400, 1), 16000, 15)));
    const long = enc.prepare(lcgSamples(16000, 1), 16000, 0.5);
    assert.ok(!isQuarantine(long));
    assert.equal(long.values.length, 8000);
    assert.deepEqual(long.flags, ['audio_truncated']);
    const wrongRate = enc.prepare(lcgSamples(16000, 1), 8000, 15);
    assert.ok(isQuarantine(wrongRate) && wrongRate.quarantine.startsWith('audio_sample_rate'));
  });
});

describe('visual encoder (tiny Swin)', () => {
  let enc: VisualEncoder;
  before(async () => {
    enc = await VisualEncoder.open(await readModelFolder('visual', TINY.visual), runtime);
  });
  const input = (c: (typeof expected.visual)[number]): VisualInput => {
    const p = enc.prepare(framesRgb(c.frames, c.seed), c.frames);
    assert.ok(!isQuarantine(p));
    return p;
  };

  test('7x7 token grids and pooled vectors match PyTorch, frames split across inference calls', async () => {
    assert.equal(enc.tokens, 49);
    // batchFrames 2 splits the three-frame utterance over two calls and mixes utterances in one
    const out = await enc.encode(expected.visual.map(input), 2);
    out.forEach((e, i) => {
      const c = expected.visual[i];
      assert.deepEqual([e.steps, e.tokens, e.dim], c.shape, c.name);
      assertNearPyTorch(e, c);
    });
  });

  test('an utterance without frames is quarantined', () => {
    const q = enc.prepare(new Uint8Array(0), 0);
    assert.ok(isQuarantine(q) && q.quarantine.startsWith('no_frames'));
  });
});
