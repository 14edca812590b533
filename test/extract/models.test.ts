/**
 * Model folders: named, non-retryable errors for missing, corrupt and mismatched models; the
 * fingerprint that keys the cache; sessions created once per process; CUDA falling back to CPU
 * with a warning.
 */
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { MerError, toFailure } from '../../activities/common/errors.ts';
import { openAudioEncoder } from '../../activities/extract/audio-encoder.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { encoderSession, releaseEncoderSessions, sessionsCreated } from '../../activities/extract/sessions.ts';
import { TransformerTextEncoder } from '../../activities/extract/text-encoder.ts';
import { VisualEncoder } from '../../activities/extract/visual-encoder.ts';
import { TINY } from './inputs.ts';

const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mer-extract-models-'));
});
after(async () => {
  await releaseEncoderSessions();
  await rm(tmp, { recursive: true, force: true });
});

async function copyModel(from: string, name: string): Promise<string> {
  const dir = join(tmp, name);
  await cp(from, dir, { recursive: true });
  return dir;
}

function isMer(type: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MerError, `expected a MerError, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    if (message) assert.match(err.message, message);
    // at the activity edge it becomes a non-retryable failure carrying the same type
    const f = toFailure(err);
    assert.ok(f instanceof ApplicationFailure && f.nonRetryable && f.type === type);
    return true;
  };
}

describe('bad model folders', () => {
  test('a missing folder or file is MerModelMissing naming what is absent', async () => {
    await assert.rejects(
      readModelFolder('text', join(tmp, 'nowhere')),
      isMer('MerModelMissing', /lacks config\.json, tokenizer\.json, onnx\/model\.onnx/),
    );
    const dir = await copyModel(TINY.audio, 'no-onnx');
    await rm(join(dir, 'onnx/model.onnx'));
    await assert.rejects(readModelFolder('audio', dir), isMer('MerModelMissing', /lacks onnx\/model\.onnx.*README/));
  });

  test('a truncated ONNX file or unparsable config is MerModelCorrupt', async () => {
    const dir = await copyModel(TINY.text, 'truncated');
    await truncate(join(dir, 'onnx/model.onnx'), 5000);
    await assert.rejects(
      TransformerTextEncoder.open(await readModelFolder('text', dir), runtime),
      isMer('MerModelCorrupt', /onnxruntime cannot load/),
    );
    const dir2 = await copyModel(TINY.visual, 'badjson');
    await writeFile(join(dir2, 'config.json'), '{"model_type": "swin",');
    await assert.rejects(readModelFolder('visual', dir2), isMer('MerModelCorrupt', /config\.json: not valid JSON/));
  });

  test('a model of another architecture or with other inputs/outputs/dims is MerModelMismatch', async () => {
    await assert.rejects(
      readModelFolder('audio', TINY.visual),
      isMer('MerModelMismatch', /model_type 'swin' is not an encoder this stage supports for audio/),
    );

    // a Swin graph in a folder whose config claims BERT: caught from the graph's declared inputs
    const swinAsBert = await copyModel(TINY.text, 'swin-as-bert');
    await cp(join(TINY.visual, 'onnx/model.onnx'), join(swinAsBert, 'onnx/model.onnx'));
    await assert.rejects(
      TransformerTextEncoder.open(await readModelFolder('text', swinAsBert), runtime),
      isMer('MerModelMismatch', /has no input named input_ids/),
    );

    // hidden size in config.json disagreeing with the graph's output
    const wide = await copyModel(TINY.audio, 'wide');
    const cfg = JSON.parse(await readFile(join(wide, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(wide, 'config.json'), JSON.stringify({ ...cfg, hidden_size: 48 }));
    await assert.rejects(
      openAudioEncoder(await readModelFolder('audio', wide), runtime),
      isMer('MerModelMismatch', /output last_hidden_state has dimension 2 = 32, expected 48/),
    );

    // a Swin whose last stage would not be a 7x7 grid at 224 (patch 8 -> 49 is wrong)
    const patch8 = await copyModel(TINY.visual, 'patch8');
    const scfg = JSON.parse(await readFile(join(patch8, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(patch8, 'config.json'), JSON.stringify({ ...scfg, patch_size: 8 }));
    await assert.rejects(
      VisualEncoder.open(await readModelFolder('visual', patch8), runtime),
      isMer('MerModelMismatch', /last_hidden_state has dimension 1 = 49, expected 9|do not tile into 64-pixel tokens/),
    );

    // an image processor that resizes to another size than the Swin's fixed position embeddings
    const big = await copyModel(TINY.visual, 'resize384');
    await writeFile(
      join(big, 'preprocessor_config.json'),
      JSON.stringify({ do_resize: true, size: { height: 384, width: 384 } }),
    );
    await assert.rejects(
      VisualEncoder.open(await readModelFolder('visual', big), runtime),
      isMer('MerModelMismatch', /image_size 224, but preprocessor_config.json gives 384x384 inputs/),
    );
  });
});

describe('fingerprints and sessions', () => {
  test('the fingerprint covers the model files and changes when one changes', async () => {
    const a = await readModelFolder('audio', TINY.audio);
    const dir = await copyModel(TINY.audio, 'fingerprint');
    const b = await readModelFolder('audio', dir);
    assert.equal(b.sha256, a.sha256, 'same content, other folder: same fingerprint');
    assert.deepEqual(
      b.files.map((f) => f.path),
      ['config.json', 'preprocessor_config.json', 'onnx/model.onnx'],
    );
    await appendFile(join(dir, 'onnx/model.onnx'), Buffer.from([0]));
    const c = await readModelFolder('audio', dir);
    assert.notEqual(c.sha256, a.sha256);
    await writeFile(join(dir, 'onnx/model.onnx.data'), 'external weights');
    const d = await readModelFolder('audio', dir);
    assert.ok(
      d.files.some((f) => f.path === 'onnx/model.onnx.data'),
      'external data files are fingerprinted',
    );
    assert.notEqual(d.sha256, c.sha256);
  });

  test('sessions are created once per model and provider, and shared by every encoder opened on it', async () => {
    const folder = await readModelFolder('audio', TINY.audio);
    const before = sessionsCreated();
    const e1 = await openAudioEncoder(folder, runtime);
    const e2 = await openAudioEncoder(
      await readModelFolder('audio', await copyModel(TINY.audio, 'same-content')),
      runtime,
    );
    assert.ok(e1 && e2);
    const s1 = await encoderSession(folder, runtime, { cpuMemArena: false });
    assert.equal(sessionsCreated() - before, 1);
    const s2 = await encoderSession(folder, { ...runtime }, { cpuMemArena: false });
    assert.equal(s1.session, s2.session);
    assert.equal(sessionsCreated() - before, 1);
    const other = await encoderSession(folder, { ...runtime, threads: 2 }, { cpuMemArena: false });
    assert.notEqual(other.session, s1.session, 'other session options, other session');
  });

  test("'cuda' without CUDA libraries falls back to the CPU with one warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const folder = await readModelFolder('visual', TINY.visual);
      const s = await encoderSession(folder, { ...runtime, device: 'cuda' });
      await new Promise((r) => setImmediate(r));
      if (s.device === 'cpu') {
        assert.equal(warnings.length, 1);
        assert.equal((warnings[0] as Error & { code?: string }).code, 'MER_CUDA_FALLBACK');
        assert.match(
          warnings[0].message,
          /CUDA execution provider could not start.*running the visual encoder on the CPU.*ONNXRUNTIME_NODE_INSTALL=cuda12/,
        );
      }
      const enc = await VisualEncoder.open(folder, { ...runtime, device: 'cuda' });
      assert.equal(enc.tokens, 49);
      assert.equal(warnings.length, s.device === 'cpu' ? 1 : 0, 'the fallback session is reused, not retried');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
