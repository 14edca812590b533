import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildIemocapManifest } from '../../activities/acquire/iemocap.ts';
import { parseIemocapEmoEvaluation, parseIemocapTranscription } from '../../activities/acquire/iemocap-parse.ts';
import { assertValidRow } from '../../activities/acquire/manifest-common.ts';
import { buildMeldManifest } from '../../activities/acquire/meld.ts';
import { parseMeldCsv } from '../../activities/acquire/meld-csv.ts';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { parquetToTable, tableToParquet } from '../../activities/common/parquet.ts';
import { createStore } from '../../activities/store/index.ts';
import { acquireDirect, manifestReport } from '../../cli/direct.ts';
import { AcquireParamsSchema } from '../../schemas/config.ts';
import {
  ColumnRangeError,
  ManifestRowSchema,
  arrowTableToRows,
  rowsToArrowTable,
  type ManifestRow,
} from '../../schemas/manifest.ts';
import { memoryCorpus } from '../helpers/memory-corpus.ts';

/**
 * Numbers an adversary writes into annotations: past int32 and 2^53, 400 digits, signs,
 * exponents, hex, Infinity/NaN, times reversed or longer than a day. Each is an issue naming file, line
 * and field; nothing is wrapped, rounded, thrown or retried.
 */

const R = 'IEMOCAP_full_release';
const HUGE = '9'.repeat(400); // Number() of it is Infinity
const TWO_31 = String(2 ** 31);
const TWO_53_PLUS_1 = '9007199254740993';

function evalLine(times: string, id: string, label = 'neu', vad = '2.5, 2.5, 2.5'): string {
  return `[${times}]\t${id}\t${label}\t[${vad}]`;
}

/** Every IEMOCAP session, so a session_missing issue never mixes in; Session1 gets `lines`. */
function iemocap(lines: string[]) {
  const entries: Record<string, string | number> = {};
  for (let s = 2; s <= 5; s++)
    entries[`${R}/Session${s}/dialog/EmoEvaluation/Ses0${s}F_impro01.txt`] = evalLine(
      '1.0 - 2.0',
      `Ses0${s}F_impro01_F000`,
    );
  entries[`${R}/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt`] = ['% header', '', ...lines, ''].join('\n');
  return memoryCorpus(entries);
}

async function buildIemocap(lines: string[]) {
  const c = iemocap(lines);
  return buildIemocapManifest({ files: c.files, read: c.read, keyPrefix: 'k', labelSet: '6class' });
}

const FILE = `${R}/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt`;

