/**
 * `mer predict` on real clips, real ffmpeg and real onnxruntime: a synthetic MELD corpus is acquired
 * and run through the pipeline's own segment, extract and compress step functions (tiny encoders);
 * a small fusion model is trained for one epoch and exported with a recipe naming those encoders.
 * The features predict prepares for the clips must be the pipeline's, and what the CLI prints must
 * be the exported graph's probabilities on them.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MELD_EMOTIONS } from '../../activities/acquire/labels.ts';
import { localStepContext } from '../../activities/common/context.ts';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { planCompressStep } from '../../activities/compress/plan.ts';
import { compressShardStep } from '../../activities/compress/shard.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { planExtractStep } from '../../activities/extract/plan.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { extractShardStep } from '../../activities/extract/shard.ts';
import {
  ModelConfigSchema,
  defaultLossConfig,
  defaultOptimizerConfig,
  type ModelConfig,
} from '../../activities/model/config.ts';
import type { FeatureSet, UnlabelledFeatureSet } from '../../activities/model/data.ts';
import { predict } from '../../activities/model/predict.ts';
import { Rng } from '../../activities/model/rng.ts';
import { train } from '../../activities/model/trainer.ts';
import { featureSet } from '../../activities/predict/features.ts';
import { prepareClips } from '../../activities/predict/index.ts';
import { finalizeSegmentStep } from '../../activities/segment/finalize.ts';
import { planSegmentStep, readManifestRows } from '../../activities/segment/plan.ts';
import { segmentShardStep } from '../../activities/segment/shard.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import { loadFeatureSets } from '../../activities/train/dataset.ts';
import { acquireDirect } from '../../cli/direct.ts';
import { synthesize } from '../../cli/synth/index.ts';
import { vscParams } from '../../schemas/compress.ts';
import { AcquireParamsSchema, SegmentParamsSchema } from '../../schemas/config.ts';
import { ExtractParamsSchema, type Modality } from '../../schemas/extract.ts';
import { featureShardKey, modelKeys, segmentKeys } from '../../schemas/layout.ts';
import { rowsToArrowTable, type ManifestRow } from '../../schemas/manifest.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import type { InferenceRecipe } from '../../schemas/train.ts';
import { TINY } from '../extract/inputs.ts';
import { runMer } from '../helpers/cli.ts';

const CLASSES = [...MELD_EMOTIONS];
const TRAIN_KEY = 'predict-test-0123456789abcdef';
const CLIPS = 3;

let dir: string;
let storeRoot: string;
let store: StoreSpec;
let clipsDir: string;
let modelFile: string;
let onnx: Uint8Array;
let model: ModelConfig;
/** The clips (file names, sorted) and their manifest rows. */
let clips: Array<{ name: string; row: ManifestRow }>;
/** The pipeline's features of the clips, in `clips` order. */
let pipeline: FeatureSet;

const segment = SegmentParamsSchema.parse({ frames: 15 });
const extract = ExtractParamsSchema.parse({
  text: { model: TINY.text },
  audio: { model: TINY.audio },
  visual: { model: TINY.visual },
});
const vsc = vscParams({ guidance: 'fixed', guidanceSeed: 11, maxFrames: 8, topK: 12 });

