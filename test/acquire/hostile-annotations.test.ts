import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildIemocapManifest } from '../../activities/acquire/iemocap.ts';
import { parseIemocapEmoEvaluation, parseIemocapTranscription } from '../../activities/acquire/iemocap-parse.ts';
import { buildMeldManifest } from '../../activities/acquire/meld.ts';
import { parseMeldCsv } from '../../activities/acquire/meld-csv.ts';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { acquireDirect } from '../../cli/direct.ts';
import { quarantineFromStore } from '../../cli/quarantine.ts';
import { renderStatus, type RunStatus } from '../../cli/status.ts';
import { AcquireParamsSchema, type PipelineInput } from '../../schemas/config.ts';
import { memoryCorpus } from '../helpers/memory-corpus.ts';

/**
 * Annotations that would otherwise pass in silence: label words outside IEMOCAP's codes, a session
 * missing from a corpus, NUL characters in text, UTF-16 and BOM/CRLF files, and files too large to be
 * read as one string. Each is an issue (file, line, field) or a named error; corpus-wide findings come
 * first in issues.jsonl and are warnings in `mer status`.
 */

const R = 'IEMOCAP_full_release';

function evalLine(times: string, id: string, label = 'neu'): string {
  return `[${times}]\t${id}\t${label}\t[2.5, 2.5, 2.5]`;
}

function evalFile(session: number, lines: string[], dialog = `Ses0${session}F_impro01`): Record<string, string> {
  return { [`${R}/Session${session}/dialog/EmoEvaluation/${dialog}.txt`]: ['% h', '', ...lines, ''].join('\n') };
}

function sessions(list: number[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of list) Object.assign(out, evalFile(s, [evalLine('1 - 2', `Ses0${s}F_impro01_F000`)]));
  return out;
}

async function build(entries: Record<string, string | Uint8Array | number>, maxAnnotationBytes?: number) {
  const c = memoryCorpus(entries);
  return buildIemocapManifest({
    files: c.files,
    read: c.read,
    keyPrefix: 'k',
    labelSet: '6class',
    ...(maxAnnotationBytes ? { maxAnnotationBytes } : {}),
  });
}

describe('IEMOCAP label words outside the known codes', () => {
  test('each is an issue on its line; one corpus-wide issue first counts them; rows stay, outside the set', async () => {
    const { rows, issues, summary } = await build({
      ...sessions([2, 3, 4, 5]),
      ...evalFile(1, [
        evalLine('1 - 2', 'Ses01F_impro01_F000', 'joy'),
        evalLine('3 - 4', 'Ses01F_impro01_M000', 'JOY'),
        evalLine('5 - 6', 'Ses01F_impro01_F001', 'Neu'),
        evalLine('7 - 8', 'Ses01F_impro01_M001', 'happy'),
      ]),
    });
    const file = `${R}/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt`;
    assert.equal(issues[0].kind, 'unknown_labels');
    assert.equal(issues[0].file, R);
    assert.match(
      issues[0].reason,
      /^3 turn\(s\) carry label words that are not IEMOCAP codes: "joy" x1 \(first .*:3\)/,
    );
    assert.deepEqual(
      issues.filter((i) => i.kind === 'unknown_label').map((i) => [i.file, i.line, i.field, i.value]),
      [
        [file, 3, 'label', 'joy'],
        [file, 4, 'label', 'JOY'],
        [file, 6, 'label', 'happy'],
      ],
    );
    const s1 = rows.filter((r) => r.session === 1);
    assert.deepEqual(
      s1.map((r) => [r.labelNative, r.labelIndex]),
      [
        ['joy', -1],
        ['joy', -1],
        ['neu', 2],
        ['happy', -1],
      ],
    );
    assert.equal(summary.issueKinds.unknown_label, 3);
    assert.equal(summary.issueKinds.unknown_labels, 1);
  });
});