describe('IEMOCAP numbers', () => {
  for (const [name, turn] of [
    ['2^31', TWO_31],
    ['2^53+1', TWO_53_PLUS_1],
    ['400 digits', HUGE],
  ] as const) {
    test(`a turn number of ${name} is an out_of_range issue on its line, never a wrapped row or a crash`, async () => {
      const { rows, issues } = await buildIemocap([
        evalLine('1.0 - 2.0', 'Ses01F_impro01_F000'),
        evalLine('3.0 - 4.0', `Ses01F_impro01_M${turn}`),
      ]);
      assert.deepEqual(
        rows.filter((r) => r.session === 1).map((r) => r.utteranceIndex),
        [0],
      );
      const issue = issues.find((i) => i.kind === 'out_of_range');
      assert.ok(issue, JSON.stringify(issues));
      assert.equal(issue.file, FILE);
      assert.equal(issue.line, 4);
      assert.equal(issue.field, 'id');
      assert.match(issue.reason, /turn number \d+…? is above 99999/);
      // The rows that remain go to Parquet and come back unchanged.
      assert.deepEqual(arrowTableToRows(parquetToTable(tableBytes(rows))), rows);
    });
  }

  test('times: negative, exponent, hex, Infinity, NaN, 400 digits and beyond a day are named by field', () => {
    const bad: Array<[string, string, string]> = [
      ['-1.0 - 2.0', 'start', 'out_of_range'],
      ['1e3 - 2e3', 'start', 'bad_field'],
      ['0x10 - 0x20', 'start', 'bad_field'],
      ['1.0 - Infinity', 'end', 'bad_field'],
      ['NaN - 2.0', 'start', 'bad_field'],
      [`1.0 - ${HUGE}`, 'end', 'out_of_range'],
      ['1.0 - 90000', 'end', 'out_of_range'],
      ['+1.0 - 2.0', 'start', 'bad_field'],
      ['1.0 2.0', 'time', 'bad_field'],
    ];
    const text = ['% h', ...bad.map(([t], k) => evalLine(t, `Ses01F_impro01_F00${k}`))].join('\n');
    const { turns, issues } = parseIemocapEmoEvaluation(text, 'e.txt');
    assert.deepEqual(turns, []);
    assert.deepEqual(
      issues.map((i) => [i.line, i.field, i.kind]),
      bad.map(([, field, kind], k) => [k + 2, field, kind]),
    );
    for (const i of issues) assert.match(i.reason, /turn skipped$/);
  });

  test('times reversed stay a flagged negative_duration issue; .5 and 5. are read; a day exactly is accepted', async () => {
    const { rows, issues } = await buildIemocap([
      evalLine('5.0 - 4.0', 'Ses01F_impro01_F000'),
      evalLine('.5 - 5.', 'Ses01F_impro01_F001'),
      evalLine('86399.5 - 86400', 'Ses01F_impro01_F002'),
    ]);
    const s1 = rows.filter((r) => r.session === 1);
    assert.deepEqual(
      s1.map((r) => [r.startSec, r.endSec]),
      [
        [0.5, 5],
        [5, 4],
        [86399.5, 86400],
      ],
    );
    const neg = issues.find((i) => i.kind === 'negative_duration');
    assert.equal(neg?.line, 3);
    assert.ok(s1[1].flags.includes('negative_duration'));
  });

  test('VAD outside the 1-5 scale or not finite keeps the turn with null VAD and an issue', () => {
    const vads = [`${HUGE}, 2, 2`, '2, 7.5, 2', '2, 2, 0', '2, NaN, 2', '2, 2, -1'];
    const text = vads.map((v, k) => evalLine('1 - 2', `Ses01F_impro01_F00${k}`, 'neu', v)).join('\n');
    const { turns, issues } = parseIemocapEmoEvaluation(text, 'e.txt');
    assert.equal(turns.length, vads.length);
    assert.ok(turns.every((t) => t.valence === null && t.arousal === null && t.dominance === null));
    assert.deepEqual(
      issues.map((i) => [i.line, i.field, i.kind]),
      [
        [1, 'vad', 'out_of_range'],
        [2, 'vad', 'out_of_range'],
        [3, 'vad', 'out_of_range'],
        [4, 'vad', 'bad_field'],
        [5, 'vad', 'bad_field'],
      ],
    );
  });

  test('sessions outside 1..5 in a dialog file name or a turn id are skipped with the reason', async () => {
    const c = memoryCorpus({
      ...Object.fromEntries(
        [1, 2, 3, 4, 5].map((s) => [
          `${R}/Session${s}/dialog/EmoEvaluation/Ses0${s}F_impro01.txt`,
          evalLine('1 - 2', `Ses0${s}F_impro01_F000`),
        ]),
      ),
      [`${R}/Session1/dialog/EmoEvaluation/Ses00F_impro02.txt`]: evalLine('1 - 2', 'Ses00F_impro02_F000'),
      [`${R}/Session1/dialog/EmoEvaluation/Ses99M_impro02.txt`]: evalLine('1 - 2', 'Ses99M_impro02_F000'),
      [`${R}/Session1/dialog/EmoEvaluation/Ses01F_impro03.txt`]: evalLine('1 - 2', 'Ses07F_impro03_F000'),
    });
    const { rows, issues } = await buildIemocapManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'k',
      labelSet: '6class',
    });
    assert.equal(rows.length, 5);
    const out = issues.filter((i) => i.kind === 'out_of_range');
    assert.deepEqual(
      out.map((i) => [i.value, i.line, i.field]),
      [
        ['Ses00F_impro02', undefined, undefined],
        ['Ses99M_impro02', undefined, undefined],
        ['Ses07F_impro03_F000', 1, 'id'],
      ],
    );
    assert.match(out[0].reason, /session 00 is outside IEMOCAP's sessions 1\.\.5/);
  });

  test('a transcription line with an unbounded time is skipped with its field; an out-of-range id is named', () => {
    const p = parseIemocapTranscription(
      [
        `Ses01F_impro01_F000 [${HUGE}-002.0000]: too late.`,
        `Ses01F_impro01_F${TWO_31} [001.0000-002.0000]: wrapped?`,
        'Ses01F_impro01_F001 [001.0000-002.0000]: fine.',
      ].join('\n'),
      't.txt',
    );
    assert.deepEqual([...p.byTurn.keys()], ['Ses01F_impro01_F001']);
    assert.deepEqual(
      p.issues.map((i) => [i.line, i.field, i.kind]),
      [
        [1, 'start', 'out_of_range'],
        [2, undefined, 'transcription_skipped'],
      ],
    );
    assert.match(p.issues[1].reason, /turn number 2147483648 is above 99999/);
  });
});

