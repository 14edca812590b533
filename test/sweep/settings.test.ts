import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRunConfig, ConfigError } from '../../cli/config.ts';
import { executeRun } from '../../cli/run-command.ts';
import { buildSweep } from '../../cli/sweep/settings.ts';
import { expandSweep, SWEEPABLE_KEYS, SweepConfigSchema } from '../../schemas/sweep.ts';
import { TINY_ENCODERS } from '../helpers/pipeline.ts';

let dir: string;
let corpus: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-sweep-config-'));
  corpus = join(dir, 'IEMOCAP_full_release');
  await mkdir(corpus);
});
after(() => rm(dir, { recursive: true, force: true }));

/** A config file with this sweep section (YAML, so errors have lines to name). */
async function configFile(name: string, sweepYaml: string, extra = ''): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    [
      `datasets:`,
      `  iemocap:`,
      `    source: ${corpus}`,
      `store: { kind: local, root: ${join(dir, 'store')} }`,
      `extract:`,
      ...Object.entries(TINY_ENCODERS).map(([m, e]) => `  ${m}: { model: ${e.model} }`),
      extra,
      `sweep:`,
      sweepYaml,
    ].join('\n'),
  );
  return file;
}

describe('sweep settings', () => {
  test('a grid expands to every combination, the first key slowest; a list is taken as given', () => {
    const grid = expandSweep({ grid: { 'train.lr': [0.001, 0.01], 'train.contrastiveWeight': [0, 0.5] } });
    assert.deepEqual(
      grid.map((s) => s.label),
      [
        'train.lr=0.001, train.contrastiveWeight=0',
        'train.lr=0.001, train.contrastiveWeight=0.5',
        'train.lr=0.01, train.contrastiveWeight=0',
        'train.lr=0.01, train.contrastiveWeight=0.5',
      ],
    );
    assert.deepEqual(
      grid.map((s) => s.index),
      [0, 1, 2, 3],
    );
    const list = expandSweep({ list: [{ 'train.preset': 'paper' }, { 'compress.topK': 8, 'train.lr': 0.002 }] });
    assert.deepEqual(list[1].values, { 'compress.topK': 8, 'train.lr': 0.002 });
    assert.equal(list.length, 2);
  });

  test('unknown and unsweepable keys are refused naming the key and listing the sweepable ones', () => {
    for (const key of ['train.lrr', 'train.splits', 'datasets.iemocap.source']) {
      const r = SweepConfigSchema.safeParse({ grid: { [key]: [1] } });
      assert.ok(!r.success);
      const issue = r.error.issues[0];
      assert.deepEqual(issue.path, ['grid', key]);
      assert.match(issue.message, new RegExp(`"${key.replaceAll('.', '\\.')}" cannot be swept`));
      for (const k of SWEEPABLE_KEYS) assert.ok(issue.message.includes(k), `lists ${k}`);
    }
    assert.equal(SweepConfigSchema.safeParse({ grid: { 'train.lr': [1] }, list: [{ 'train.lr': 1 }] }).success, false);
    assert.equal(SweepConfigSchema.safeParse({}).success, false);
    assert.equal(SweepConfigSchema.safeParse({ grid: { 'train.lr': [1, 1] } }).success, false);
    assert.equal(SweepConfigSchema.safeParse({ list: [{}] }).success, false);
    for (const key of [
      'train.lr',
      'train.contrastiveWeight',
      'train.preset',
      'compress.topK',
      'compress.mergeThreshold',
    ])
      assert.ok((SWEEPABLE_KEYS as readonly string[]).includes(key));
  });

  test('an unsweepable key in a config file is refused at load with its line', async () => {
    const file = await configFile('bad-key', '  grid:\n    train.splits: [1, 2]');
    assert.throws(
      () => buildRunConfig(file, {}),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /bad-key\.yaml:\d+: field sweep\.grid\.train\.splits: "train\.splits" cannot be swept; sweepable settings: train\.lr/,
        );
        return true;
      },
    );
  });

  test('each setting is validated by the run config schema: an invalid value names the setting, the key and its line', async () => {
    const file = await configFile('bad-value', '  grid:\n    train.lr: [0.001, -1]\n    compress.topK: [4]');
    assert.throws(
      () => buildSweep(file),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /bad-value\.yaml:\d+: sweep setting 2 \(train\.lr=-1, compress\.topK=4\): field train\.lr: /,
        );
        return true;
      },
    );
    const preset = await configFile('bad-preset', '  list:\n    - { train.preset: huge }');
    assert.throws(() => buildSweep(preset), /sweep setting 1 \(train\.preset=huge\): field train\.preset: /);
  });

  test('two settings that give the same run are refused; a sweep must reach train', async () => {
    const same = await configFile('same', '  list:\n    - { train.lr: 0.001 }\n    - { train.lr: 1e-3 }');
    assert.throws(
      () => buildSweep(same),
      /sweep settings 1 \(train\.lr=0\.001\) and 2 \(train\.lr=0\.001\) are the same run/,
    );
    const early = await configFile('early', '  grid:\n    train.lr: [0.001, 0.01]', 'until: compress');
    assert.throws(() => buildSweep(early), /must reach train/);
  });

  test('a 2x2 train sweep: four runs with their own config hashes, one preparing run through compress', async () => {
    const file = await configFile(
      'grid',
      '  grid:\n    train.lr: [0.001, 0.01]\n    train.contrastiveWeight: [0, 0.5]\n  parallelism: 2',
    );
    const plan = buildSweep(file);
    assert.equal(plan.settings.length, 4);
    assert.equal(plan.mode, 'grid');
    assert.deepEqual(plan.keys, ['train.lr', 'train.contrastiveWeight']);
    assert.equal(plan.parallelism, 2);
    assert.equal(new Set(plan.settings.map((s) => s.input.configHash)).size, 4);
    assert.deepEqual(plan.settings[3].input.train?.params.lr, 0.01);
    assert.deepEqual(plan.settings[3].input.train?.params.contrastiveWeight, 0.5);
    assert.equal(plan.prepare.length, 1, 'the settings share every stage before train');
    assert.deepEqual(plan.prepare[0].stages, ['acquire', 'segment', 'extract', 'compress']);
    assert.equal(plan.prepare[0].train, undefined);
    assert.deepEqual(plan.prepareOf, [0, 0, 0, 0]);
    // The same config without the sweep section is the same run as setting 1 with its values written in.
    assert.equal(buildSweep(file).sweepKey, plan.sweepKey, 'the sweep key is stable');

    const vsc = await configFile('vsc', '  grid:\n    compress.topK: [4, 8]\n    train.lr: [0.001, 0.01]');
    const p2 = buildSweep(vsc);
    assert.equal(p2.prepare.length, 2, 'one preparing run per compress setting');
    assert.notEqual(p2.sweepKey, plan.sweepKey);
    assert.deepEqual(
      p2.prepare.map((p) => p.compress?.settings[0].topK),
      [4, 8],
    );
    assert.deepEqual(p2.prepare[0].extract, p2.prepare[1].extract, 'both prepare on the same features');
    assert.deepEqual(p2.prepareOf, [0, 0, 1, 1], 'each setting names the preparing run it needs');
  });

  test('mer run refuses a config with a sweep section, before any server is started', async () => {
    const file = await configFile('run', '  grid:\n    train.lr: [0.001, 0.01]');
    await assert.rejects(executeRun({ config: file }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /has a sweep: section; run its settings with mer sweep/);
      return true;
    });
  });

  test('an encoder folder can be swept; relative folders resolve against the config file', async () => {
    const file = await configFile(
      'encoder',
      `  list:\n    - { extract.text.model: ${TINY_ENCODERS.text.model} }\n    - { extract.text.model: ./other-text }`,
    );
    const plan = buildSweep(file);
    assert.equal(plan.settings[1].input.extract?.text.model, join(dir, 'other-text'));
    assert.equal(plan.prepare.length, 2);
  });
});
