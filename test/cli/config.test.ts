import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  ConfigError,
  buildRunConfig,
  loadConfigFile,
  resolveSource,
  stagesUntil,
  toPipelineInput,
} from '../../cli/config.ts';
import type { RunOverrides } from '../../cli/config.ts';
import { REPO_ROOT } from '../../activities/common/tools.ts';

const run = promisify(execFile);
const HEX64 = 'ab'.repeat(32);

let dir: string;
/** An extracted-corpus stand-in: resolveSource only needs it to exist and be a folder. */
let corpusDir: string;
/** An archive stand-in: only the name and existence matter before extraction. */
let archive: string;
let notArchive: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-config-'));
  corpusDir = join(dir, 'IEMOCAP_full_release');
  archive = join(dir, 'MELD.Raw.tar.gz');
  notArchive = join(dir, 'notes.txt');
  await mkdir(corpusDir);
  await writeFile(archive, '');
  await writeFile(notArchive, 'hello');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
async function configFile(text: string, ext: 'yaml' | 'json', sub = ''): Promise<string> {
  const folder = join(dir, sub);
  await mkdir(folder, { recursive: true });
  const file = join(folder, `cfg-${++fileNo}.${ext}`);
  await writeFile(file, text);
  return file;
}

/** 1-based line of the first line containing `needle`, so tests do not hard-code line numbers. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `fixture lacks ${needle}`);
  return i + 1;
}

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function hashOf(file: string | undefined, o: RunOverrides = {}): string {
  const { config, baseDir } = buildRunConfig(file, { until: 'acquire', ...o });
  return toPipelineInput(config, baseDir, false).configHash;
}

describe('config file validation names file, line and field', () => {
  test('a wrong type and an unknown key in YAML are both reported, each on its own line', async () => {
    const text = [
      'name: typo',
      'datasets:',
      `  iemocap: { source: ${corpusDir} }`,
      'acquire:',
      '  chunkMiB: "sixty-four"',
      '  keepDownload: true',
      '',
    ].join('\n');
    const file = await configFile(text, 'yaml');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`${file}:${lineOf(text, 'chunkMiB')}: field acquire\\.chunkMiB: .*number`));
    assert.match(
      err.message,
      new RegExp(`${file}:${lineOf(text, 'keepDownload')}: field acquire\\.keepDownload: unknown key`),
    );
  });

  test('a bad sha256 and a bad S3 bucket name in JSON point at their lines', async () => {
    const text = [
      '{',
      '  "store": {',
      '    "kind": "s3",',
      '    "bucket": "My_Bucket"',
      '  },',
      '  "datasets": {',
      '    "meld": {',
      `      "source": "${archive}",`,
      '      "sha256": "not-a-digest"',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n');
    const file = await configFile(text, 'json');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(
      err.message,
      new RegExp(`${file}:${lineOf(text, '"bucket"')}: field store\\.bucket: bucket names use lowercase`),
    );
    assert.match(
      err.message,
      new RegExp(`${file}:${lineOf(text, '"sha256"')}: field datasets\\.meld\\.sha256: must be 64 hex`),
    );
  });

  test('an unknown store kind is named as such', async () => {
    const text = `store:\n  kind: gcs\n  bucket: b\ndatasets:\n  meld: { source: ${archive} }\n`;
    const file = await configFile(text, 'yaml');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`${file}:\\d+: field store\\.kind: store\\.kind must be 'local' or 's3'`));
  });

  test('a missing datasets section is reported as the datasets field', async () => {
    const file = await configFile('name: empty\nuntil: acquire\n', 'yaml');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`^${file}:\\d+: field datasets: `));
  });

  test('an empty datasets section asks for at least one dataset', async () => {
    const file = await configFile('datasets: {}\n', 'yaml');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`${file}:1: field datasets: name at least one dataset`));
  });

  test('a label set of the other dataset is refused at its line', async () => {
    const text = `datasets:\n  iemocap:\n    source: ${corpusDir}\n    labels: meld7\n`;
    const file = await configFile(text, 'yaml');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(
      err.message,
      new RegExp(`${file}:${lineOf(text, 'labels')}: field datasets\\.iemocap\\.labels: .*6class.*4class`),
    );
  });

  test('invalid YAML syntax gives line and column', async () => {
    const text = `name: x\ndatasets:\n  meld: { source: ${archive} }\n acquire: {}\n`;
    const file = await configFile(text, 'yaml');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`^${file}:${lineOf(text, ' acquire')}:\\d+: not valid YAML/JSON: `));
  });

  test('invalid JSON syntax gives line and column', async () => {
    const text = `{\n  "datasets": { "meld": { "source": "${archive}" } }\n  "until": "acquire"\n}\n`;
    const file = await configFile(text, 'json');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`^${file}:${lineOf(text, '"until"')}:\\d+: not valid YAML/JSON: `));
  });

  test('an unreadable file is named', () => {
    const missing = join(dir, 'nope.yaml');
    const err = configErrorOf(() => loadConfigFile(missing));
    assert.match(err.message, new RegExp(`^${missing}: cannot read config`));
  });
});

describe('stages and sources', () => {
  test('--until names a stage; without it the run goes all the way to the evaluation report', () => {
    assert.deepEqual(stagesUntil('acquire'), ['acquire']);
    assert.deepEqual(stagesUntil('segment'), ['acquire', 'segment']);
    assert.deepEqual(stagesUntil('extract'), ['acquire', 'segment', 'extract']);
    assert.deepEqual(stagesUntil('train'), ['acquire', 'segment', 'extract', 'compress', 'train']);
    const { config } = buildRunConfig(undefined, { meld: archive });
    assert.equal(config.until, 'evaluate');
    // The whole pipeline needs encoders: a missing default folder is reported before anything starts.
    assert.match(configErrorOf(() => toPipelineInput(config, dir, false)).message, /extract\.text\.model/);
  });

  test('--models <dir> names text/, audio/ and visual/ under it; extract params join the hash only with the stage', () => {
    const models = join(dir, 'models');
    const ext = toPipelineInput(
      buildRunConfig(undefined, { meld: archive, until: 'extract', models }).config,
      dir,
      false,
    );
    assert.deepEqual(
      [ext.extract!.text.model, ext.extract!.audio.model, ext.extract!.visual.model],
      [join(models, 'text'), join(models, 'audio'), join(models, 'visual')],
    );
    const seg = toPipelineInput(
      buildRunConfig(undefined, { meld: archive, until: 'segment', models }).config,
      dir,
      false,
    );
    const segPlain = toPipelineInput(buildRunConfig(undefined, { meld: archive, until: 'segment' }).config, dir, false);
    assert.equal(seg.extract, undefined);
    assert.equal(seg.configHash, segPlain.configHash, 'model folders do not change a segment run');
    assert.notEqual(ext.configHash, seg.configHash);
  });

  test('train settings: protocols per dataset, ablation sets, variants without VSC add a VSC-off compress output', () => {
    const models = join(dir, 'models');
    const base = toPipelineInput(
      buildRunConfig(undefined, { meld: archive, until: 'train', models }).config,
      dir,
      false,
    );
    assert.equal(base.train!.params.splits.meld.protocol, 'official');
    assert.equal(base.train!.params.splits.iemocap.protocol, 'loso');
    assert.deepEqual(
      base.train!.variants.map((v) => v.name),
      ['T+A+V'],
    );
    assert.equal(base.compress!.settings.length, 1);
    const paper = toPipelineInput(
      buildRunConfig(undefined, { meld: archive, until: 'train', models, ablations: 'paper', protocol: 'paper' })
        .config,
      dir,
      false,
    );
    assert.deepEqual(
      paper.train!.variants.map((v) => v.name),
      ['T+A+V', 'T', 'A', 'V', 'T+A', 'T+V', 'A+V', 'T+A+V-noVSC', 'T+A+V-noCL', 'T+A+V-noVSC-noCL'],
    );
    assert.deepEqual(
      paper.compress!.settings.map((s) => s.enabled),
      [true, false],
    );
    assert.equal(paper.train!.params.splits.meld.protocol, 'paper');
    assert.notEqual(paper.configHash, base.configHash);
    const upToExtract = toPipelineInput(
      buildRunConfig(undefined, { meld: archive, until: 'extract', models, ablations: 'paper' }).config,
      dir,
      false,
    );
    const plainExtract = toPipelineInput(
      buildRunConfig(undefined, { meld: archive, until: 'extract', models }).config,
      dir,
      false,
    );
    assert.equal(upToExtract.configHash, plainExtract.configHash, 'train settings do not change an extract run');
    assert.match(
      configErrorOf(() => buildRunConfig(undefined, { meld: archive, protocol: 'loo' })).message,
      /not a protocol/,
    );
  });

  test('an unknown stage lists every stage, built or planned', () => {
    const err = configErrorOf(() => stagesUntil('segmnet'));
    assert.match(err.message, /unknown stage "segmnet"/);
    assert.match(err.message, /acquire, segment, extract, compress, train, evaluate/);
  });

  test('a source path that does not exist is named', () => {
    const missing = join(dir, 'IEMOCAP_full_release.tar.gz');
    const err = configErrorOf(() => resolveSource('iemocap', missing, undefined, dir));
    assert.match(err.message, /^datasets\.iemocap\.source: /);
    assert.ok(err.message.includes(`${missing} does not exist`), err.message);
  });

  test('a file that is neither a folder nor an archive is refused', () => {
    const err = configErrorOf(() => resolveSource('meld', notArchive, undefined, dir));
    assert.ok(
      err.message.includes(`${notArchive} is neither a folder nor a .tar.gz/.tgz/.tar/.zip archive`),
      err.message,
    );
  });

  test('unsupported URL schemes are refused without echoing the query string', () => {
    const err = configErrorOf(() =>
      resolveSource('meld', 'ftp://example.org/MELD.Raw.tar.gz?token=secret', undefined, dir),
    );
    assert.match(err.message, /unsupported URL scheme in ftp:\/\/example\.org\/MELD\.Raw\.tar\.gz/);
    assert.ok(!err.message.includes('secret'));
    assert.match(
      configErrorOf(() => resolveSource('meld', 's3://bucket/MELD.Raw.tar.gz', undefined, dir)).message,
      /unsupported URL scheme/,
    );
  });

  test('sources are typed: url, archive (with its sha256), folder', () => {
    assert.deepEqual(resolveSource('meld', 'https://example.org/a.tar.gz', HEX64, dir), {
      kind: 'url',
      url: 'https://example.org/a.tar.gz',
      sha256: HEX64,
    });
    assert.deepEqual(resolveSource('meld', archive, HEX64, dir), { kind: 'archive', path: archive, sha256: HEX64 });
    assert.deepEqual(resolveSource('iemocap', corpusDir, undefined, dir), { kind: 'folder', path: corpusDir });
  });

  test('a wrong label set from the command line is refused', () => {
    const err = configErrorOf(() => buildRunConfig(undefined, { iemocap: corpusDir, labels: 'meld7' }));
    assert.match(err.message, /^command line: field datasets\.iemocap\.labels: /);
  });

  test('no dataset at all tells to pass --meld or --iemocap', () => {
    const err = configErrorOf(() => buildRunConfig(undefined, { until: 'acquire' }));
    assert.match(err.message, /no dataset to run/);
    assert.match(err.message, /--meld/);
    assert.match(err.message, /--iemocap/);
  });

  test('`mer run --until extract` without encoder folders fails before any Temporal server is started or dialled', async () => {
    // An unreachable cluster: if validation came after connecting, the error would be a connection one.
    const env = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:9', NODE_OPTIONS: '' };
    const r = await run(
      process.execPath,
      ['cli/mer.mjs', 'run', '--until', 'extract', '--meld', archive, '--store', join(dir, 'store')],
      {
        cwd: REPO_ROOT,
        env,
        timeout: 30_000,
      },
    ).then(
      () => assert.fail('mer run --until extract must fail'),
      (e: { code?: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^mer: until: the extract stage needs an encoder folder per modality; not found: extract\.text\.model .*extract\.audio\.model .*extract\.visual\.model/m,
    );
    assert.match(r.stderr, /--models <dir>/);
  });
});

describe('config hash', () => {
  const yamlConfig = (opts: { labels?: string; root?: string; temporal?: string; reorder?: boolean } = {}) => {
    const lines = [
      'name: hash-test',
      'until: acquire',
      `store: { kind: local, root: ${opts.root ?? join(dir, 'store')} }`,
      'datasets:',
      `  iemocap: { source: ${corpusDir}, labels: ${opts.labels ?? '6class'} }`,
      `  meld: { source: ${archive}, sha256: ${HEX64} }`,
      'acquire: { chunkMiB: 16, keepDownloads: false }',
      opts.temporal ?? '',
      '',
    ];
    if (!opts.reorder) return lines.join('\n');
    return [
      lines[6],
      lines[3],
      `  meld: { sha256: ${HEX64}, source: ${archive} }`,
      `  iemocap: { labels: ${opts.labels ?? '6class'}, source: ${corpusDir} }`,
      lines[1],
      lines[2],
      lines[0],
      '',
    ].join('\n');
  };

  test('the same config as YAML, as JSON and with keys reordered hashes the same', async () => {
    const base = hashOf(await configFile(yamlConfig(), 'yaml'));
    const json = JSON.stringify(
      {
        acquire: { keepDownloads: false, chunkMiB: 16 },
        datasets: { meld: { sha256: HEX64, source: archive }, iemocap: { labels: '6class', source: corpusDir } },
        store: { root: join(dir, 'store'), kind: 'local' },
        until: 'acquire',
        name: 'hash-test',
      },
      null,
      2,
    );
    assert.equal(hashOf(await configFile(json, 'json')), base);
    assert.equal(hashOf(await configFile(yamlConfig({ reorder: true }), 'yaml')), base);
    // Defaults written out explicitly are the same config.
    assert.equal(
      hashOf(
        await configFile(
          yamlConfig().replace('keepDownloads: false', 'keepDownloads: false, maxExtractGiB: 64'),
          'yaml',
        ),
      ),
      base,
    );
    assert.match(base, /^[0-9a-f]{20}$/);
  });

  test('the label set and the store change the hash', async () => {
    const base = hashOf(await configFile(yamlConfig(), 'yaml'));
    assert.notEqual(hashOf(await configFile(yamlConfig({ labels: '4class' }), 'yaml')), base);
    assert.notEqual(hashOf(await configFile(yamlConfig({ root: join(dir, 'other-store') }), 'yaml')), base);
    const s3 = yamlConfig().replace(/store: .*/, 'store: { kind: s3, bucket: mer-runs, prefix: runs }');
    assert.notEqual(hashOf(await configFile(s3, 'yaml')), base);
  });

  test('temporal settings (task queues, heartbeat) do not change the hash', async () => {
    const base = hashOf(await configFile(yamlConfig(), 'yaml'));
    const temporal =
      'temporal: { taskQueues: { cpu: q-cpu, gpu: q-gpu }, heartbeatTimeoutSec: 5, activityMaxAttempts: 2 }';
    const file = await configFile(yamlConfig({ temporal }), 'yaml');
    assert.equal(hashOf(file), base);
    assert.equal(hashOf(file, { heartbeatTimeoutSec: 9, taskQueuePrefix: 'other' }), base);
    const { config } = buildRunConfig(file, {});
    assert.deepEqual(config.temporal, {
      taskQueues: { cpu: 'q-cpu', gpu: 'q-gpu' },
      heartbeatTimeoutSec: 5,
      activityMaxAttempts: 2,
    });
  });
});

