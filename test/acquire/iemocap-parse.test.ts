import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { buildIemocapManifest } from '../../activities/acquire/iemocap.ts';
import {
  iemocapVideoHalf,
  parseIemocapDialogId,
  parseIemocapEmoEvaluation,
  parseIemocapTranscription,
  parseIemocapTurnId,
} from '../../activities/acquire/iemocap-parse.ts';
import { IEMOCAP_4CLASS, IEMOCAP_6CLASS, mapLabel } from '../../activities/acquire/labels.ts';
import { memoryCorpus } from '../helpers/memory-corpus.ts';
import { MerError } from '../../activities/common/errors.ts';
import { ManifestRowSchema, arrowTableToRows, manifestArrowSchema, rowsToArrowTable } from '../../schemas/manifest.ts';

const corpus = memoryCorpus;

const T = '\t';
function evalFile(turns: Array<[string, string, string, string]>, eol = '\n'): string {
  const blocks = turns.map(([times, id, label, vad]) =>
    [
      `[${times}]${T}${id}${T}${label}${T}[${vad}]`,
      `C-E2:${T}Neutral;${T}()`,
      `C-E3:${T}Anger; Frustration;${T}(annoyed)`,
      `A-E3:${T}val 3; act 2; dom  2;${T}()`,
    ].join(eol),
  );
  return [`% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]`, '', blocks.join(eol + eol), ''].join(eol);
}

const R = 'IEMOCAP_full_release';

function smallCorpus() {
  return corpus({
    [`${R}/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt`]: evalFile([
      ['6.2901 - 8.2357', 'Ses01F_impro01_F000', 'neu', '2.5000, 2.5000, 2.5000'],
      ['10.0100 - 11.3925', 'Ses01F_impro01_M000', 'fru', '2.0000, 3.5000, 3.5000'],
      ['14.8872 - 18.0175', 'Ses01F_impro01_F001', 'exc', '4.0000, 4.0000, 3.0000'],
      ['19.2900 - 20.7875', 'Ses01F_impro01_M001', 'xxx', '2.5000, 3.0000, 3.0000'],
    ]),
    [`${R}/Session1/dialog/EmoEvaluation/Categorical/Ses01F_impro01_e1_cat.txt`]:
      'Ses01F_impro01_F000 :Neutral state; ()\n',
    [`${R}/Session1/dialog/EmoEvaluation/Attribute/Ses01F_impro01_e2_atr.txt`]:
      '[1.0 - 2.0]\tSes01F_impro01_F999\tang\t[1, 1, 1]\n',
    [`${R}/Session1/dialog/EmoEvaluation/._Ses01F_impro01.txt`]: Buffer.from([0x00, 0x05, 0x16, 0x07, 0xff]),
    [`${R}/Session1/dialog/transcriptions/Ses01F_impro01.txt`]: [
      'Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.',
      'Ses01F_impro01_M000 [010.0100-011.3925]: Do you have your forms?',
      'Ses01F_impro01_MXX0 [012.0000-013.1000]: [LAUGHTER]',
      'Ses01F_impro01_F001 [014.8872-018.0175]: Yeah.  I have them.',
      'M: [BREATHING]',
      'Ses01F_impro01_M001 [019.2900-020.7875]: Okay.',
      '',
    ].join('\n'),
    [`${R}/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav`]: 64_000,
    [`${R}/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav`]: 44_000,
    [`${R}/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav`]: 0,
    [`${R}/Session1/sentences/wav/Ses01F_impro01/._Ses01F_impro01_M001.wav`]: 4096,
    [`${R}/Session1/dialog/avi/DivX/Ses01F_impro01.avi`]: 9_000_000,
    [`${R}/Session1/dialog/wav/Ses01F_impro01.wav`]: 5_000_000,

    [`${R}/Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt`]: evalFile([
      ['3.0000 - 5.5000', 'Ses02M_script01_1_F012', 'ang', '1.5000, 4.0000, 4.0000'],
      ['5.5000 - 7.0000', 'Ses02M_script01_1_M013', 'sad', '1.5000, 2.0000, 2.0000'],
    ]),
    [`${R}/Session2/dialog/transcriptions/Ses02M_script01_1.txt`]:
      'Ses02M_script01_1_F012 [003.0000-005.5000]: Get out.\nSes02M_script01_1_M013 [005.5000-007.0000]: Fine.\n',
    [`${R}/Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F012.wav`]: 80_000,
    [`${R}/Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_M013.wav`]: 48_000,
    [`${R}/Session2/dialog/wav/Ses02M_script01_1.wav`]: 1_000_000,
  });
}