describe('a session missing from the corpus', () => {
  test('Session3 absent among 1..5 is the first issue, naming the sessions present', async () => {
    const { issues, summary } = await build(sessions([1, 2, 4, 5]));
    assert.deepEqual(issues[0], {
      file: `${R}/Session3`,
      value: 'Session3',
      reason:
        'Session3 is missing (the corpus has Session1, Session2, Session4, Session5): an incomplete copy or an archive cut short? Its turns are not in the manifest',
      kind: 'session_missing',
    });
    assert.deepEqual(summary.issueKinds, { session_missing: 1, transcription_missing: 4 });
  });

  test('a session folder that holds media but no EmoEvaluation is reported as such', async () => {
    const { issues } = await build({ ...sessions([1, 2, 3, 4]), [`${R}/Session5/dialog/wav/Ses05F_impro01.wav`]: 10 });
    assert.equal(issues[0].kind, 'session_missing');
    assert.match(issues[0].reason, /^Session5 has no dialog\/EmoEvaluation\/<dialog>\.txt annotations/);
  });

  test('MELD: a split without its CSV is the first issue', async () => {
    const header =
      'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime';
    const row = '1,hi,Ross,joy,positive,0,0,3,7,"0:00:01,000","0:00:02,000"';
    const c = memoryCorpus({
      'MELD.Raw/train_sent_emo.csv': `${header}\n${row}\n`,
      'MELD.Raw/dev_sent_emo.csv': `${header}\n${row}\n`,
      'MELD.Raw/train_splits/dia9_utt9.mp4': 10,
    });
    const { issues } = await buildMeldManifest({ files: c.files, read: c.read, keyPrefix: 'k', labelSet: 'meld7' });
    assert.deepEqual(
      issues.map((i) => i.kind),
      ['annotation_missing', 'orphan_clip'],
    );
  });
});

describe('NUL characters in text are removed and reported', () => {
  test('IEMOCAP transcription text and an EmoEvaluation line', () => {
    const t = parseIemocapTranscription('Ses01F_impro01_F000 [001.0000-002.0000]: Ex\0cuse\0 me.\n', 't.txt');
    assert.equal(t.byTurn.get('Ses01F_impro01_F000')?.text, 'Excuse me.');
    assert.deepEqual(t.issues, [
      { file: 't.txt', line: 1, field: 'text', value: '2', reason: '2 NUL character(s) removed', kind: 'nul_removed' },
    ]);
    const e = parseIemocapEmoEvaluation(`% h\n\0${evalLine('1 - 2', 'Ses01F_impro01_F000', 'n\0eu')}\n`, 'e.txt');
    assert.deepEqual(
      e.turns.map((x) => x.label),
      ['neu'],
    );
    assert.deepEqual(
      e.issues.map((i) => [i.line, i.field, i.kind]),
      [[2, 'line', 'nul_removed']],
    );
  });

  test('MELD: NUL in the header and in fields is removed, each reported with its column and line', () => {
    const csv =
      'Sr No.,Utter\0ance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\r\n' +
      '1,"Hi\0 there",Ro\0ss,joy,positive,0,0,3,7,"0:00:01,000","0:00:02,000"\r\n';
    const p = parseMeldCsv(Buffer.from(csv), 'm.csv', 'train');
    assert.deepEqual(
      p.rows.map((r) => [r.utterance, r.speaker]),
      [['Hi there', 'Ross']],
    );
    assert.deepEqual(
      p.issues.map((i) => [i.line, i.field, i.kind]),
      [
        [1, 'header', 'nul_removed'],
        [2, 'Utterance', 'nul_removed'],
        [2, 'Speaker', 'nul_removed'],
      ],
    );
  });
});

describe('encodings and line endings', () => {
  const text = `% h\r\n\r\n${evalLine('1.5 - 2.5', 'Ses01F_impro01_F000', 'ang')}\r\n`;
  const expected = parseIemocapEmoEvaluation(text, 'e.txt');

  test('UTF-16 LE and BE with BOM read like UTF-8 (no NUL between characters)', () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const be = Buffer.from(le);
    be.swap16();
    for (const bytes of [le, be]) {
      const p = parseIemocapEmoEvaluation(bytes, 'e.txt');
      assert.equal(p.encoding, 'utf-16');
      assert.deepEqual(p.turns, expected.turns);
      assert.deepEqual(p.issues, []);
    }
  });

  test('a UTF-8 BOM with CRLF, and a MELD CSV in UTF-16 with CRLF', () => {
    const p = parseIemocapEmoEvaluation(Buffer.from(`\ufeff${text}`, 'utf8'), 'e.txt');
    assert.deepEqual(p.turns, expected.turns);
    const csv =
      '\ufeffSr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\r\n' +
      '1,"Oh, hi",Ross,joy,positive,0,0,3,7,"0:00:01,000","0:00:02,000"\r\n';
    const m = parseMeldCsv(Buffer.from(csv, 'utf16le'), 'm.csv', 'train');
    assert.deepEqual(m.issues, []);
    assert.equal(m.rows[0].utterance, 'Oh, hi');
  });
});

