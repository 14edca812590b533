/**
 * `mer encode` against the extract stage itself: the same utterances stored as a segment output and
 * run through planExtractStep + extractShardStep, and given to `mer encode` as files (a WAV, a PNG of
 * the same pixels) and text: the pooled vectors must be the stored ones exactly, and the sequence
 * shapes those of the stored rows. Plus clips, quarantines and refusals.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { localStepContext } from '../../activities/common/context.ts';
import { MerError } from '../../activities/common/errors.ts';
import { ffmpegPath } from '../../activities/common/ffmpeg.ts';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { planExtractStep } from '../../activities/extract/plan.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { extractShardStep } from '../../activities/extract/shard.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import { encodeOne, renderEncode, type EncodeResult } from '../../cli/encode.ts';
import { ConfigError } from '../../cli/config.ts';
import { ExtractParamsSchema, type Modality } from '../../schemas/extract.ts';
import { tableToFeatureRows, type FeatureRow } from '../../schemas/features.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { expected, framesRgb, lcgSamples, maxAbsDiff, MODELS, TINY, wavBytes } from '../extract/inputs.ts';
import { buildSegments, type BuiltSegments, type UtteranceSpec } from '../extract/segment-fixture.ts';
import { runMer } from '../helpers/cli.ts';

const exec = promisify(execFile);
const plain = expected.text.find((c) => c.name === 'plain')!;
const audioCase = expected.audio.cases[0];

const UTTERANCES: UtteranceSpec[] = [
  {
    id: 'dia1_utt0',
    dialogue: '1',
    index: 0,
    text: plain.text,
    audio: { samples: audioCase.samples, seed: audioCase.seed },
    frames: { count: 1, seed: 2 },
  },
  { id: 'dia1_utt1', dialogue: '1', index: 1, text: 'Fine. Where were you?', audio: null, frames: null },
];

let dir: string;
let seg: BuiltSegments;
const stored = new Map<Modality, Map<string, FeatureRow>>();
const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
// the text run reads one utterance of dialogue context, as `mer encode --context` gives one
const params = ExtractParamsSchema.parse({
  text: { model: TINY.text, contextUtterances: 1 },
  audio: { model: TINY.audio },
  visual: { model: TINY.visual },
});

/** The extract stage's stored rows for one modality of the fixture segment output. */
async function extractRows(modality: Modality, model?: string): Promise<Map<string, FeatureRow>> {
  const spec = { kind: 'local' as const, root: join(dir, 'store') };
  const base = {
    store: spec,
    modality,
    segmentPrefix: seg.segmentPrefix,
    manifestKey: seg.manifestKey,
    params: model ? { ...params, [modality]: { ...params[modality], model } } : params,
  };
  const plan = await planExtractStep({ ...base, shardKeys: seg.shardKeys });
  const r = await extractShardStep(
    { ...base, shardKey: seg.shardKeys[0], featuresPrefix: plan.featuresPrefix, modelSha256: plan.modelSha256 },
    localStepContext(),
    runtime,
  );
  const rows = tableToFeatureRows(parquetToTable(await createStore(spec).get(r.key)));
  return new Map(rows.map((x) => [x.utteranceId, x]));
}

function sameAsStored(r: EncodeResult, row: FeatureRow | undefined): void {
  assert.ok(row && row.status === 'ok', 'the extract stage stored an ok row');
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.sequenceShape, [row.seqSteps, row.seqTokens, row.seqDim]);
  // bit for bit: JSON numbers of float32 values read back into float32
  assert.deepEqual(Float32Array.from(r.pooled!), row.pooled);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-encode-'));
  const store = createStore({ kind: 'local', root: join(dir, 'store') });
  seg = await buildSegments(store, 'seg-encode', UTTERANCES, 64);
  for (const m of ['text', 'audio', 'visual'] as const) stored.set(m, await extractRows(m));
  await writeFile(join(dir, 'utt0.wav'), wavBytes(lcgSamples(audioCase.samples, audioCase.seed)));
  // the same pixels as the stored frame, as a lossless picture
  const ffmpeg = await ffmpegPath();
  const raw = join(dir, 'utt0.rgb');
  await writeFile(raw, framesRgb(1, 2));
  const args = ['-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '224x224', '-i', raw];
  await exec(ffmpeg, [...args, join(dir, 'utt0.png')]);
  // a 1.2 s clip with a 16:9 picture and stereo 44.1 kHz audio
  await exec(ffmpeg, [
    ...['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=25'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=44100', '-ac', '2', '-t', '1.2'],
    ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', join(dir, 'clip.mp4')],
  ]);
});