describe('IEMOCAP ids', () => {
  test('improvised turn id: session, marker gender, speaker and turn number', () => {
    assert.deepEqual(parseIemocapTurnId('Ses02M_impro03_F007'), {
      dialogId: 'Ses02M_impro03',
      session: 2,
      markerGender: 'M',
      interaction: 'improvised',
      utteranceId: 'Ses02M_impro03_F007',
      speaker: 'F',
      turn: 7,
    });
  });

  test('scripted ids carry an extra underscore: speaker is split from the right', () => {
    const id = parseIemocapTurnId('Ses01M_script02_1_F012');
    assert.equal(id?.dialogId, 'Ses01M_script02_1');
    assert.equal(id?.speaker, 'F');
    assert.equal(id?.turn, 12);
    assert.equal(id?.interaction, 'scripted');
  });

  test('irregular dialog names parse', () => {
    for (const [uttId, dialog, interaction] of [
      ['Ses03M_impro05a_M021', 'Ses03M_impro05a', 'improvised'],
      ['Ses03M_impro08b_F003', 'Ses03M_impro08b', 'improvised'],
      ['Ses05M_script01_1b_F000', 'Ses05M_script01_1b', 'scripted'],
    ] as const) {
      const id = parseIemocapTurnId(uttId);
      assert.equal(id?.dialogId, dialog, uttId);
      assert.equal(id?.interaction, interaction, uttId);
      assert.equal(id?.session, Number(uttId.slice(3, 5)));
    }
  });

  test('XX turns and other shapes are not turn ids', () => {
    for (const bad of [
      'Ses01F_impro01_MXX0',
      'Ses01F_impro01_FXX3',
      'M',
      'Ses01F_impro01',
      'Ses1F_impro01_F000',
      'Ses01X_impro01_F000',
      'Ses01F_chat01_F000',
    ]) {
      assert.equal(parseIemocapTurnId(bad), null, bad);
    }
    assert.equal(parseIemocapDialogId('Ses01F_impro01')?.markerGender, 'F');
    assert.equal(parseIemocapDialogId('notadialog'), null);
  });

  test('videoHalf: the marker wearer named in the dialog id is on the left', () => {
    const half = (id: string) => iemocapVideoHalf(parseIemocapTurnId(id)!);
    assert.equal(half('Ses01F_impro01_F000'), 'left');
    assert.equal(half('Ses01F_impro01_M000'), 'right');
    assert.equal(half('Ses02M_script01_1_M013'), 'left');
    assert.equal(half('Ses02M_script01_1_F012'), 'right');
  });
});

describe('IEMOCAP EmoEvaluation', () => {
  test('reads only [ lines; vote lines (C-, A- with "dom  3") and the % header are ignored', () => {
    const text = evalFile([
      ['6.2901 - 8.2357', 'Ses01F_impro01_F000', 'neu', '2.5000, 2.5000, 2.5000'],
      ['10.0100 - 11.3925', 'Ses01F_impro01_M000', 'fru', '2.0000, 3.5000, 3.0000'],
    ]);
    const { turns, issues } = parseIemocapEmoEvaluation(Buffer.from(text), 'e.txt');
    assert.deepEqual(issues, []);
    assert.equal(turns.length, 2);
    // % header (1), blank (2), first block (3-6), blank (7), second summary line (8).
    assert.deepEqual(turns[1], {
      line: 8,
      turnId: 'Ses01F_impro01_M000',
      startSec: 10.01,
      endSec: 11.3925,
      label: 'fru',
      valence: 2,
      arousal: 3.5,
      dominance: 3,
    });
  });

  test('CRLF files parse with the same line numbers', () => {
    const turnsLf = parseIemocapEmoEvaluation(
      Buffer.from(evalFile([['1.0 - 2.0', 'Ses01F_impro01_F000', 'ang', '1, 2, 3']])),
      'a',
    ).turns;
    const turnsCrlf = parseIemocapEmoEvaluation(
      Buffer.from(evalFile([['1.0 - 2.0', 'Ses01F_impro01_F000', 'ang', '1, 2, 3']], '\r\n')),
      'a',
    ).turns;
    assert.deepEqual(turnsCrlf, turnsLf);
  });

  test('latin-1 bytes (invalid UTF-8) are decoded, not rejected', () => {
    const head = Buffer.from('% comment caf');
    const rest = Buffer.from(
      `\n[1.0000 - 2.5000]\tSes01F_impro01_F000\tneu\t[3.0000, 3.0000, 3.0000]\nC-E1:\tNeutral;\t(r`,
    );
    const bytes = Buffer.concat([head, Buffer.from([0xe9]), rest, Buffer.from([0xe9, 0x92, 0x29, 0x0a])]);
    const { turns, encoding } = parseIemocapEmoEvaluation(bytes, 'x.txt');
    assert.equal(encoding, 'cp1252');
    assert.equal(turns.length, 1);
    assert.equal(turns[0].label, 'neu');
  });

  test('a malformed summary line is reported with its line and field and skipped; bad VAD keeps the turn', () => {
    const text = [
      '%header',
      '[1.0 - oops]\tSes01F_impro01_F000\tneu\t[1, 2, 3]',
      '[2.0 - 3.0]\tSes01F_impro01_F001\tsad\t[1, two, 3]',
      '[3.0 - 4.0]\tSes01F_impro01_F002\thap\t[1.5, 2.5, 3.5]',
    ].join('\n');
    const { turns, issues } = parseIemocapEmoEvaluation(text, 'f.txt');
    assert.deepEqual(
      turns.map((t) => t.turnId),
      ['Ses01F_impro01_F001', 'Ses01F_impro01_F002'],
    );
    assert.equal(turns[0].valence, null);
    assert.deepEqual(
      issues.map((i) => [i.line, i.kind, i.field]),
      [
        [2, 'bad_field', 'end'],
        [3, 'bad_field', 'vad'],
      ],
    );
  });
});