const HEADER = 'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime';
function meldRow(o: Partial<Record<string, string>> = {}): string {
  const v = { sr: '1', dia: '0', utt: '0', season: '3', episode: '7', start: '0:00:01,000', end: '0:00:02,000', ...o };
  return `${v.sr},hi,Ross,joy,positive,${v.dia},${v.utt},${v.season},${v.episode},"${v.start}","${v.end}"`;
}

describe('MELD numbers', () => {
  test('ids, Sr No., Season and Episode: every hostile form is an issue with file, line and field', () => {
    const cases: Array<[Partial<Record<string, string>>, string, string]> = [
      [{ dia: TWO_31 }, 'Dialogue_ID', 'out_of_range'],
      [{ dia: TWO_53_PLUS_1 }, 'Dialogue_ID', 'out_of_range'],
      [{ utt: HUGE }, 'Utterance_ID', 'out_of_range'],
      [{ dia: '-1' }, 'Dialogue_ID', 'out_of_range'],
      [{ dia: '1e3' }, 'Dialogue_ID', 'bad_field'],
      [{ dia: '0x10' }, 'Dialogue_ID', 'bad_field'],
      [{ dia: '+5' }, 'Dialogue_ID', 'bad_field'],
      [{ utt: '5.0' }, 'Utterance_ID', 'bad_field'],
      [{ utt: 'Infinity' }, 'Utterance_ID', 'bad_field'],
      [{ utt: 'NaN' }, 'Utterance_ID', 'bad_field'],
      [{ season: '100' }, 'Season', 'out_of_range'],
      [{ episode: '4294967296' }, 'Episode', 'out_of_range'],
      [{ sr: TWO_31 }, 'Sr No.', 'out_of_range'],
      [{ start: '99:59:59,999' }, 'StartTime', 'out_of_range'],
      [{ end: '-0:00:01,000' }, 'EndTime', 'bad_field'],
    ];
    const lines = [meldRow({ dia: '0', utt: '0' }), ...cases.map(([o], k) => meldRow({ utt: String(k + 1), ...o }))];
    const p = parseMeldCsv(Buffer.from([HEADER, ...lines].join('\r\n')), 'MELD.Raw/train_sent_emo.csv', 'train');
    assert.deepEqual(
      p.rows.map((r) => [r.dialogueId, r.utteranceId]),
      [[0, 0]],
    );
    assert.deepEqual(
      p.issues.map((i) => [i.file, i.line, i.field, i.kind]),
      cases.map(([, field, kind], k) => ['MELD.Raw/train_sent_emo.csv', k + 3, field, kind]),
    );
    assert.ok(p.issues.every((i) => i.reason.endsWith('row skipped')));
    assert.match(p.issues[0].reason, /Dialogue_ID 2147483648 is above 999999/);
  });

  test('clips named with numbers no CSV row can have are listed as orphans; the build does not throw', async () => {
    const c = memoryCorpus({
      'MELD.Raw/train_sent_emo.csv': [HEADER, meldRow()].join('\n'),
      [`MELD.Raw/train_splits/dia${HUGE}_utt0.mp4`]: 100,
      [`MELD.Raw/train_splits/dia${HUGE}1_utt0.mp4`]: 100,
      [`MELD.Raw/train_splits/dia0_utt${TWO_31}.mp4`]: 100,
      'MELD.Raw/train_splits/dia0_utt0.mp4': 100,
    });
    const { rows, issues } = await buildMeldManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'k',
      labelSet: 'meld7',
    });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].videoKey, 'k/MELD.Raw/train_splits/dia0_utt0.mp4');
    const orphans = issues.filter((i) => i.kind === 'orphan_clip');
    assert.equal(orphans.length, 1);
    assert.equal(orphans[0].value, '3');
    assert.match(orphans[0].reason, new RegExp(`dia0_utt${TWO_31}\\.mp4`));
  });
});

