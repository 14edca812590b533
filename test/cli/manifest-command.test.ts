import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { AcquireParamsSchema } from '../../schemas/config.ts';
import { ManifestRowSchema, ManifestSummarySchema } from '../../schemas/manifest.ts';
import { acquireDirect } from '../../cli/direct.ts';
import { synthesize } from '../../cli/synth/index.ts';
import type { IemocapTruth, MeldTruth } from '../../cli/synth/index.ts';

const exec = promisify(execFile);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real bin, as a user runs it; a non-zero exit is a result to inspect, not a thrown error. */
async function mer(args: string[]): Promise<CliResult> {
  try {
    const r = await exec(process.execPath, ['cli/mer.mjs', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Report {
  dataset: string;
  labelSet: string;
  rows: number;
  perSplit: Record<string, number>;
  perLabel: Record<string, number>;
  perClass: Record<string, number>;
  inLabelSet: number;
  issues: number;
  issueKinds: Record<string, number>;
  mediaMissing: { audio: number; video: number };
  issueList: Array<{ file: string; line?: number; field?: string; value?: string; reason: string; kind: string }>;
  manifestKey: string;
  ran: { download: boolean; extract: boolean; manifest: boolean };
}

async function manifestJson(args: string[]): Promise<Report> {
  const r = await mer(['manifest', ...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

/** Every file under a folder with its mtime and size, to prove a second run wrote nothing there. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!existsSync(root)) return out;
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const p = join(entry.parentPath, entry.name);
    const s = await stat(p);
    out.set(relative(root, p), `${s.size}:${s.mtimeMs}`);
  }
  return out;
}

let dir: string;
let store: string;
let iemocapRoot: string;
let iemocapTruth: IemocapTruth;
let meldArchive: string;
let meldTruth: MeldTruth;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-manifest-cli-'));
  store = join(dir, 'store');
  const [i, m] = await Promise.all([
    synthesize({ dataset: 'iemocap', out: join(dir, 'iemocap'), seed: 5, scale: 'tiny' }),
    synthesize({ dataset: 'meld', out: join(dir, 'meld'), archive: true, seed: 5, scale: 'tiny' }),
  ]);
  iemocapRoot = i.root;
  meldArchive = m.archive!;
  // Read back from disk: what the test compares with is the file a user would see.
  iemocapTruth = JSON.parse(await readFile(join(dir, 'iemocap', 'synth-truth.json'), 'utf8')) as IemocapTruth;
  meldTruth = JSON.parse(await readFile(join(dir, 'meld', 'synth-truth.json'), 'utf8')) as MeldTruth;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('mer manifest (IEMOCAP folder)', () => {
  let first: Report;
  const jsonl = () => join(dir, 'iemocap.jsonl');

  before(async () => {
    first = await manifestJson(['--dataset', 'iemocap', '--source', iemocapRoot, '--store', store, '--out', jsonl()]);
  });

  test('--json prints the summary, matching the synthetic truth', () => {
    assert.doesNotThrow(() => ManifestSummarySchema.parse(first));
    assert.equal(first.dataset, 'iemocap');
    assert.equal(first.labelSet, '6class');
    assert.deepEqual(first.ran, { download: false, extract: true, manifest: true });
    assert.match(first.manifestKey, /^datasets\/iemocap\/[0-9a-f]{20}\/manifest\.parquet$/);

    const utts = iemocapTruth.utterances;
    assert.equal(first.rows, utts.length);
    assert.deepEqual(
      first.perSplit,
      countBy(utts, (u) => `Session${u.session}`),
    );
    assert.deepEqual(
      first.perLabel,
      countBy(utts, (u) => u.label),
    );
    const sixClass = new Set(['hap', 'sad', 'neu', 'ang', 'exc', 'fru']);
    assert.equal(first.inLabelSet, utts.filter((u) => sixClass.has(u.label)).length);
    assert.equal(first.mediaMissing.audio, utts.filter((u) => u.flags.missingWav).length);
  });

  test('the issue list has file, line and reason for every transcription line that is not a turn', async () => {
    assert.equal(first.issues, first.issueList.length);
    const expected = iemocapTruth.dialogs.reduce((n, d) => n + d.unevaluatedLines.length, 0);
    assert.ok(expected > 0, 'the synthetic corpus carries unevaluated transcription lines');
    const skipped = first.issueList.filter((i) => i.kind === 'transcription_skipped');
    assert.equal(skipped.length, expected);
    for (const issue of first.issueList) {
      assert.equal(typeof issue.file, 'string');
      assert.ok(issue.file.length > 0);
      assert.ok(issue.reason.length > 0);
    }
    for (const issue of skipped) {
      assert.ok(Number.isInteger(issue.line) && issue.line! > 0, `line of ${JSON.stringify(issue)}`);
      const dialog = iemocapTruth.dialogs.find((d) => d.transcription === issue.file);
      assert.ok(dialog, `issue file ${issue.file} is a transcription of the corpus`);
      const text = (await readFile(join(iemocapRoot, issue.file), 'utf8')).split(/\r?\n/);
      assert.ok(
        text[issue.line! - 1].includes(issue.value ?? '\0'),
        `${issue.file}:${issue.line} holds the reported line`,
      );
    }
  });

  test('--out x.jsonl writes one valid ManifestRow per utterance', async () => {
    const lines = (await readFile(jsonl(), 'utf8')).split('\n').filter(Boolean);
    assert.equal(lines.length, iemocapTruth.utterances.length);
    const rows = lines.map((l) => ManifestRowSchema.parse(JSON.parse(l)));
    const truthIds = new Set(iemocapTruth.utterances.map((u) => u.id));
    for (const row of rows) {
      assert.equal(row.dataset, 'iemocap');
      assert.equal(row.labelSet, '6class');
      assert.ok(truthIds.has(row.utteranceId), `row ${row.utteranceId} is a synthetic turn`);
    }
    assert.equal(new Set(rows.map((r) => r.utteranceId)).size, rows.length, 'one row per utterance');
  });

  test('a second invocation reuses the manifest and writes nothing under raw/', async () => {
    const rawBefore = await snapshot(join(store, 'raw'));
    assert.ok(rawBefore.size > 0);
    const again = await manifestJson(['--dataset', 'iemocap', '--source', iemocapRoot, '--store', store]);
    assert.deepEqual(again.ran, { download: false, extract: false, manifest: false });
    assert.equal(again.manifestKey, first.manifestKey);
    assert.equal(again.rows, first.rows);
    assert.deepEqual(await snapshot(join(store, 'raw')), rawBefore);
  });

  test('--labels 4class is another manifest over the same extraction, with 4-class counts', async () => {
    const rawBefore = await snapshot(join(store, 'raw'));
    const four = await manifestJson([
      '--dataset',
      'iemocap',
      '--source',
      iemocapRoot,
      '--store',
      store,
      '--labels',
      '4class',
    ]);
    assert.equal(four.labelSet, '4class');
    assert.notEqual(four.manifestKey, first.manifestKey);
    assert.deepEqual(four.ran, { download: false, extract: false, manifest: true });
    assert.deepEqual(await snapshot(join(store, 'raw')), rawBefore, 'the extraction is shared');
    const n = (label: string) => iemocapTruth.utterances.filter((u) => u.label === label).length;
    assert.deepEqual(four.perClass, { neu: n('neu'), hap: n('hap') + n('exc'), ang: n('ang'), sad: n('sad') });
    assert.equal(four.inLabelSet, n('neu') + n('hap') + n('exc') + n('ang') + n('sad'));
    assert.equal(four.rows, first.rows, 'rows outside the label set are kept, with labelIndex -1');
  });

  test('without --json it prints a readable summary', async () => {
    const r = await mer(['manifest', '--dataset', 'iemocap', '--source', iemocapRoot, '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^iemocap: ${first.rows} utterances -> ${first.manifestKey} \\(reused\\)`, 'm'));
    assert.match(r.stdout, /per split: /);
    assert.match(r.stdout, new RegExp(`issues: ${first.issues}`));
  });
});

describe('mer manifest (MELD archive)', () => {
  let report: Report;
  const parquet = () => join(dir, 'meld.parquet');

  before(async () => {
    report = await manifestJson(['--dataset', 'meld', '--source', meldArchive, '--store', store, '--out', parquet()]);
  });

  test('--json counts match the synthetic truth', () => {
    const utts = meldTruth.utterances;
    assert.equal(report.dataset, 'meld');
    assert.equal(report.labelSet, 'meld7');
    assert.deepEqual(report.ran, { download: false, extract: true, manifest: true });
    assert.equal(report.rows, utts.length);
    assert.deepEqual(
      report.perSplit,
      countBy(utts, (u) => u.split),
    );
    assert.deepEqual(
      report.perLabel,
      countBy(utts, (u) => u.emotion),
    );
    assert.equal(report.inLabelSet, utts.length);
    assert.equal(report.issues, report.issueList.length);
    for (const issue of report.issueList) assert.ok(issue.file && issue.reason, JSON.stringify(issue));
  });

  test('the folder a user gets by extracting MELD.Raw.tar.gz (nested train/dev/test archives inside) gives the same manifest', async () => {
    const folder = join(dir, 'meld', 'MELD.Raw');
    assert.ok(
      (await readdir(folder)).includes('train.tar.gz'),
      'the synthetic folder holds the nested archives, like the real one',
    );
    const fromFolder = await manifestJson([
      '--dataset',
      'meld',
      '--source',
      folder,
      '--store',
      join(dir, 'store-meld-folder'),
    ]);
    assert.deepEqual(fromFolder.perSplit, report.perSplit);
    assert.deepEqual(fromFolder.mediaMissing, report.mediaMissing, 'clips inside the nested archives are found');
    assert.ok(fromFolder.mediaMissing.video < fromFolder.rows / 4);
  });

  test('clips without a CSV row are reported by name', () => {
    const orphans = meldTruth.extraClips.filter((c) => c.kind === 'orphan');
    assert.ok(orphans.length > 0, 'the synthetic corpus carries orphan clips');
    const text = report.issueList
      .filter((i) => i.kind === 'orphan_clip')
      .map((i) => i.reason)
      .join('\n');
    for (const o of orphans) assert.ok(text.includes(o.entry.split('/').pop()!), `orphan ${o.entry} reported`);
  });

  test('--out x.parquet is the manifest as Parquet', async () => {
    const table = parquetToTable(await readFile(parquet()));
    assert.equal(table.numRows, meldTruth.utterances.length);
    assert.ok(table.getChild('utteranceId'), 'has the manifest columns');
    assert.equal(table.schema.metadata.get('mer.schema'), 'manifest');
    const stored = parquetToTable(await readFile(join(store, ...report.manifestKey.split('/'))));
    assert.equal(stored.numRows, table.numRows);
  });
});

describe('mer manifest failures', () => {
  test('a nonexistent --source exits non-zero naming the path', async () => {
    const missing = join(dir, 'no-such', 'IEMOCAP_full_release');
    const r = await mer([
      'manifest',
      '--dataset',
      'iemocap',
      '--source',
      missing,
      '--store',
      join(dir, 'store-missing'),
    ]);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(`${missing} does not exist`), r.stderr);
    assert.equal(r.stdout, '');
  });

  test('a truncated archive exits non-zero naming the archive; its error type is MerArchiveCorrupt', async () => {
    const cutDir = join(dir, 'truncated');
    await mkdir(cutDir, { recursive: true });
    const bytes = await readFile(meldArchive);
    const cut = join(cutDir, 'MELD.Raw.tar.gz');
    await writeFile(cut, bytes.subarray(0, bytes.length >> 1));
    const cutStore = join(dir, 'store-truncated');

    const r = await mer(['manifest', '--dataset', 'meld', '--source', cut, '--store', cutStore, '--json']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^mer: MerArchiveCorrupt: archive MELD\.Raw\.tar\.gz is corrupt or truncated/m);
    assert.equal(r.stdout, '', 'no summary for a failed acquire');

    // The type is what a Temporal run fails with (non-retryable); the CLI prints it before the message.
    const err = await acquireDirect({
      store: { kind: 'local', root: cutStore },
      plan: { dataset: 'meld', source: { kind: 'archive', path: cut }, labels: 'meld7' },
      acquire: AcquireParamsSchema.parse({}),
    }).then(
      () => assert.fail('a truncated archive must not acquire'),
      (e: unknown) => e as Error & { type?: string },
    );
    assert.equal(err.type, 'MerArchiveCorrupt');
    assert.match(err.message, /MELD\.Raw\.tar\.gz/);
    assert.ok(!existsSync(join(cutStore, 'datasets')), 'no manifest committed from a truncated archive');
  });

  test('a label set of the other dataset is refused before anything is extracted', async () => {
    const labelStore = join(dir, 'store-labels');
    const r = await mer([
      'manifest',
      '--dataset',
      'meld',
      '--source',
      meldArchive,
      '--store',
      labelStore,
      '--labels',
      '4class',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--labels: 4class is not a label set of meld \(use meld7 or sentiment3\)/);
    assert.ok(!existsSync(join(labelStore, 'raw')), 'nothing extracted');
  });

  test('bad arguments exit non-zero with usage', async () => {
    const r = await mer(['manifest', '--dataset', 'cremad', '--source', iemocapRoot]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--dataset.*cremad|cremad.*--dataset/);
  });
});

describe('help', () => {
  test('mer --help lists the commands', async () => {
    const r = await mer(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of ['run', 'status', 'manifest', 'synth', 'dev', 'worker', 'demo']) {
      assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), `command ${c} listed`);
    }
  });

  test('mer run --help lists its options', async () => {
    const r = await mer(['run', '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: mer run \[options\]/m);
    for (const o of ['--config', '--until', '--iemocap', '--meld', '--labels', '--store', '--json']) {
      assert.ok(r.stdout.includes(o), `option ${o} listed`);
    }
  });
});
