import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { MELD_EMOTIONS, MELD_SENTIMENTS, mapLabel } from '../../activities/acquire/labels.ts';
import { memoryCorpus } from '../helpers/memory-corpus.ts';
import { decodeCorpusText } from '../../activities/acquire/manifest-common.ts';
import { parseCsv } from '../../activities/acquire/csv.ts';
import { ORPHAN_LIST_CAP, buildMeldManifest } from '../../activities/acquire/meld.ts';
import { parseMeldCsv, parseMeldTime } from '../../activities/acquire/meld-csv.ts';
import { MerError } from '../../activities/common/errors.ts';
import { ManifestRowSchema, arrowTableToRows, rowsToArrowTable } from '../../schemas/manifest.ts';

const HEADER = 'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime';

/** One MELD CSV line; times are quoted as in the real files because they contain commas. */
function row(
  sr: number,
  text: string,
  speaker: string,
  emotion: string,
  sentiment: string,
  dia: number,
  utt: number,
  start = '0:00:01,000',
  end = '0:00:02,500',
): string {
  const quoted = /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  return `${sr},${quoted},${speaker},${emotion},${sentiment},${dia},${utt},3,7,"${start}","${end}"`;
}

function csv(lines: string[], eol = '\r\n'): Buffer {
  return Buffer.from([HEADER, ...lines].join(eol) + eol, 'utf8');
}

const corpus = memoryCorpus;

describe('CSV reader', () => {
  test('quoted fields: doubled quotes, embedded commas and newlines; physical line numbers stay right', () => {
    const text =
      'a,b,c\n1,"say ""hi"", then go","two\r\nlines"\r\n2,plain,"x"\n\n3,"three\nphysical\nlines",z\r4,last,row';
    const { records, problems } = parseCsv(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(records, [
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', 'say "hi", then go', 'two\nlines'] },
      { line: 4, fields: ['2', 'plain', 'x'] },
      { line: 6, fields: ['3', 'three\nphysical\nlines', 'z'] },
      { line: 9, fields: ['4', 'last', 'row'] },
    ]);
  });

  test('empty fields, trailing comma and quotes inside unquoted fields', () => {
    const { records } = parseCsv('a,,c,\nhe said "no",2,,\n');
    assert.deepEqual(records[0].fields, ['a', '', 'c', '']);
    assert.deepEqual(records[1].fields, ['he said "no"', '2', '', '']);
  });

  test('text after a closing quote is kept and reported as lenient, not fatal', () => {
    const { records, problems } = parseCsv('1,"abc"def,x\n');
    assert.deepEqual(records[0].fields, ['1', 'abcdef', 'x']);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].fatal, false);
    assert.equal(problems[0].line, 1);
  });

  test('an unterminated quote is reported at the record start; earlier records survive', () => {
    const { records, problems } = parseCsv('h\nok\n"never\nclosed\n');
    assert.deepEqual(
      records.map((r) => r.fields[0]),
      ['h', 'ok'],
    );
    assert.deepEqual(problems, [
      { line: 3, reason: 'quoted field never closed; the rest of the file is unreadable', fatal: true },
    ]);
  });
});

describe('MELD times', () => {
  test('1- and 2-digit hours; 3- and 2-digit fractions are decimal fractions', () => {
    assert.equal(parseMeldTime('00:16:16,059'), 976.059);
    assert.equal(parseMeldTime('0:12:43,012'), 763.012);
    assert.equal(parseMeldTime('0:00:01,50'), 1.5);
    assert.equal(parseMeldTime('0:00:01,5'), 1.5);
    assert.equal(parseMeldTime(' 1:02:03,004 '), 3723.004);
    for (const bad of ['', '12:43,012', '0:61:00,000', '0:00:01', 'abc', '0:00:01,1234'])
      assert.equal(parseMeldTime(bad), null, bad);
  });
});