/** The pipeline's step functions on a manifest of the chosen rows: segment, extract (3 modalities), compress. */
async function pipelineFeatures(rows: ManifestRow[]): Promise<FeatureSet> {
  const s = createStore(store);
  const manifestKey = 'datasets/meld/predict-test/manifest.parquet';
  await s.put(manifestKey, tableToParquet(rowsToArrowTable(rows)));
  const ctx = localStepContext();
  const plan = await planSegmentStep({ store, dataset: 'meld', manifestKey, params: segment });
  assert.equal(plan.shards.length, 1);
  const stats = await segmentShardStep(
    {
      store,
      dataset: 'meld',
      manifestKey,
      prefix: plan.prefix,
      ffmpegVersion: plan.ffmpegVersion,
      params: segment,
      shard: plan.shards[0],
    },
    ctx,
  );
  assert.equal(stats.ok, rows.length, 'every chosen clip segments');
  await finalizeSegmentStep({
    store,
    dataset: 'meld',
    manifestKey,
    segKey: plan.segKey,
    prefix: plan.prefix,
    ffmpegVersion: plan.ffmpegVersion,
    params: segment,
    shardCount: 1,
    startedAt: new Date().toISOString(),
  });
  const shardKey = segmentKeys(plan.prefix).shard(0);
  const features = {} as Record<Modality, { prefix: string; shardKeys: string[] }>;
  for (const modality of ['text', 'audio', 'visual'] as const) {
    const base = { store, modality, segmentPrefix: plan.prefix, manifestKey, params: extract };
    const p = await planExtractStep({ ...base, shardKeys: [shardKey] });
    const r = await extractShardStep(
      { ...base, shardKey, featuresPrefix: p.featuresPrefix, modelSha256: p.modelSha256 },
      ctx,
      { device: 'cpu', deviceId: 0, threads: 1, graphOptimization: 'all' },
    );
    assert.equal(r.ok, rows.length, `every clip has ${modality} features`);
    features[modality] = { prefix: p.featuresPrefix, shardKeys: [featureShardKey(p.featuresPrefix, shardKey)] };
  }
  const cplan = await planCompressStep({ store, params: vsc, ...features });
  for (const task of cplan.pending) await compressShardStep({ store, params: vsc, vscKey: cplan.vscKey, ...task }, ctx);
  const loaded = await loadFeatureSets(
    s,
    {
      text: features.text.shardKeys.map((key) => ({ key })),
      audio: features.audio.shardKeys.map((key) => ({ key })),
      visual: cplan.shardKeys.map((key) => ({ key })),
    },
    { clips: { utteranceIds: rows.map((r) => r.utteranceId), labels: rows.map(() => 0) } },
  );
  return loaded.sets.clips;
}