describe('an annotation file too large to read as one string', () => {
  const big = evalFile(
    1,
    Array.from({ length: 80 }, (_, k) => evalLine('1 - 2', `Ses01F_impro01_F${String(k).padStart(3, '0')}`)),
  );
  const bigPath = Object.keys(big)[0];
  const bigSize = Buffer.byteLength(big[bigPath]);

  test('fails non-retryable as MerAnnotationTooLarge, naming the file and the limit, before reading it', async () => {
    const c = memoryCorpus({ ...sessions([2, 3, 4, 5]), ...big });
    await assert.rejects(
      buildIemocapManifest({
        files: c.files,
        read: c.read,
        keyPrefix: 'k',
        labelSet: '6class',
        maxAnnotationBytes: 2048,
      }),
      (err: unknown) =>
        err instanceof MerError &&
        err.type === ErrorTypes.AnnotationTooLarge &&
        err.message.startsWith(`${bigPath}: ${bigSize} bytes is more than an annotation file may hold (2048 bytes`),
    );
    assert.ok(!c.reads.includes(bigPath), 'refused by its listed size, not read');
  });

  test('a file whose listed size understates it is refused once read; a file at the limit is read', async () => {
    const c = memoryCorpus({ ...sessions([2, 3, 4, 5]), ...big });
    const lying = c.files.map((f) => (f.path === bigPath ? { ...f, size: 10 } : f));
    await assert.rejects(
      buildIemocapManifest({
        files: lying,
        read: c.read,
        keyPrefix: 'k',
        labelSet: '6class',
        maxAnnotationBytes: 2048,
      }),
      (err: unknown) => err instanceof MerError && err.type === ErrorTypes.AnnotationTooLarge,
    );
    const ok = await build({ ...sessions([2, 3, 4, 5]), ...big }, bigSize);
    assert.equal(ok.rows.length, 84);
  });

  test('MELD CSV over the limit: same error, naming the CSV', async () => {
    const header =
      'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime';
    const c = memoryCorpus({ 'MELD.Raw/train_sent_emo.csv': `${header}\n${'x'.repeat(5000)}\n` });
    await assert.rejects(
      buildMeldManifest({ files: c.files, read: c.read, keyPrefix: 'k', labelSet: 'meld7', maxAnnotationBytes: 1024 }),
      (err: unknown) =>
        err instanceof MerError &&
        err.type === ErrorTypes.AnnotationTooLarge &&
        /^MELD\.Raw\/train_sent_emo\.csv: \d+ bytes .*\(1024 bytes, 0\.0 MiB/.test(err.message),
    );
  });
});

describe('mer status shows corpus-wide findings as warnings', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mer-hostile-annotations-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a corpus without Session3 and with an unknown label: both are warning lines read from the store', async () => {
    const corpus = join(dir, 'corpus');
    const entries = {
      ...sessions([1, 2, 4]),
      ...evalFile(5, [evalLine('1 - 2', 'Ses05F_impro01_F000', 'amused')]),
    };
    for (const [path, text] of Object.entries(entries)) {
      await mkdir(dirname(join(corpus, path)), { recursive: true });
      await writeFile(join(corpus, path), text);
    }
    const store = { kind: 'local' as const, root: join(dir, 'store') };
    const r = await acquireDirect({
      store,
      plan: { dataset: 'iemocap', source: { kind: 'folder', path: corpus }, labels: '6class' },
      acquire: AcquireParamsSchema.parse({}),
    });
    const stage = {
      stage: 'acquire',
      dataset: 'iemocap',
      status: 'done' as const,
      counts: { rows: r.result.rows, issues: r.result.issues },
      summaryKey: r.result.summaryKey,
    };
    const quarantined = await quarantineFromStore({ store } as PipelineInput, [stage]);
    const status: RunStatus = {
      workflowId: 'w',
      runId: 'r',
      status: 'COMPLETED',
      startTime: '2024-01-01T00:00:00.000Z',
      closeTime: null,
      config: { configHash: 'h', name: null, stages: ['acquire'], store: 'local', datasets: [] },
      stages: [stage],
      quarantined,
      failure: null,
      live: false,
      ui: null,
    };
    const lines = renderStatus(status);
    const warnings = lines.filter((l) => l.startsWith('  warning iemocap: '));
    assert.equal(warnings.length, 2, lines.join('\n'));
    assert.match(
      warnings[0],
      /IEMOCAP_full_release\/Session3: Session3 is missing \(the corpus has Session1, Session2, Session4, Session5\)/,
    );
    assert.match(warnings[1], /1 turn\(s\) carry label words that are not IEMOCAP codes: "amused"/);
  });
});
