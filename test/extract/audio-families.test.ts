/**
 * The speech families beside wav2vec2 (encoders.test.ts) against PyTorch: HuBERT, WavLM and
 * data2vec-audio on the raw waveform, the Whisper encoder (80 and 128 mel bins) on its log-mel window.
 * scripts/extract/tiny_audio.py ran the same random-weight models on the same generated audio through
 * transformers' own feature extractors: processed inputs within 1e-6, hidden states and pooled vectors
 * within 1e-4; padded batches equal to each utterance alone where the family batches with padding; a
 * graph that does not fit its family refused by name.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AudioEncoderParamsSchema, TextEncoderParamsSchema, VisualEncoderParamsSchema } from '../../schemas/extract.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import type { SegmentRow } from '../../schemas/segment.ts';
import { MerError } from '../../activities/common/errors.ts';
import { openAudioEncoder, type AudioEncoder, type AudioInput } from '../../activities/extract/audio-encoder.ts';
import { isQuarantine } from '../../activities/extract/encoder.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { openRunner } from '../../activities/extract/runners.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { decodeFloat16 } from '../../activities/common/float16.ts';
import { audioExpected, modelDir, type ValuesSummary } from './audio-expected.ts';
import { lcgSamples, maxAbsDiff, wavBytes } from './inputs.ts';

const TOL = 1e-4;
const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mer-audio-families-'));
});
after(async () => {
  await releaseEncoderSessions();
  await rm(tmp, { recursive: true, force: true });
});

const open = async (folder: string): Promise<AudioEncoder> =>
  openAudioEncoder(await readModelFolder('audio', modelDir(folder)), runtime);

function prepared(enc: AudioEncoder, c: { samples: number; seed: number }, maxSeconds = 15): AudioInput {
  const p = enc.prepare(lcgSamples(c.samples, c.seed), 16000, maxSeconds);
  assert.ok(!isQuarantine(p), 'encodable');
  return p;
}

function assertValues(got: Float32Array, want: ValuesSummary, name: string): void {
  assert.equal(got.length, want.length, name);
  const strided = got.filter((_, i) => i % want.stride === 0);
  for (const [part, a, b] of [
    ['strided', strided, want.strided],
    ['head', got.subarray(0, 32), want.head],
    ['tail', got.subarray(got.length - 32), want.tail],
  ] as const) {
    const d = maxAbsDiff(a, b);
    assert.ok(d <= 1e-6, `${name}: normalised ${part} values differ by ${d}`);
  }
  let sum = 0;
  let squares = 0;
  for (const v of got) {
    sum += v;
    squares += v * v;
  }
  assert.ok(Math.abs(sum - want.sum) <= 1e-3 && Math.abs(squares - want.sumSquares) <= 1e-6 * want.length, name);
}

for (const fam of audioExpected.raw) {
  describe(`${fam.modelType} (${fam.folder})`, () => {
    let enc: AudioEncoder;
    before(async () => {
      enc = await open(fam.folder);
    });

    test('normalisation, receptive field and frame counts follow preprocessor_config.json and the conv stack', () => {
      assert.equal(enc.modelType, fam.modelType);
      assert.equal(enc.receptiveField, fam.receptiveField);
      for (const c of fam.cases) {
        assert.equal(enc.framesFor(c.samples), c.shape[0], c.name);
        assertValues(prepared(enc, c).values, c.values, c.name);
      }
    });

    test('frame sequences and pooled vectors match PyTorch, one utterance at a time', async () => {
      for (const c of fam.cases) {
        const [e] = await enc.encode([prepared(enc, c)]);
        assert.deepEqual([e.steps, e.dim], c.shape, c.name);
        for (const part of ['sequence', 'pooled'] as const) {
          const d = maxAbsDiff(e[part], c[part]);
          assert.ok(d <= TOL, `${c.name}: ${part} differs by ${d}`);
        }
      }
    });

    test('padding is used exactly where transformers’ own padded batch equals each utterance alone', async () => {
      assert.ok(fam.returnAttentionMask && fam.paddedBatch, 'the tiny families all return an attention mask');
      const exact = fam.paddedBatch.maxDiffToAlone < 1e-5;
      assert.equal(enc.batching, exact ? 'padded' : 'equal');
      const cases = fam.paddedBatch.cases.map((n) => fam.cases.find((c) => c.name === n)!);
      if (enc.batching === 'padded') {
        const batched = await enc.encode(cases.map((c) => prepared(enc, c)));
        for (const [i, c] of cases.entries()) {
          const [alone] = await enc.encode([prepared(enc, c)]);
          assert.equal(batched[i].steps, c.shape[0]);
          assert.ok(maxAbsDiff(batched[i].sequence, alone.sequence) <= 1e-5, `${c.name}: padded batch differs`);
          assert.ok(maxAbsDiff(batched[i].pooled, c.pooled) <= TOL, `${c.name}: padded batch vs PyTorch`);
        }
      } else {
        const why = {
          wavlm: /feat_extract_norm "group" normalises over time/,
          'data2vec-audio': /5 stacked positional/,
        };
        assert.throws(
          () => enc.feeds(cases.map((c) => prepared(enc, c))),
          (err: Error) => /equal length/.test(err.message) && why[fam.modelType as keyof typeof why].test(err.message),
        );
        const twins = fam.cases.filter((c) => c.name.startsWith('twin'));
        const batched = await enc.encode(twins.map((c) => prepared(enc, c)));
        for (const [i, c] of twins.entries()) {
          const [alone] = await enc.encode([prepared(enc, c)]);
          assert.ok(maxAbsDiff(batched[i].sequence, alone.sequence) <= 1e-6, `${c.name}: equal-length batch differs`);
        }
      }
    });
  });
}

describe('Whisper encoder', () => {
  for (const fam of audioExpected.whisper) {
    test(`${fam.folder}: the frames covering the audio and their mean match PyTorch; any lengths share a batch`, async () => {
      const enc = await open(fam.folder);
      assert.equal(enc.batching, 'padded');
      const inputs = fam.cases.map((c) => prepared(enc, c, 40));
      const batched = await enc.encode(inputs);
      for (const [i, c] of fam.cases.entries()) {
        const [e] = await enc.encode([inputs[i]]);
        assert.equal(e.steps, Math.min(1500, Math.ceil(Math.min(c.samples, 480000) / 320)), c.name);
        assert.deepEqual([e.steps, e.dim], c.shape, c.name);
        const frames = new Float32Array(c.sequenceFrames.length * e.dim);
        c.sequenceFrames.forEach((f, j) => frames.set(e.sequence.subarray(f * e.dim, (f + 1) * e.dim), j * e.dim));
        for (const [part, got, want] of [
          ['sequence', frames, c.sequence],
          ['pooled', e.pooled, c.pooled],
        ] as const) {
          const d = maxAbsDiff(got, want);
          assert.ok(d <= TOL, `${c.name}: ${part} differs by ${d}`);
        }
        assert.ok(maxAbsDiff(batched[i].sequence, e.sequence) <= 1e-5, `${c.name}: batched differs from alone`);
      }
    });
  }

  test('longer than the 30 s window: cut there and flagged; maxSeconds below it still cuts', async () => {
    const enc = await open('tiny-whisper');
    assert.equal(enc.maxSamples(40), 480000);
    assert.equal(enc.maxSamples(15), 240000);
    const long = prepared(enc, { samples: 483210, seed: 5 }, 40);
    assert.deepEqual([long.samples, long.flags], [480000, ['audio_truncated']]);
    const cut = prepared(enc, { samples: 16000, seed: 1 }, 0.5);
    assert.deepEqual([cut.samples, cut.flags, enc.framesFor(cut.samples)], [8000, ['audio_truncated'], 25]);
    const short = enc.prepare(lcgSamples(399, 1), 16000, 15);
    assert.ok(isQuarantine(short) && /^audio_too_short: 399 samples.*\(25 ms\)/.test(short.quarantine));
  });
});

describe('audio runner batches by the family’s rule', () => {
  const rows = [16000, 7013, 8000, 8000, 600000, 700000].map((samples, i): SegmentRow => ({
    utteranceId: `dia1_utt${i}`,
    dataset: 'meld',
    status: 'ok',
    reason: null,
    audioKey: `audio/u${i}.wav`,
    sampleRate: 16000,
    samples,
    framesKey: null,
    frameCount: null,
    frameHeight: null,
    frameWidth: null,
    startSec: null,
    endSec: null,
    flags: [],
  }));
  const runner = async (folder: string, maxSeconds: number) =>
    openRunner({
      modality: 'audio',
      folder: await readModelFolder('audio', modelDir(folder)),
      runtime,
      store: new LocalStore(join(tmp, 'store')),
      text: TextEncoderParamsSchema.parse({}),
      audio: AudioEncoderParamsSchema.parse({ batchSize: 3, maxSeconds }),
      visual: VisualEncoderParamsSchema.parse({}),
    });
  const ids = (batches: SegmentRow[][]) => batches.map((b) => b.map((r) => r.utteranceId.slice(-1)).join(''));

  test('padded families sort by length, the others group equal lengths; Whisper caps at its window', async () => {
    assert.deepEqual(ids((await runner('tiny-hubert', 15)).plan(rows)), ['123', '045']);
    assert.deepEqual(ids((await runner('tiny-wavlm', 15)).plan(rows)), ['1', '23', '0', '45']);
    assert.deepEqual(ids((await runner('tiny-data2vec-audio', 60)).plan(rows)), ['1', '23', '0', '4', '5']);
    assert.deepEqual(ids((await runner('tiny-whisper', 60)).plan(rows)), ['123', '045']);
  });

  test('a padded batch through the runner stores what each utterance gives alone', async () => {
    const store = new LocalStore(join(tmp, 'store'));
    const some = rows.slice(0, 3);
    for (const [i, r] of some.entries()) await store.put(r.audioKey!, wavBytes(lcgSamples(r.samples!, i + 1)));
    const run = await runner('tiny-hubert', 15);
    const [batch] = run.plan(some);
    assert.equal(batch.length, 3);
    const out = await run.run(batch);
    const enc = await open('tiny-hubert');
    for (const [j, r] of batch.entries()) {
      const i = some.indexOf(r);
      const [alone] = await enc.encode([prepared(enc, { samples: r.samples!, seed: i + 1 })]);
      assert.equal(out[j].status, 'ok');
      assert.ok(maxAbsDiff(out[j].pooled!, alone.pooled) <= 1e-5, r.utteranceId);
      assert.equal(out[j].seqSteps, alone.steps);
      assert.ok(maxAbsDiff(decodeFloat16(out[j].sequence!), alone.sequence) <= 2e-3, 'float16 sequence');
    }
  });
});

describe('graphs and configs that do not fit the family are refused by name', () => {
  async function variant(from: string, name: string, edit: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(tmp, name);
    await cp(modelDir(from), dir, { recursive: true });
    await edit(dir);
    return dir;
  }
  const refuses = async (dir: string, message: RegExp) =>
    assert.rejects(openAudioEncoder(await readModelFolder('audio', dir), runtime), (err: unknown) => {
      assert.ok(err instanceof MerError && err.type === 'MerModelMismatch', String(err));
      assert.match(err.message, message);
      return true;
    });
  const json = async (path: string, patch: Record<string, unknown>) =>
    writeFile(path, JSON.stringify({ ...(JSON.parse(await readFile(path, 'utf8')) as object), ...patch }));

  test('inputs, mel bins and preprocessor fields', async () => {
    // a raw-waveform graph in a Whisper folder, and a Whisper graph in a HuBERT folder
    const hubertGraph = await variant('tiny-whisper', 'whisper-with-hubert-graph', (d) =>
      cp(modelDir('tiny-hubert/onnx/model.onnx'), join(d, 'onnx/model.onnx')),
    );
    await refuses(hubertGraph, /has no input named input_features/);
    const whisperGraph = await variant('tiny-hubert', 'hubert-with-whisper-graph', (d) =>
      cp(modelDir('tiny-whisper/onnx/model.onnx'), join(d, 'onnx/model.onnx')),
    );
    await refuses(whisperGraph, /has no input named input_values/);
    // a model whose feature extractor returns a mask, exported without the mask input
    const noMask = await variant('tiny-hubert', 'hubert-without-mask-input', (d) =>
      cp(modelDir('tiny-wav2vec2/onnx/model.onnx'), join(d, 'onnx/model.onnx')),
    );
    await refuses(noMask, /has no input named attention_mask/);
    // 128-bin graph behind an 80-bin config
    const bins = await variant('tiny-whisper', 'whisper-128-graph', (d) =>
      cp(modelDir('tiny-whisper-128/onnx/model.onnx'), join(d, 'onnx/model.onnx')),
    );
    await refuses(bins, /input input_features has dimension 1 = 128, expected 80/);
    const fs = await variant('tiny-whisper', 'whisper-feature-size', (d) =>
      json(join(d, 'preprocessor_config.json'), { feature_size: 128 }),
    );
    await refuses(fs, /feature_size 128 differs from config\.json num_mel_bins 80/);
    const dither = await variant('tiny-whisper', 'whisper-dither', (d) =>
      json(join(d, 'preprocessor_config.json'), { dither: 0.0001 }),
    );
    await refuses(dither, /preprocessor_config\.json: field dither: must be 0/);
    const rate = await variant('tiny-wavlm', 'wavlm-8k', (d) =>
      json(join(d, 'preprocessor_config.json'), { sampling_rate: 8000 }),
    );
    await refuses(rate, /preprocessor_config\.json: field sampling_rate: is 8000; segments are 16 kHz/);
  });
});