describe('parseMeldCsv', () => {
  test('current files: UTF-8 with BOM, CRLF, curly punctuation and double spaces kept verbatim', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      csv([
        row(
          1,
          'also I was the point person on my company’s transition…',
          'Chandler',
          'neutral',
          'neutral',
          0,
          0,
          '00:16:16,059',
          '00:16:21,731',
        ),
        row(2, 'You  must’ve had “your” hands full.', 'The Interviewer', 'Neutral', 'Neutral', 0, 1),
      ]),
    ]);
    const p = parseMeldCsv(bytes, 'MELD.Raw/train_sent_emo.csv', 'train');
    assert.deepEqual(p.issues, []);
    assert.equal(p.encoding, 'utf-8');
    assert.equal(p.repaired, 0);
    assert.deepEqual(p.rows[0], {
      line: 2,
      srNo: 1,
      utterance: 'also I was the point person on my company’s transition…',
      speaker: 'Chandler',
      emotion: 'neutral',
      sentiment: 'neutral',
      dialogueId: 0,
      utteranceId: 0,
      season: 3,
      episode: 7,
      startSec: 976.059,
      endSec: 981.731,
      flags: [],
    });
    assert.equal(p.rows[1].utterance, 'You  must’ve had “your” hands full.');
    assert.equal(p.rows[1].emotion, 'neutral');
  });

  test('older copies: cp1252 read as Latin-1 (C1 characters in UTF-8) are mapped to the intended punctuation', () => {
    const mojibake = 'Wait\u0085 it\u0092s \u0091a\u0092 \u0093big\u0094 deal \u0096 really\u0097no\u00a0way';
    const p = parseMeldCsv(
      csv([row(1, mojibake, 'Joey', 'surprise', 'positive', 3, 0)], '\n'),
      'dev_sent_emo.csv',
      'dev',
    );
    assert.equal(p.rows[0].utterance, 'Wait… it’s ‘a’ “big” deal – really—no way');
    assert.equal(p.encoding, 'utf-8');
    assert.equal(p.repaired, 9);
  });

  test('raw cp1252 bytes (not valid UTF-8) are decoded as cp1252', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${HEADER}\r\n1,"I`),
      Buffer.from([0x92]),
      Buffer.from('m sure'),
      Buffer.from([0x85, 0xa0]),
      Buffer.from('caf'),
      Buffer.from([0xe9]),
      Buffer.from(`",Ross,joy,positive,1,0,3,7,"0:00:01,000","0:00:02,000"\r\n`),
    ]);
    const p = parseMeldCsv(bytes, 'test_sent_emo.csv', 'test');
    assert.equal(p.encoding, 'cp1252');
    assert.equal(p.rows[0].utterance, 'I’m sure… café');
  });

  test('a file mixing UTF-8 sequences with stray cp1252 bytes keeps both readable', () => {
    const decoded = decodeCorpusText(
      Buffer.concat([Buffer.from('“ok” '), Buffer.from([0x93]), Buffer.from('yes'), Buffer.from([0x94])]),
    );
    assert.equal(decoded.encoding, 'mixed');
    assert.equal(decoded.text, '“ok” “yes”');
  });

  test('mixed LF and CRLF line endings and quoted embedded newlines: rows and line numbers', () => {
    const text =
      `${HEADER}\r\n` +
      `${row(1, 'first', 'Monica', 'joy', 'positive', 0, 0)}\n` +
      `${row(2, 'a two\r\nline "quoted" turn, with comma', 'Ross', 'anger', 'negative', 0, 1)}\r\n` +
      `3,bad row,Rachel,angry,negative,0,2,3,7,"0:00:01,000","0:00:02,000"\n` +
      `${row(4, 'after', 'Phoebe', 'fear', 'negative', 0, 3)}\r\n`;
    const p = parseMeldCsv(Buffer.from(text), 'train_sent_emo.csv', 'train');
    // Row 2 spans physical lines 3-4, so the bad row is on line 5 and the last row on line 6.
    assert.deepEqual(
      p.rows.map((r) => [r.line, r.srNo]),
      [
        [2, 1],
        [3, 2],
        [6, 4],
      ],
    );
    assert.equal(p.rows[1].utterance, 'a two\nline "quoted" turn, with comma');
    assert.deepEqual(p.issues, [
      {
        file: 'train_sent_emo.csv',
        line: 5,
        field: 'Emotion',
        value: 'angry',
        reason: 'not one of neutral, joy, surprise, anger, sadness, disgust, fear; row skipped',
        kind: 'bad_field',
      },
    ]);
  });

  test('bad fields are reported with file, physical line, field and value; the rest goes on', () => {
    const p = parseMeldCsv(
      csv([
        row(1, 'ok', 'A', 'joy', 'positive', 0, 0),
        row(2, 'multi\nline\ntext', 'B', 'joy', 'positive', 0, 1),
        '3,x,C,joy,positive,zero,2,3,7,"0:00:01,000","0:00:02,000"',
        '4,x,D,joy,meh,0,3,3,7,"0:00:01,000","99:00"',
        '5,too,few,fields',
        row(6, 'fine', 'E', 'disgust', 'negative', 0, 5),
      ]),
      'f.csv',
      'train',
    );
    assert.deepEqual(
      p.rows.map((r) => r.srNo),
      [1, 2, 6],
    );
    assert.deepEqual(
      p.issues.map((i) => [i.line, i.field, i.value, i.kind]),
      [
        [6, 'Dialogue_ID', 'zero', 'bad_field'],
        [7, 'Sentiment', 'meh', 'bad_field'],
        [7, 'EndTime', '99:00', 'bad_field'],
        [8, undefined, '4 fields', 'bad_row'],
      ],
    );
  });

  test('1-digit hours, 2-digit fractions and start == end (flagged, not dropped)', () => {
    const p = parseMeldCsv(
      csv([
        row(1, 'a', 'A', 'joy', 'positive', 0, 0, '0:12:43,012', '0:12:44,50'),
        row(2, 'b', 'B', 'sadness', 'negative', 0, 1, '0:12:45,000', '00:12:45,000'),
      ]),
      'f.csv',
      'train',
    );
    assert.deepEqual(
      p.rows.map((r) => [r.startSec, r.endSec, r.flags]),
      [
        [763.012, 764.5, []],
        [765, 765, ['zero_duration']],
      ],
    );
    assert.deepEqual(p.issues, []);
  });

  test('Sr No. repeats are tolerated; a repeated (Dialogue_ID, Utterance_ID) is an issue and the first row wins', () => {
    const p = parseMeldCsv(
      csv([
        row(7, 'one', 'A', 'joy', 'positive', 4, 0),
        row(7, 'two', 'A', 'joy', 'positive', 4, 1),
        row(9, 'again', 'A', 'anger', 'negative', 4, 1),
      ]),
      'f.csv',
      'test',
    );
    assert.deepEqual(
      p.rows.map((r) => r.utterance),
      ['one', 'two'],
    );
    assert.deepEqual(
      p.issues.map((i) => [i.kind, i.line, i.value]),
      [['duplicate_key', 4, 'dia4_utt1']],
    );
  });

  test('Utterance_ID gaps are kept as they are', () => {
    const p = parseMeldCsv(
      csv([
        row(1, 'a', 'A', 'joy', 'positive', 2, 0),
        row(2, 'b', 'B', 'joy', 'positive', 2, 3),
        row(3, 'c', 'C', 'joy', 'positive', 2, 4),
      ]),
      'f',
      'train',
    );
    assert.deepEqual(
      p.rows.map((r) => r.utteranceId),
      [0, 3, 4],
    );
  });

  test('a wrong header names missing and extra columns and the file is unreadable, not a crash', () => {
    const bytes = Buffer.from(
      'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utt_ID,Season,Episode,StartTime,EndTime,Notes\n1,a,b\n',
    );
    const p = parseMeldCsv(bytes, 'MELD.Raw/dev_sent_emo.csv', 'dev');
    assert.equal(p.readable, false);
    assert.equal(p.rows.length, 0);
    assert.equal(p.issues.length, 1);
    assert.equal(p.issues[0].kind, 'bad_header');
    assert.equal(p.issues[0].file, 'MELD.Raw/dev_sent_emo.csv');
    assert.match(p.issues[0].reason, /missing column\(s\) "Utterance_ID"/);
    assert.match(p.issues[0].reason, /unexpected column\(s\) "Utt_ID", "Notes"/);
    assert.equal(parseMeldCsv(new Uint8Array(0), 'e.csv', 'dev').issues[0].kind, 'bad_header');
  });
});