describe('IEMOCAP transcriptions', () => {
  test('parses zero-padded times and text; XX and other shapes are skipped and reported with file and line', () => {
    const text = [
      'Ses02M_impro03_F007 [012.3400-015.0021]: I  said no.',
      'Ses02M_impro03_MXX0 [015.1000-016.0000]: [LAUGHTER]',
      '',
      'M: [BREATHING]',
      'Ses02M_impro03_M008 [016.5000-018.2500]:',
    ].join('\r\n');
    const p = parseIemocapTranscription(Buffer.from(text), 'Session2/dialog/transcriptions/Ses02M_impro03.txt');
    assert.deepEqual(p.byTurn.get('Ses02M_impro03_F007'), {
      line: 1,
      startSec: 12.34,
      endSec: 15.0021,
      text: 'I  said no.',
    });
    assert.equal(p.byTurn.get('Ses02M_impro03_M008')?.text, '');
    assert.equal(p.skipped, 2);
    assert.deepEqual(
      p.issues.map((i) => [i.file, i.line, i.kind, i.value]),
      [
        ['Session2/dialog/transcriptions/Ses02M_impro03.txt', 2, 'transcription_skipped', 'Ses02M_impro03_MXX0'],
        ['Session2/dialog/transcriptions/Ses02M_impro03.txt', 4, 'transcription_skipped', 'M: [BREATHING]'],
      ],
    );
  });

  test('cp1252 punctuation in a transcription becomes the intended characters', () => {
    const bytes = Buffer.concat([
      Buffer.from('Ses01F_impro01_F000 [001.0000-002.0000]: I'),
      Buffer.from([0x92]),
      Buffer.from('m fine'),
      Buffer.from([0x85]),
    ]);
    assert.equal(parseIemocapTranscription(bytes, 't').byTurn.get('Ses01F_impro01_F000')?.text, 'I’m fine…');
  });
});

describe('IEMOCAP label sets', () => {
  test('6class: the paper order is the class index; xxx/oth/dis/sur/fea are outside (-1)', () => {
    IEMOCAP_6CLASS.forEach((c, i) => assert.deepEqual(mapLabel('6class', c), { labelIndex: i, labelName: c }));
    assert.deepEqual([...IEMOCAP_6CLASS], ['hap', 'sad', 'neu', 'ang', 'exc', 'fru']);
    for (const out of ['xxx', 'oth', 'dis', 'sur', 'fea'])
      assert.deepEqual(mapLabel('6class', out), { labelIndex: -1, labelName: null });
  });

  test('4class merges exc into hap and drops fru', () => {
    assert.deepEqual([...IEMOCAP_4CLASS], ['neu', 'hap', 'ang', 'sad']);
    assert.deepEqual(mapLabel('4class', 'exc'), { labelIndex: 1, labelName: 'hap' });
    assert.deepEqual(mapLabel('4class', 'hap'), { labelIndex: 1, labelName: 'hap' });
    assert.equal(mapLabel('4class', 'fru').labelIndex, -1);
    assert.equal(mapLabel('4class', 'xxx').labelIndex, -1);
    assert.equal(mapLabel('4class', ' NEU ').labelIndex, 0);
  });
});

