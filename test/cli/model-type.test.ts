/**
 * Config-time refusal of encoder folders (issue 17): a folder on the launching machine whose
 * config.json names a model_type the extract stage does not support for its modality is refused as
 * MerConfigInvalid with the file and the supported list, by the library and by `mer run` before any
 * Temporal server is dialled; a folder that is not here stays a worker path.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MerError } from '../../activities/common/errors.ts';
import { buildRunConfig, toPipelineInput } from '../../cli/config.ts';
import { checkEncoderFolder } from '../../cli/model-type.ts';
import { supportedModelTypes } from '../../schemas/encoder-families.ts';
import { TINY } from '../extract/inputs.ts';
import { runMer } from '../helpers/cli.ts';

let dir: string;
let archive: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-model-type-'));
  archive = join(dir, 'MELD.Raw.tar.gz');
  await writeFile(archive, '');
});
after(() => rm(dir, { recursive: true, force: true }));

async function folder(name: string, config: string | null): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  if (config !== null) await writeFile(join(d, 'config.json'), config);
  return d;
}

function refusal(fn: () => unknown): MerError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MerError, `expected a MerError, got ${String(err)}`);
    assert.equal(err.type, 'MerConfigInvalid');
    return err;
  }
  assert.fail('expected a refusal');
}

describe('encoder folders at config time', () => {
  test('the tiny fixtures pass with their model_type; a folder not on this machine is a worker path', () => {
    assert.deepEqual(checkEncoderFolder('text', TINY.text, 'x')?.modelType, 'bert');
    assert.deepEqual(checkEncoderFolder('audio', TINY.audio, 'x')?.modelType, 'wav2vec2');
    assert.deepEqual(checkEncoderFolder('visual', TINY.visual, 'x')?.modelType, 'swin');
    assert.equal(checkEncoderFolder('text', join(dir, 'on-the-gpu-workers'), 'x'), null);
  });

  test('an unknown model_type names the file and lists the supported ones', async () => {
    const d = await folder('gpt2', JSON.stringify({ model_type: 'gpt2', hidden_size: 8 }));
    const err = refusal(() => checkEncoderFolder('text', d, 'extract.text.model'));
    assert.match(err.message, new RegExp(`^extract\\.text\\.model: ${join(d, 'config.json')}: model_type 'gpt2'`));
    assert.match(err.message, new RegExp(`supported text model types: ${supportedModelTypes('text').join(', ')}$`));
  });

  test('an encoder of another modality is named as such', () => {
    const err = refusal(() => checkEncoderFolder('text', TINY.audio, 'extract.text.model'));
    assert.match(err.message, /model_type 'wav2vec2' is an audio encoder \(wav2vec2\), not a text one/);
    const v = refusal(() => checkEncoderFolder('audio', TINY.visual, 'extract.audio.model'));
    assert.match(
      v.message,
      /model_type 'swin' is a visual encoder \(Swin\), not an audio one; supported audio model types: wav2vec2, /,
    );
  });

  test('a folder without config.json, with broken JSON or without model_type is refused with the file', async () => {
    const none = await folder('empty', null);
    assert.match(
      refusal(() => checkEncoderFolder('audio', none, 'a')).message,
      /config\.json cannot be read \(ENOENT\)/,
    );
    const broken = await folder('broken', '{"model_type": ');
    assert.match(refusal(() => checkEncoderFolder('audio', broken, 'a')).message, /config\.json is not valid JSON/);
    const untyped = await folder('untyped', '{"hidden_size": 8}');
    assert.match(
      refusal(() => checkEncoderFolder('audio', untyped, 'a')).message,
      /config\.json has no model_type; supported: text: bert, /,
    );
  });

  test('toPipelineInput refuses a wrong local folder only when the run reaches extract', async () => {
    const models = join(dir, 'models-cfg');
    await folder('models-cfg/audio', JSON.stringify({ model_type: 'bert' }));
    const { config } = buildRunConfig(undefined, { meld: archive, until: 'extract', models });
    assert.match(
      refusal(() => toPipelineInput(config, dir, false)).message,
      /^extract\.audio\.model: .*model_type 'bert' is a text encoder/,
    );
    const seg = buildRunConfig(undefined, { meld: archive, until: 'segment', models }).config;
    assert.equal(toPipelineInput(seg, dir, false).extract, undefined);
  });

  test('`mer run` prints MerConfigInvalid before any Temporal server is dialled', async () => {
    const models = join(dir, 'models-run');
    const d = await folder('models-run/visual', JSON.stringify({ model_type: 'resnet' }));
    const r = await runMer(
      ['run', '--until', 'extract', '--meld', archive, '--store', join(dir, 'store'), '--models', models],
      {
        env: { TEMPORAL_ADDRESS: '127.0.0.1:9' },
        timeoutMs: 30_000,
      },
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^mer: MerConfigInvalid: extract\\.visual\\.model: ${join(d, 'config.json')}: model_type 'resnet' is not an encoder family the extract stage supports; supported visual model types: ${supportedModelTypes('visual').join(', ')}$`,
        'm',
      ),
    );
  });
});