describe('MELD label sets', () => {
  test('meld7 order and sentiment3', () => {
    assert.deepEqual([...MELD_EMOTIONS], ['neutral', 'joy', 'surprise', 'anger', 'sadness', 'disgust', 'fear']);
    assert.deepEqual([...MELD_SENTIMENTS], ['neutral', 'positive', 'negative']);
    assert.deepEqual(mapLabel('meld7', 'Fear'), { labelIndex: 6, labelName: 'fear' });
    assert.deepEqual(mapLabel('sentiment3', 'negative'), { labelIndex: 2, labelName: 'negative' });
    assert.equal(mapLabel('meld7', 'fru').labelIndex, -1);
  });
});

function meldCorpus() {
  const cp1252Copy = Buffer.concat([
    Buffer.from(`${HEADER}\r\n1,"old`),
    Buffer.from([0x92]),
    Buffer.from(`",X,joy,positive,0,0,3,7,"0:00:01,000","0:00:02,000"\r\n`),
  ]);
  const entries: Record<string, string | Uint8Array | number> = {
    'MELD.Raw/train_sent_emo.csv': csv([
      row(1, 'Hi there’s', 'Chandler', 'neutral', 'neutral', 0, 0),
      row(2, 'Oh my God!', 'Monica', 'surprise', 'positive', 0, 1),
      row(3, 'Later.', 'Ross', 'sadness', 'negative', 1, 0),
      row(4, 'Gap!', 'Ross', 'anger', 'negative', 1, 2),
    ]),
    'MELD.Raw/train/train_sent_emo.csv': cp1252Copy,
    'MELD.Raw/dev_sent_emo.csv': csv([
      row(1, 'Dev line', 'Joey', 'joy', 'positive', 110, 6),
      row(2, 'Missing clip', 'Joey', 'fear', 'negative', 110, 7),
    ]),
    'MELD.Raw/test_sent_emo.csv': csv([
      row(1, 'Test line', 'Rachel', 'disgust', 'negative', 0, 0, '0:00:05,000', '0:00:05,000'),
    ]),
    'MELD.Raw/train/train_splits/dia0_utt0.mp4': 50_000,
    'MELD.Raw/train/train_splits/dia0_utt1.mp4': 60_000,
    'MELD.Raw/train/train_splits/dia1_utt0.mp4': 0,
    'MELD.Raw/train/train_splits/dia1_utt2.mp4': 70_000,
    'MELD.Raw/train/train_splits/._dia1_utt2.mp4': 4096,
    'MELD.Raw/dev/dev_splits_complete/dia110_utt6.mp4': 10_000,
    'MELD.Raw/test/output_repeated_splits_test/dia0_utt0.mp4': 20_000,
    'MELD.Raw/test/output_repeated_splits_test/final_videos_testdia0_utt0.mp4': 20_000,
    'MELD.Raw/test/output_repeated_splits_test/final_videos_testdia9_utt9.mp4': 20_000,
  };
  for (let u = 0; u < ORPHAN_LIST_CAP + 5; u++) entries[`MELD.Raw/train/train_splits/dia999_utt${u}.mp4`] = 1000;
  entries['MELD.Raw/dev/dev_splits_complete/dia3_utt1.mp4'] = 1000;
  return corpus(entries);
}