describe('buildIemocapManifest', () => {
  test('rows, joins, media keys, flags and summary on a small corpus (6class)', async () => {
    const c = smallCorpus();
    const { rows, issues, summary } = await buildIemocapManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'raw/iemocap/abc/',
      labelSet: '6class',
    });
    for (const row of rows) ManifestRowSchema.parse(row);
    assert.deepEqual(
      rows.map((r) => r.utteranceId),
      [
        'Ses01F_impro01_F000',
        'Ses01F_impro01_M000',
        'Ses01F_impro01_F001',
        'Ses01F_impro01_M001',
        'Ses02M_script01_1_F012',
        'Ses02M_script01_1_M013',
      ],
    );
    // Only top-level EmoEvaluation and transcription files are read: no subfolders, no ._ residue.
    assert.deepEqual([...c.reads].sort(), [
      `${R}/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt`,
      `${R}/Session1/dialog/transcriptions/Ses01F_impro01.txt`,
      `${R}/Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt`,
      `${R}/Session2/dialog/transcriptions/Ses02M_script01_1.txt`,
    ]);

    const [f000, m000, f001, m001, f012, m013] = rows;
    assert.deepEqual(f000, {
      utteranceId: 'Ses01F_impro01_F000',
      dataset: 'iemocap',
      split: 'Session1',
      session: 1,
      dialogueId: 'Ses01F_impro01',
      speaker: 'F',
      gender: 'F',
      interaction: 'improvised',
      startSec: 6.2901,
      endSec: 8.2357,
      text: 'Excuse me.',
      labelNative: 'neu',
      labelSet: '6class',
      labelIndex: 2,
      labelName: 'neu',
      sentiment: null,
      valence: 2.5,
      arousal: 2.5,
      dominance: 2.5,
      audioKey: `raw/iemocap/abc/${R}/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav`,
      videoKey: `raw/iemocap/abc/${R}/Session1/dialog/avi/DivX/Ses01F_impro01.avi`,
      dialogAudioKey: `raw/iemocap/abc/${R}/Session1/dialog/wav/Ses01F_impro01.wav`,
      videoHalf: 'left',
      season: null,
      episode: null,
      srNo: null,
      utteranceIndex: 0,
      flags: [],
    });
    assert.equal(m000.videoHalf, 'right');
    assert.equal(m000.labelIndex, 5);
    assert.equal(f001.text, 'Yeah.  I have them.');
    assert.equal(f001.audioKey, null);
    assert.deepEqual(f001.flags, ['audio_empty']);
    // Only an AppleDouble twin exists for M001's wav: that is no audio.
    assert.deepEqual(m001.flags, ['audio_missing']);
    assert.equal(m001.labelIndex, -1);
    assert.equal(m001.labelName, null);
    assert.equal(f012.dialogueId, 'Ses02M_script01_1');
    assert.equal(f012.videoHalf, 'right');
    assert.equal(m013.videoHalf, 'left');
    assert.equal(f012.interaction, 'scripted');
    assert.equal(f012.utteranceIndex, 12);
    assert.deepEqual(f012.flags, ['video_missing']);
    assert.equal(f012.videoKey, null);

    assert.deepEqual(
      issues.map((i) => [i.kind, i.line, i.value]),
      [
        // A corpus with only some of IEMOCAP's five sessions says so first.
        ['session_missing', undefined, 'Session3'],
        ['session_missing', undefined, 'Session4'],
        ['session_missing', undefined, 'Session5'],
        ['transcription_skipped', 3, 'Ses01F_impro01_MXX0'],
        ['transcription_skipped', 5, 'M: [BREATHING]'],
      ],
    );
    assert.deepEqual(summary, {
      dataset: 'iemocap',
      labelSet: '6class',
      rows: 6,
      perSplit: { Session1: 4, Session2: 2 },
      perLabel: { neu: 1, fru: 1, exc: 1, xxx: 1, ang: 1, sad: 1 },
      perClass: { hap: 0, sad: 1, neu: 1, ang: 1, exc: 1, fru: 1 },
      inLabelSet: 5,
      issues: 5,
      issueKinds: { session_missing: 3, transcription_skipped: 2 },
      mediaMissing: { audio: 2, video: 2 },
    });
  });

  test('4class summary counts exc as hap and leaves fru/xxx out', async () => {
    const c = smallCorpus();
    const { rows, summary } = await buildIemocapManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'k',
      labelSet: '4class',
    });
    assert.equal(rows.find((r) => r.labelNative === 'exc')?.labelName, 'hap');
    assert.deepEqual(summary.perClass, { neu: 1, hap: 1, ang: 1, sad: 1 });
    assert.equal(summary.inLabelSet, 4);
    assert.equal(rows.filter((r) => r.labelIndex === -1).length, 2);
  });

  test('the corpus root folder may be absent or named differently; Session folders are found anywhere', async () => {
    const bare = corpus({
      'Session3/dialog/EmoEvaluation/Ses03M_impro05a.txt': evalFile([
        ['1.0 - 2.0', 'Ses03M_impro05a_M021', 'hap', '4, 3, 3'],
      ]),
      'Session3/dialog/transcriptions/Ses03M_impro05a.txt': 'Ses03M_impro05a_M021 [001.0000-002.0000]: Yay!\n',
      'Session3/sentences/wav/Ses03M_impro05a/Ses03M_impro05a_M021.wav': 100,
    });
    const a = await buildIemocapManifest({ files: bare.files, read: bare.read, keyPrefix: '', labelSet: '6class' });
    assert.equal(a.rows[0].audioKey, 'Session3/sentences/wav/Ses03M_impro05a/Ses03M_impro05a_M021.wav');
    assert.equal(a.rows[0].split, 'Session3');
    assert.equal(a.rows[0].text, 'Yay!');

    const nested = corpus({
      'data/iemocap copy/Session5/dialog/EmoEvaluation/Ses05M_script01_1b.txt': evalFile([
        ['1.0 - 2.0', 'Ses05M_script01_1b_F000', 'sad', '2, 2, 2'],
      ]),
      'data/iemocap copy/Session5/dialog/transcriptions/Ses05M_script01_1b.txt':
        'Ses05M_script01_1b_F000 [001.0000-002.0000]: Oh.\n',
    });
    const b = await buildIemocapManifest({
      files: nested.files,
      read: nested.read,
      keyPrefix: 'p',
      labelSet: '6class',
    });
    assert.equal(b.rows[0].dialogueId, 'Ses05M_script01_1b');
    assert.equal(b.rows[0].videoHalf, 'right');
    assert.deepEqual(b.rows[0].flags, ['audio_missing', 'video_missing', 'dialog_audio_missing']);
  });

  test('a missing transcription file is one issue and its turns are flagged text_missing', async () => {
    const c = corpus({
      'S/Session4/dialog/EmoEvaluation/Ses04F_impro02.txt': evalFile([
        ['1.0 - 2.0', 'Ses04F_impro02_F000', 'ang', '1, 4, 4'],
        ['2.0 - 2.0', 'Ses04F_impro02_M000', 'neu', '3, 3, 3'],
      ]),
    });
    const { rows, issues } = await buildIemocapManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'p',
      labelSet: '6class',
    });
    assert.deepEqual(
      rows.map((r) => r.text),
      ['', ''],
    );
    assert.ok(rows.every((r) => r.flags.includes('text_missing')));
    assert.ok(rows[1].flags.includes('zero_duration'));
    assert.deepEqual(
      issues.filter((i) => i.kind !== 'session_missing').map((i) => [i.kind, i.file]),
      [['transcription_missing', 'S/Session4/dialog/transcriptions/Ses04F_impro02.txt']],
    );
  });

  test('duplicate turns across copies: shallowest copy wins, the other is reported, no duplicate rows', async () => {
    const text = evalFile([['1.0 - 2.0', 'Ses01F_impro01_F000', 'neu', '3, 3, 3']]);
    const c = corpus({
      'IEMOCAP/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt': text,
      'IEMOCAP/backup/old/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt': text,
      'IEMOCAP/Session1/dialog/transcriptions/Ses01F_impro01.txt': 'Ses01F_impro01_F000 [001.0000-002.0000]: Hi.\n',
    });
    const { rows, issues } = await buildIemocapManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'p',
      labelSet: '6class',
    });
    assert.equal(rows.length, 1);
    assert.deepEqual(
      issues.filter((i) => i.kind !== 'session_missing').map((i) => [i.kind, i.file]),
      [['ignored_copy', 'IEMOCAP/backup/old/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt']],
    );
  });

  test('no EmoEvaluation files at all is an AnnotationsMissing error saying what was expected where', async () => {
    const c = corpus({
      'IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Categorical/x.txt': 'x',
      'README.txt': 'hi',
    });
    await assert.rejects(
      buildIemocapManifest({ files: c.files, read: c.read, keyPrefix: 'raw/x', labelSet: '6class' }),
      (err: unknown) => {
        assert.ok(err instanceof MerError);
        assert.equal(err.type, 'MerAnnotationsMissing');
        assert.match(err.message, /dialog\/EmoEvaluation\/<dialog>\.txt/);
        assert.match(err.message, /raw\/x/);
        return true;
      },
    );
  });

  test('a MELD label set is a configuration error', async () => {
    const c = smallCorpus();
    await assert.rejects(
      buildIemocapManifest({ files: c.files, read: c.read, keyPrefix: 'p', labelSet: 'meld7' }),
      /does not apply to iemocap/,
    );
  });

  test('scales linearly: 10k turns over 150 dialogs build quickly', async () => {
    const entries: Record<string, string | number> = {};
    for (let d = 0; d < 150; d++) {
      const session = (d % 5) + 1;
      const dialog = `Ses0${session}F_impro${String(d).padStart(2, '0')}`;
      const turns: Array<[string, string, string, string]> = [];
      const lines: string[] = [];
      for (let t = 0; t < 67; t++) {
        const id = `${dialog}_${t % 2 ? 'M' : 'F'}${String(t).padStart(3, '0')}`;
        turns.push([`${t}.0 - ${t}.5`, id, 'neu', '3, 3, 3']);
        lines.push(`${id} [${t}.0000-${t}.5000]: words ${t}`);
        entries[`R/Session${session}/sentences/wav/${dialog}/${id}.wav`] = 100;
      }
      entries[`R/Session${session}/dialog/EmoEvaluation/${dialog}.txt`] = evalFile(turns);
      entries[`R/Session${session}/dialog/transcriptions/${dialog}.txt`] = lines.join('\n');
    }
    const c = corpus(entries);
    const t0 = performance.now();
    const { rows, issues } = await buildIemocapManifest({
      files: c.files,
      read: c.read,
      keyPrefix: 'p',
      labelSet: '6class',
    });
    const ms = performance.now() - t0;
    assert.equal(rows.length, 150 * 67);
    assert.equal(issues.length, 0);
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  });
});