/** One short epoch on random features of the tiny encoders' sizes: a real exported model, made in seconds. */
async function trainModel(recipe: InferenceRecipe): Promise<Uint8Array> {
  model = ModelConfigSchema.parse({
    preset: 'custom',
    modalities: ['t', 'a', 'v'],
    inputs: { text: 32, audio: 32, visual: 64, frames: vsc.maxFrames },
    numClasses: CLASSES.length,
    summary: 'guided',
    tcn: { channels: 8, kernel: 3, dilations: [1, 2] },
    earlyFusion: { hidden: 12, out: 8 },
    headDim: 8,
    classifierHidden: [12],
    dropout: { heads: 0.1, other: 0.1 },
    leakySlope: 0.01,
    batchNorm: { eps: 1e-5, momentum: 0.1 },
    layerNormEps: 1e-5,
  });
  const rng = new Rng(5);
  const n = 16;
  const f = model.inputs.frames;
  const random = (len: number) => Float32Array.from({ length: len }, () => 2 * rng.uniform() - 1);
  const vLengths = Int32Array.from({ length: n }, (_, i) => 1 + (i % f));
  const v = random(n * f * 64);
  for (let i = 0; i < n; i++) v.fill(0, (i * f + vLengths[i]) * 64, (i + 1) * f * 64);
  const data: FeatureSet = {
    n,
    t: random(n * 32),
    a: random(n * 32),
    v,
    vLengths,
    labels: Int32Array.from({ length: n }, (_, i) => i % CLASSES.length),
  };
  const result = await train(
    { train: data },
    {
      model,
      loss: defaultLossConfig(),
      optimizer: { ...defaultOptimizerConfig('meld'), lr: 1e-2 },
      batchSize: 8,
      maxEpochs: 1,
      patience: 1,
      seed: 3,
      checkpointEverySteps: 0,
    },
    { runtime: { threads: 1 } },
  );
  return result.exportInference({
    classes: CLASSES.join(','),
    dataset: 'meld',
    fold: 'official',
    variant: 'T+A+V',
    trainKey: TRAIN_KEY,
    mer_inference: JSON.stringify(recipe),
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-predict-'));
  storeRoot = join(dir, 'store');
  store = { kind: 'local', root: storeRoot };
  // the archive, as users download it: acquire unpacks the per-split clip archives inside it
  const synth = await synthesize({ dataset: 'meld', out: join(dir, 'corpus'), seed: 2, scale: 'tiny', archive: true });
  const acquired = await acquireDirect({
    store,
    plan: { dataset: 'meld', source: { kind: 'archive', path: synth.archive! }, labels: 'meld7' },
    acquire: AcquireParamsSchema.parse({}),
  });
  const rows = await readManifestRows(createStore(store), acquired.result.manifestKey);
  // ordinary clips: present, decodable, not overlong, more than two frames, a positive CSV duration
  const normal = new Set(
    synth.truth.utterances
      .filter((u) => u.split === 'train' && !Object.values(u.flags).some(Boolean) && u.text.trim() !== '')
      .map((u) => `meld_${u.split}_dia${u.dialogueId}_utt${u.utteranceId}`),
  );
  const chosen = rows.filter((r) => normal.has(r.utteranceId) && r.videoKey && r.flags.length === 0).slice(0, CLIPS);
  assert.equal(chosen.length, CLIPS);
  clipsDir = join(dir, 'clips');
  await mkdir(clipsDir);
  clips = chosen.map((row) => ({ name: `${row.utteranceId}.mp4`, row })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const c of clips) {
    await cp(join(storeRoot, ...c.row.videoKey!.split('/')), join(clipsDir, c.name));
    await writeFile(join(clipsDir, `${c.row.utteranceId}.txt`), `${c.row.text}\n`);
  }

  const fingerprints = await Promise.all(
    (['text', 'audio', 'visual'] as const).map(async (m) => (await readModelFolder(m, TINY[m])).sha256),
  );
  const recipe: InferenceRecipe = {
    dataset: 'meld',
    labelSet: 'meld7',
    segment: { ...segment },
    extract: { ...extract },
    vsc: { ...vsc },
    encoders: { text: fingerprints[0], audio: fingerprints[1], visual: fingerprints[2] },
  };
  const [features, bytes] = await Promise.all([pipelineFeatures(clips.map((c) => c.row)), trainModel(recipe)]);
  pipeline = features;
  onnx = bytes;
  modelFile = join(dir, 'model.onnx');
  await writeFile(modelFile, onnx);
  await createStore(store).put(modelKeys(TRAIN_KEY).onnx, onnx);
});

after(async () => {
  await releaseEncoderSessions();
  await closeStores();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Largest |a - b| relative to max(1, |b|). */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

// float16 keeps 11 significant bits: 2^-11 relative; the sequences went through it once.
const F16_TOL = 2 ** -10;

interface JsonRow {
  clip: string;
  predicted: string;
  probabilities: Record<string, number>;
}

describe('mer predict', () => {
  test('prepares exactly the features the pipeline steps store for the same clips', async () => {
    const prepared = await prepareClips({
      model: onnx,
      modelName: modelFile,
      input: clipsDir,
      runtime: { threads: 1 },
    });
    assert.deepEqual(
      prepared.clips.map((c) => [c.clip, c.error]),
      clips.map((c) => [c.name, null]),
    );
    const mine: UnlabelledFeatureSet = featureSet(
      prepared.clips.map((c) => c.features!),
      model,
    );
    assert.deepEqual([...mine.vLengths!], [...pipeline.vLengths!], 'VSC keeps the same number of frames');
    assert.ok(mine.vLengths!.every((l) => l > 0));
    for (const k of ['t', 'a', 'v'] as const) {
      const d = maxRelDiff(mine[k]!, pipeline[k]!);
      assert.ok(d <= F16_TOL, `${k}: predict's features differ from the pipeline's by ${d}`);
    }
  });

  test("--json for a folder prints the exported graph's probabilities on the pipeline features, one entry per clip", async () => {
    const expected = await predict(onnx, pipeline, { threads: 1 });
    const r = await runMer([
      'predict',
      '--model',
      TRAIN_KEY.slice(0, 12),
      '--store',
      storeRoot,
      '--input',
      clipsDir,
      '--json',
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as JsonRow[];
    assert.deepEqual(
      out.map((o) => o.clip),
      clips.map((c) => c.name),
    );
    out.forEach((o, i) => {
      assert.deepEqual(Object.keys(o.probabilities), CLASSES);
      const sum = Object.values(o.probabilities).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `${o.clip}: probabilities sum to ${sum}`);
      CLASSES.forEach((c, j) => {
        const want = expected.probabilities[i * CLASSES.length + j];
        assert.ok(
          Math.abs(o.probabilities[c] - want) < 1e-4,
          `${o.clip} ${c}: ${o.probabilities[c]} vs predict() on the pipeline features ${want}`,
        );
      });
      assert.equal(o.predicted, CLASSES[expected.predicted[i]]);
    });
  });

  test('a single clip with --text and a model file prints a table', async () => {
    const c = clips[0];
    const single = join(dir, 'single');
    await mkdir(single);
    // no sidecar here: the transcript comes from --text
    await cp(join(clipsDir, c.name), join(single, c.name));
    const r = await runMer([
      'predict',
      '--model',
      modelFile,
      '--input',
      join(single, c.name),
      '--text',
      c.row.text,
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    // a flags column follows when a clip has flags (a short clip repeats frames: frames_repeated)
    assert.deepEqual(lines[0].split(/\s+/).slice(0, 2 + CLASSES.length), ['clip', 'predicted', ...CLASSES]);
    const cells = lines[1].split(/\s+/);
    assert.equal(cells[0], c.name);
    const probs = cells.slice(2, 2 + CLASSES.length).map(Number);
    const expected = await predict(onnx, pipeline, { threads: 1 });
    probs.forEach((p, j) => assert.ok(Math.abs(p - expected.probabilities[j]) <= 0.0006, `${CLASSES[j]}: ${p}`));
    assert.equal(cells[1], CLASSES[expected.predicted[0]]);
  });

  test('refuses a clip without a transcript and an encoder that is not the trained one, naming them', async () => {
    const noText = join(dir, 'no-text');
    await mkdir(noText);
    for (const c of clips) await cp(join(clipsDir, c.name), join(noText, c.name));
    await cp(join(clipsDir, `${clips[0].row.utteranceId}.txt`), join(noText, `${clips[0].row.utteranceId}.txt`));

    // a copy of the encoders whose visual config differs by one harmless key
    const encoders = join(dir, 'encoders');
    for (const m of ['text', 'audio', 'visual'] as const) await cp(TINY[m], join(encoders, m), { recursive: true });
    const cfgPath = join(encoders, 'visual', 'config.json');
    await writeFile(
      cfgPath,
      JSON.stringify({ ...JSON.parse(await readFile(cfgPath, 'utf8')), torch_dtype: 'float32' }, null, 2),
    );
    const [want, got] = await Promise.all([
      readModelFolder('visual', TINY.visual),
      readModelFolder('visual', join(encoders, 'visual')),
    ]);

    const [missing, mismatch] = await Promise.all([
      runMer(['predict', '--model', modelFile, '--input', noText, '--json']),
      runMer(['predict', '--model', modelFile, '--input', clipsDir, '--models', encoders, '--json']),
    ]);
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stdout, '');
    assert.ok(
      missing.stderr.includes(`no transcript for ${join(noText, clips[1].name)}, ${join(noText, clips[2].name)}`),
      missing.stderr,
    );
    assert.ok(!missing.stderr.includes(clips[0].name), missing.stderr);

    assert.notEqual(mismatch.code, 0);
    assert.equal(mismatch.stdout, '');
    assert.match(mismatch.stderr, /visual encoder folder/);
    assert.ok(mismatch.stderr.includes(join(encoders, 'visual')), mismatch.stderr);
    assert.ok(mismatch.stderr.includes(got.sha256) && mismatch.stderr.includes(want.sha256), mismatch.stderr);
    assert.doesNotMatch(mismatch.stderr, /text encoder folder|audio encoder folder/);
  });
});