describe('relative paths', () => {
  test('store.root and sources in a config file resolve against the file’s folder, not the cwd', async () => {
    const sub = join(dir, 'project');
    await mkdir(join(sub, 'data', 'IEMOCAP_full_release'), { recursive: true });
    await writeFile(join(sub, 'data', 'MELD.Raw.tar.gz'), '');
    const file = await configFile(
      'store: { kind: local, root: ./state/store }\ndatasets:\n  iemocap: { source: data/IEMOCAP_full_release }\n  meld: { source: ./data/MELD.Raw.tar.gz }\n',
      'yaml',
      'project',
    );
    assert.notEqual(process.cwd(), sub);
    const { config, baseDir } = buildRunConfig(file, { until: 'acquire' });
    assert.equal(baseDir, sub);
    const input = toPipelineInput(config, baseDir, false);
    assert.deepEqual(input.store, { kind: 'local', root: join(sub, 'state', 'store') });
    assert.deepEqual(
      input.datasets.map((d) => d.source),
      [
        { kind: 'folder', path: join(sub, 'data', 'IEMOCAP_full_release') },
        { kind: 'archive', path: join(sub, 'data', 'MELD.Raw.tar.gz') },
      ],
    );
  });

  test('paths given as flags resolve against the cwd even with a config file', async () => {
    const file = await configFile(`datasets:\n  iemocap: { source: ${corpusDir} }\n`, 'yaml', 'flags');
    const { config, baseDir } = buildRunConfig(file, {
      store: 'flag-store',
      meld: 'https://example.org/MELD.Raw.tar.gz',
      until: 'acquire',
    });
    const input = toPipelineInput(config, baseDir, false);
    assert.deepEqual(input.store, { kind: 'local', root: resolve('flag-store') });
    assert.equal(input.datasets.find((d) => d.dataset === 'meld')?.source.kind, 'url');
  });
});

describe('flags complete a config file', () => {
  test('a store-only config plus --iemocap is a valid run; the file still names its own errors', async () => {
    const file = await configFile('store: { kind: local, root: ./s }\n', 'yaml', 'store-only');
    const { config } = buildRunConfig(file, { iemocap: corpusDir });
    assert.equal(config.datasets.iemocap?.source, corpusDir);
    const bad = await configFile(
      'store: { kind: local, root: ./s }\nacquire: { chunkMiB: lots }\n',
      'yaml',
      'store-only',
    );
    const err = configErrorOf(() => buildRunConfig(bad, { iemocap: corpusDir }));
    assert.match(err.message, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: field acquire.chunkMiB`));
  });
});