describe('buildMeldManifest', () => {
  test('rows, global ids, clip keys, flags, issues and summary', async () => {
    const c = meldCorpus();
    const { rows, issues, summary } = await buildMeldManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'raw/meld/h1',
      labelSet: 'meld7',
    });
    for (const r of rows) ManifestRowSchema.parse(r);
    assert.deepEqual(
      rows.map((r) => r.utteranceId),
      [
        'meld_train_dia0_utt0',
        'meld_train_dia0_utt1',
        'meld_train_dia1_utt0',
        'meld_train_dia1_utt2',
        'meld_dev_dia110_utt6',
        'meld_dev_dia110_utt7',
        'meld_test_dia0_utt0',
      ],
    );
    assert.deepEqual(rows[0], {
      utteranceId: 'meld_train_dia0_utt0',
      dataset: 'meld',
      split: 'train',
      session: null,
      dialogueId: 'train_dia0',
      speaker: 'Chandler',
      gender: null,
      interaction: null,
      startSec: 1,
      endSec: 2.5,
      // The root copy (UTF-8) is used, not the cp1252 copy from inside the archive.
      text: 'Hi there’s',
      labelNative: 'neutral',
      labelSet: 'meld7',
      labelIndex: 0,
      labelName: 'neutral',
      sentiment: 'neutral',
      valence: null,
      arousal: null,
      dominance: null,
      audioKey: null,
      videoKey: 'raw/meld/h1/MELD.Raw/train/train_splits/dia0_utt0.mp4',
      dialogAudioKey: null,
      videoHalf: null,
      season: 3,
      episode: 7,
      srNo: 1,
      utteranceIndex: 0,
      flags: [],
    });
    const byId = new Map(rows.map((r) => [r.utteranceId, r]));
    assert.deepEqual(byId.get('meld_train_dia1_utt0')?.flags, ['video_empty']);
    assert.equal(byId.get('meld_train_dia1_utt0')?.videoKey, null);
    assert.equal(byId.get('meld_train_dia1_utt2')?.utteranceIndex, 2);
    assert.deepEqual(byId.get('meld_dev_dia110_utt7')?.flags, ['video_missing']);
    assert.equal(byId.get('meld_dev_dia110_utt7')?.videoKey, null);
    assert.deepEqual(byId.get('meld_test_dia0_utt0')?.flags, ['zero_duration']);
    assert.equal(
      byId.get('meld_test_dia0_utt0')?.videoKey,
      'raw/meld/h1/MELD.Raw/test/output_repeated_splits_test/dia0_utt0.mp4',
    );

    assert.deepEqual(
      issues.map((i) => [i.kind, i.file, i.value]),
      [
        ['ignored_copy', 'MELD.Raw/train/train_sent_emo.csv', undefined],
        ['orphan_clip', 'MELD.Raw/dev/dev_splits_complete', '1'],
        ['orphan_clip', 'MELD.Raw/train/train_splits', String(ORPHAN_LIST_CAP + 5)],
      ],
    );
    const trainOrphans = issues[2].reason;
    assert.match(trainOrphans, /dia999_utt0\.mp4, dia999_utt1\.mp4, dia999_utt2\.mp4/);
    assert.match(trainOrphans, / and 5 more$/);
    assert.doesNotMatch(trainOrphans, new RegExp(`dia999_utt${ORPHAN_LIST_CAP}\\.mp4`));
    assert.doesNotMatch(issues.map((i) => i.reason).join('\n'), /final_videos_test/);

    assert.deepEqual(summary, {
      dataset: 'meld',
      labelSet: 'meld7',
      rows: 7,
      perSplit: { train: 4, dev: 2, test: 1 },
      perLabel: { neutral: 1, surprise: 1, sadness: 1, anger: 1, joy: 1, fear: 1, disgust: 1 },
      perClass: { neutral: 1, joy: 1, surprise: 1, anger: 1, sadness: 1, disgust: 1, fear: 1 },
      inLabelSet: 7,
      issues: 3,
      issueKinds: { ignored_copy: 1, orphan_clip: 2 },
      mediaMissing: { audio: 0, video: 2 },
    });
  });

  test('sentiment3 maps the sentiment column and keeps the emotion as the native label', async () => {
    const c = meldCorpus();
    const { rows, summary } = await buildMeldManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'p',
      labelSet: 'sentiment3',
    });
    const r = rows.find((x) => x.utteranceId === 'meld_train_dia0_utt1')!;
    assert.deepEqual([r.labelNative, r.sentiment, r.labelIndex, r.labelName], ['surprise', 'positive', 1, 'positive']);
    assert.deepEqual(summary.perClass, { neutral: 1, positive: 2, negative: 4 });
  });

  test('a split whose CSV has a wrong header is an issue; the other splits still build', async () => {
    const c = corpus({
      'MELD.Raw/train_sent_emo.csv': 'Sr No.,Text\n1,hello\n',
      'MELD.Raw/dev_sent_emo.csv': csv([row(1, 'ok', 'A', 'joy', 'positive', 0, 0)]),
      'MELD.Raw/train_splits/dia0_utt0.mp4': 10,
    });
    const { rows, issues, summary } = await buildMeldManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'p',
      labelSet: 'meld7',
    });
    assert.deepEqual(
      rows.map((r) => r.utteranceId),
      ['meld_dev_dia0_utt0'],
    );
    assert.deepEqual(
      issues.map((i) => [i.kind, i.file]),
      [
        ['annotation_missing', 'test_sent_emo.csv'],
        ['bad_header', 'MELD.Raw/train_sent_emo.csv'],
        ['orphan_clip', 'MELD.Raw/train_splits'],
      ],
    );
    assert.equal(summary.mediaMissing.video, 1);
  });

  test('no CSVs at all is an AnnotationsMissing error naming the expected files', async () => {
    const c = corpus({ 'MELD.Raw/train.tar.gz': 1000, 'MELD.Raw/train_splits/dia0_utt0.mp4': 10 });
    await assert.rejects(
      buildMeldManifest({ files: c.files, read: c.read, keyPrefix: 'raw/meld', labelSet: 'meld7' }),
      (err: unknown) => {
        assert.ok(err instanceof MerError);
        assert.equal(err.type, 'MerAnnotationsMissing');
        assert.match(err.message, /train_sent_emo\.csv, dev_sent_emo\.csv, test_sent_emo\.csv/);
        return true;
      },
    );
  });

  test('an IEMOCAP label set is a configuration error', async () => {
    const c = meldCorpus();
    await assert.rejects(
      buildMeldManifest({ files: c.files, read: c.read, keyPrefix: 'p', labelSet: '4class' }),
      /does not apply to meld/,
    );
  });

  test('MELD rows round-trip through Arrow IPC', async () => {
    const c = meldCorpus();
    const { rows } = await buildMeldManifest({ files: c.files, read: c.read, keyPrefix: 'p', labelSet: 'meld7' });
    assert.deepEqual(arrowTableToRows(tableFromIPC(tableToIPC(rowsToArrowTable(rows)))), rows);
  });

  test('scales linearly: ~13.7k rows and clips build quickly', async () => {
    const lines: string[] = [];
    const entries: Record<string, string | Uint8Array | number> = {};
    for (let d = 0; d < 1370; d++) {
      for (let u = 0; u < 10; u++) {
        lines.push(
          row(
            lines.length,
            `utterance ${d} ${u}, "quoted"`,
            'Speaker',
            MELD_EMOTIONS[u % 7],
            'neutral',
            d,
            u,
            '0:01:00,000',
            '0:01:02,000',
          ),
        );
        entries[`MELD.Raw/train_splits/dia${d}_utt${u}.mp4`] = 1000;
      }
    }
    entries['MELD.Raw/train_sent_emo.csv'] = csv(lines);
    const c = corpus(entries);
    const t0 = performance.now();
    const { rows, summary } = await buildMeldManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'p',
      labelSet: 'meld7',
    });
    const ms = performance.now() - t0;
    assert.equal(rows.length, 13_700);
    assert.equal(summary.mediaMissing.video, 0);
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  });
});