function tableBytes(rows: ManifestRow[]) {
  return tableToParquet(rowsToArrowTable(rows));
}

describe('manifest writer: a value that does not fit its column is refused, not wrapped', () => {
  const good: ManifestRow = {
    utteranceId: 'meld_train_dia0_utt0',
    dataset: 'meld',
    split: 'train',
    session: null,
    dialogueId: 'train_dia0',
    speaker: 'Ross',
    gender: null,
    interaction: null,
    startSec: 1,
    endSec: 2,
    text: 'hi',
    labelNative: 'joy',
    labelSet: 'meld7',
    labelIndex: 1,
    labelName: 'joy',
    sentiment: 'positive',
    valence: null,
    arousal: null,
    dominance: null,
    audioKey: null,
    videoKey: null,
    dialogAudioKey: null,
    videoHalf: null,
    season: 3,
    episode: 7,
    srNo: 1,
    utteranceIndex: 0,
    flags: [],
  };

  for (const [field, value] of [
    ['utteranceIndex', 2 ** 31],
    ['srNo', 2 ** 53 + 2],
    ['season', -(2 ** 31) - 1],
    ['episode', 1.5],
    ['startSec', Infinity],
    ['endSec', NaN],
  ] as const) {
    test(`${field} = ${value}: the Arrow builder refuses it and the row schema rejects it as MerOutputInvalid`, () => {
      const row: ManifestRow = { ...good, [field]: value };
      assert.throws(
        () => rowsToArrowTable([good, row]),
        (err: unknown) => err instanceof ColumnRangeError && err.column === field && err.row === 1,
      );
      assert.equal(ManifestRowSchema.safeParse(row).success, false);
      assert.throws(
        () => assertValidRow(row, 'MELD.Raw/train_sent_emo.csv:9'),
        (err: unknown) =>
          err instanceof MerError &&
          err.type === ErrorTypes.OutputInvalid &&
          /^MELD\.Raw\/train_sent_emo\.csv:9: manifest row .* breaks the manifest schema at /.test(err.message),
      );
    });
  }
});

describe('the manifest step end to end, on a real local store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mer-hostile-numbers-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a corpus with turn numbers 2^31 and 2^53+1 commits a manifest with neither, both reported', async () => {
    const corpus = join(dir, 'iemocap');
    const c = iemocap([
      evalLine('1.0 - 2.0', 'Ses01F_impro01_F000'),
      evalLine('3.0 - 4.0', `Ses01F_impro01_M${TWO_31}`),
      evalLine('5.0 - 6.0', `Ses01F_impro01_F${TWO_53_PLUS_1}`),
    ]);
    for (const f of c.files) {
      await mkdir(dirname(join(corpus, f.path)), { recursive: true });
      await writeFile(join(corpus, f.path), await c.read(f.path));
    }
    const store = { kind: 'local' as const, root: join(dir, 'store') };
    const r = await acquireDirect({
      store,
      plan: { dataset: 'iemocap', source: { kind: 'folder', path: corpus }, labels: '6class' },
      acquire: AcquireParamsSchema.parse({}),
    });
    const rows = arrowTableToRows(parquetToTable(await createStore(store).get(r.result.manifestKey)));
    assert.deepEqual(
      rows.map((x) => [x.utteranceId, x.utteranceIndex]),
      [1, 2, 3, 4, 5].map((s) => [`Ses0${s}F_impro01_F000`, 0]),
    );
    const report = await manifestReport(store, r.plan.manifestPrefix);
    assert.deepEqual(
      report.issueList.filter((i) => i.kind === 'out_of_range').map((i) => [i.line, i.field]),
      [
        [4, 'id'],
        [5, 'id'],
      ],
    );
    // Nothing outside the store was written next to the corpus.
    assert.deepEqual((await readdir(dir)).sort(), ['iemocap', 'store']);
  });
});