after(async () => {
  await releaseEncoderSessions();
  await closeStores();
  await rm(dir, { recursive: true, force: true });
});

describe('mer encode', () => {
  test('--text --context --json (the CLI): token ids and the pooled vector the extract stage stored', async () => {
    const r = await runMer(
      ['encode', '--model', TINY.text, '--text', UTTERANCES[1].text, '--context', plain.text, '--json'],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as EncodeResult;
    assert.deepEqual([out.family, out.modelType, out.modality], ['BERT', 'bert', 'text']);
    sameAsStored(out, stored.get('text')!.get('dia1_utt1'));
    const ids = out.inputs.tokenIds as number[];
    assert.equal(ids.length, out.sequenceShape![0]);
    assert.equal(out.inputs.utteranceTokenStart, stored.get('text')!.get('dia1_utt1')!.utteranceTokenStart);
    // without context: PyTorch's ids and, within 1e-4, its pooled vector
    const alone = await encodeOne({ model: TINY.text, text: plain.text, threads: 1 });
    assert.deepEqual(alone.inputs.tokenIds, plain.ids);
    sameAsStored(alone, stored.get('text')!.get('dia1_utt0'));
    assert.ok(maxAbsDiff(alone.pooled!, plain.pooled) <= 1e-4);
  });

  test('--audio FILE.wav --json (the CLI): the stored audio row, and PyTorch within 1e-4', async () => {
    const r = await runMer(['encode', '--model', TINY.audio, '--audio', join(dir, 'utt0.wav'), '--json'], {
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as EncodeResult;
    assert.deepEqual([out.family, out.modelType], ['wav2vec2', 'wav2vec2']);
    assert.deepEqual(out.inputs.shape, [audioCase.samples]);
    sameAsStored(out, stored.get('audio')!.get('dia1_utt0'));
    assert.ok(maxAbsDiff(out.pooled!, audioCase.pooled) <= 1e-4);
  });

  test('RoBERTa, with dialogue context, gives the row the extract stage stores', async () => {
    const model = join(MODELS, 'tiny-roberta');
    const rows = await extractRows('text', model);
    const r = await encodeOne({ model, text: UTTERANCES[1].text, context: [plain.text], threads: 1 });
    assert.deepEqual([r.family, r.modelType], ['RoBERTa', 'roberta']);
    assert.equal((r.inputs.tokenIds as number[])[0], 0, 'RoBERTa starts with <s>');
    sameAsStored(r, rows.get('dia1_utt1'));
  });

  test('other speech families: WavLM and the Whisper encoder give the rows the extract stage stores', async () => {
    for (const name of ['tiny-wavlm', 'tiny-whisper']) {
      const model = join(MODELS, name);
      const rows = await extractRows('audio', model);
      const r = await encodeOne({ model, audio: join(dir, 'utt0.wav'), threads: 1 });
      assert.equal(r.modelType, name.slice('tiny-'.length));
      sameAsStored(r, rows.get('dia1_utt0'));
    }
  });

  test('--image: the picture scaled as segment frames are gives the stored visual row', async () => {
    const r = await encodeOne({ model: TINY.visual, image: join(dir, 'utt0.png'), threads: 1 });
    assert.deepEqual(r.inputs.shape, [1, 224, 224, 3]);
    sameAsStored(r, stored.get('visual')!.get('dia1_utt0'));
    const lines = renderEncode(r);
    assert.match(lines[1], /^family {4}Swin \(model_type swin, visual encoder\)$/);
    assert.ok(lines.some((l) => /^sequence {2}1 x 49 x 64 /.test(l)));
  });

  test('--clip: the segment stage sampled frames for a visual encoder, its 16 kHz mono audio for an audio one', async () => {
    const v = await encodeOne({ model: TINY.visual, clip: join(dir, 'clip.mp4'), threads: 1 });
    assert.deepEqual([v.status, v.inputs.frames, v.sequenceShape], ['ok', 15, [15, 49, 64]]);
    const a = await encodeOne({ model: TINY.audio, clip: join(dir, 'clip.mp4'), threads: 1 });
    assert.equal(a.status, 'ok');
    const samples = a.inputs.samples as number;
    assert.ok(Math.abs(samples - 1.2 * 16000) < 800, `${samples} samples for 1.2 s`);
    assert.equal(a.sequenceShape![2], 32);
  });

  test('--config: the segment and extract settings of a run config apply', async () => {
    const config = join(dir, 'mer.json');
    await writeFile(
      config,
      JSON.stringify({
        datasets: { meld: { source: 'https://example.org/MELD.Raw.tar.gz' } },
        segment: { frames: 3 },
        extract: { text: { maxTokens: 8 } },
      }),
    );
    const t = await encodeOne({ model: TINY.text, text: plain.text, config, threads: 1 });
    assert.equal((t.inputs.tokenIds as number[]).length, 8);
    assert.deepEqual([t.sequenceShape![0], t.flags], [8, ['text_truncated']]);
    const v = await encodeOne({ model: TINY.visual, clip: join(dir, 'clip.mp4'), config, threads: 1 });
    assert.deepEqual(v.sequenceShape, [3, 49, 64]);
  });

  test('what the extract stage quarantines is printed as quarantined', async () => {
    const short = join(dir, 'short.wav');
    await writeFile(short, wavBytes(lcgSamples(300, 5)));
    const r = await encodeOne({ model: TINY.audio, audio: short, threads: 1 });
    assert.deepEqual([r.status, r.sequenceShape, r.pooled], ['quarantined', null, null]);
    assert.match(renderEncode(r).at(-1)!, /^quarantined: audio_too_short: 300 samples/);
    const empty = await encodeOne({ model: TINY.text, text: '   ' });
    assert.deepEqual(
      [empty.status, empty.reason, empty.pooled],
      ['quarantined', 'empty_text: the utterance has no text', null],
    );
  });

  test('refusals: no or two inputs, an input the encoder does not take, a folder of no supported family', async () => {
    await assert.rejects(
      encodeOne({ model: TINY.text }),
      (e: Error) => e instanceof ConfigError && /exactly one input/.test(e.message),
    );
    await assert.rejects(
      encodeOne({ model: TINY.text, text: 'a', audio: 'b.wav' }),
      /exactly one input: .* \(got --text, --audio\)/,
    );
    await assert.rejects(
      encodeOne({ model: TINY.audio, image: join(dir, 'utt0.png') }),
      /--image: .*tiny-wav2vec2 is an audio encoder \(wav2vec2\); it takes --audio or --clip/,
    );
    await assert.rejects(encodeOne({ model: join(dir, 'nope'), text: 'a' }), /--model: .*nope does not exist/);
    const gpt = join(dir, 'gpt2');
    await exec('mkdir', [gpt]);
    await writeFile(join(gpt, 'config.json'), '{"model_type": "gpt2"}');
    await assert.rejects(
      encodeOne({ model: gpt, text: 'a' }),
      /model_type 'gpt2' is not an encoder family .*text: bert, /,
    );
    await assert.rejects(
      encodeOne({ model: TINY.visual, image: join(dir, 'utt0.wav') }),
      (e: Error) => e instanceof MerError && /--image: ffmpeg cannot read .*utt0\.wav as a picture/.test(e.message),
    );
  });
});
