import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { storedVscParams, vscKey } from '../../activities/compress/key.ts';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { buildRunConfig, parseConfigObject, toPipelineInput } from '../../cli/config.ts';
import { vscParams } from '../../schemas/compress.ts';

/** `compress.chunkUtterances`: a real setting that reaches the shard activities and changes no key. */

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-settings-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('compress.chunkUtterances', () => {
  test('is accepted, travels in the run input, and leaves the config hash and vscKey alone', () => {
    const { config, baseDir } = buildRunConfig(undefined, {
      meld: dir,
      until: 'compress',
      models: join(REPO_ROOT, 'test', 'fixtures', 'models'),
      store: join(dir, 'store'),
    });
    const plain = toPipelineInput(config, baseDir, false);
    const chunked = toPipelineInput(
      { ...config, compress: { ...config.compress, chunkUtterances: 8 } },
      baseDir,
      false,
    );
    assert.equal(chunked.compress?.settings[0].chunkUtterances, 8, 'the shard activities get it with their params');
    assert.equal(chunked.configHash, plain.configHash, 'same run: it changes no output');
    const inputs = { visual: 'features/visual/abc' };
    assert.equal(
      vscKey(chunked.compress?.settings[0] ?? {}, inputs),
      vscKey(plain.compress?.settings[0] ?? {}, inputs),
    );
    assert.deepEqual(storedVscParams(chunked.compress?.settings[0] ?? {}), plain.compress?.settings[0] ?? {});
    assert.equal(vscParams({}).chunkUtterances, undefined, 'absent unless set: stored documents keep their bytes');
  });

  test('must be a positive integer, with the field named', () => {
    assert.throws(
      () => parseConfigObject({ datasets: { meld: { source: dir } }, compress: { chunkUtterances: 0 } }, 'mer.yaml'),
      /compress\.chunkUtterances/,
    );
  });
});