describe('manifest Arrow table', () => {
  test('IEMOCAP rows round-trip through Arrow IPC with nulls, floats and flag lists intact', async () => {
    const c = smallCorpus();
    const { rows } = await buildIemocapManifest({ files: c.files, read: c.read, keyPrefix: 'k', labelSet: '6class' });
    const table = rowsToArrowTable(rows);
    assert.equal(table.numRows, rows.length);
    const back = arrowTableToRows(tableFromIPC(tableToIPC(table)));
    assert.deepEqual(back, rows);
    assert.equal(table.schema.fields.find((f) => f.name === 'audioKey')?.nullable, true);
    assert.equal(table.schema.fields.find((f) => f.name === 'utteranceId')?.nullable, false);
    assert.equal(String(table.schema.fields.find((f) => f.name === 'flags')?.type), 'List<Utf8>');
    assert.equal(table.schema.metadata.get('mer.schema'), 'manifest');
  });

  test('an empty manifest is a valid table with the full schema', () => {
    const table = rowsToArrowTable([]);
    assert.equal(table.numRows, 0);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      manifestArrowSchema.fields.map((f) => f.name),
    );
    assert.deepEqual(arrowTableToRows(tableFromIPC(tableToIPC(table))), []);
  });

  test('the row schema rejects rows that break dataset invariants', async () => {
    const c = smallCorpus();
    const { rows } = await buildIemocapManifest({ files: c.files, read: c.read, keyPrefix: 'k', labelSet: '6class' });
    const good = rows[0];
    assert.equal(ManifestRowSchema.safeParse(good).success, true);
    const broken = [
      { ...good, labelIndex: -1 },
      { ...good, split: 'Session2' },
      { ...good, videoHalf: null },
      { ...good, labelSet: 'meld7' },
      { ...good, dataset: 'meld' },
    ];
    for (const b of broken) assert.equal(ManifestRowSchema.safeParse(b).success, false, JSON.stringify(b).slice(0, 80));
  });

  test('reading a table without a required column names the column', () => {
    const table = rowsToArrowTable([]).select(['utteranceId', 'dataset']);
    assert.throws(() => arrowTableToRows(table), /lacks column\(s\): split, session/);
  });
});
