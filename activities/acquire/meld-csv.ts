import type { AcquireIssue, MeldSplit, RowFlag } from '../../schemas/manifest.ts';
import { parseCsv } from './csv.ts';
import { MELD_EMOTIONS, MELD_SENTIMENTS } from './labels.ts';
import {
  checkSeconds,
  clip,
  decodeCorpusText,
  numberIssue,
  readBoundedInt,
  stripNul,
  type TextEncodingGuess,
} from './manifest-common.ts';

/** One MELD split's CSV (`train_sent_emo.csv`, ...) read into typed rows, every bad row reported. */

export const MELD_COLUMNS = [
  'Sr No.',
  'Utterance',
  'Speaker',
  'Emotion',
  'Sentiment',
  'Dialogue_ID',
  'Utterance_ID',
  'Season',
  'Episode',
  'StartTime',
  'EndTime',
] as const;

export interface MeldCsvRow {
  line: number;
  srNo: number;
  utterance: string;
  speaker: string;
  /** Lower-cased emotion, one of MELD_EMOTIONS. */
  emotion: string;
  /** Lower-cased sentiment, one of MELD_SENTIMENTS. */
  sentiment: string;
  dialogueId: number;
  utteranceId: number;
  season: number;
  episode: number;
  startSec: number;
  endSec: number;
  flags: RowFlag[];
}

export interface MeldCsvParse {
  rows: MeldCsvRow[];
  issues: AcquireIssue[];
  encoding: TextEncodingGuess;
  /** C1 characters and no-break spaces mapped to what cp1252 meant. */
  repaired: number;
  /** False when the file could not be read as a MELD table at all (header wrong, empty). */
  readable: boolean;
}

const TIME_RE = /^(\d{1,2}):([0-5]\d):([0-5]\d)[,.](\d{1,3})$/;

/**
 * `H:MM:SS,mmm` with a 1- or 2-digit hour; the fraction is a decimal fraction (`,5` and `,50` are half
 * a second), since some rows carry only two digits. Rounded to the millisecond to avoid float noise.
 */
export function parseMeldTime(value: string): number | null {
  const m = TIME_RE.exec(value.trim());
  if (!m) return null;
  const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4]}`);
  return Math.round(seconds * 1000) / 1000;
}

/**
 * Bounds of the integer columns: far above the real files (Dialogue_ID < 1,100, Utterance_ID < 25,
 * 10 seasons, 25 episodes, Sr No. < 11,000) and far inside the int32 columns they are written to.
 */
const COUNT_BOUNDS = {
  'Sr No.': 9_999_999,
  Dialogue_ID: 999_999,
  Utterance_ID: 99_999,
  Season: 99,
  Episode: 999,
} as const;

const EMOTIONS: ReadonlySet<string> = new Set(MELD_EMOTIONS);
const SENTIMENTS: ReadonlySet<string> = new Set(MELD_SENTIMENTS);

export function meldKey(split: MeldSplit, dialogueId: number, utteranceId: number): string {
  return `${split}/${dialogueId}/${utteranceId}`;
}

/**
 * Parses one MELD split CSV. Bad rows are reported (file, physical line, field, value) and skipped;
 * the rest of the file goes on. Rows are keyed by (Dialogue_ID, Utterance_ID), since `Sr No.` repeats.
 */
export function parseMeldCsv(bytes: Uint8Array, fileName: string, split: MeldSplit): MeldCsvParse {
  const decoded = decodeCorpusText(bytes);
  const issues: AcquireIssue[] = [];
  const rows: MeldCsvRow[] = [];
  const result = (readable: boolean): MeldCsvParse => ({
    rows,
    issues,
    encoding: decoded.encoding,
    repaired: decoded.repaired,
    readable,
  });

  const { records, problems } = parseCsv(decoded.text);
  for (const p of problems) {
    issues.push({ file: fileName, line: p.line, reason: p.reason, kind: p.fatal ? 'csv_syntax' : 'csv_lenient' });
  }
  // NUL characters are removed from every field and reported against the column they were in.
  for (let r = 0; r < records.length; r++) {
    const fields = records[r].fields;
    for (let k = 0; k < fields.length; k++) {
      const { text, removed } = stripNul(fields[k]);
      if (!removed) continue;
      fields[k] = text;
      const column = r === 0 ? 'header' : (records[0].fields[k]?.trim() ?? `column ${k + 1}`);
      issues.push({
        file: fileName,
        line: records[r].line,
        field: column,
        value: String(removed),
        reason: `${removed} NUL character(s) removed`,
        kind: 'nul_removed',
      });
    }
  }
  const header = records[0];
  if (!header) {
    issues.push({ file: fileName, reason: 'file is empty: no header line', kind: 'bad_header' });
    return result(false);
  }
  const names = header.fields.map((f) => f.trim());
  const missing = MELD_COLUMNS.filter((c) => !names.includes(c));
  const extra = names.filter((c) => !(MELD_COLUMNS as readonly string[]).includes(c));
  const repeated = names.filter((c, k) => names.indexOf(c) !== k);
  if (missing.length || extra.length || repeated.length) {
    const parts = [
      missing.length ? `missing column(s) ${missing.map((c) => JSON.stringify(c)).join(', ')}` : '',
      extra.length ? `unexpected column(s) ${extra.map((c) => JSON.stringify(c)).join(', ')}` : '',
      repeated.length ? `repeated column(s) ${repeated.map((c) => JSON.stringify(c)).join(', ')}` : '',
    ].filter(Boolean);
    issues.push({
      file: fileName,
      line: header.line,
      value: clip(names.join(',')),
      reason: `header is not the MELD header (${MELD_COLUMNS.join(',')}): ${parts.join('; ')}; file skipped`,
      kind: 'bad_header',
    });
    return result(false);
  }
  // Columns are addressed by name so a reordered but complete header still reads correctly.
  const col = Object.fromEntries(MELD_COLUMNS.map((c) => [c, names.indexOf(c)])) as Record<
    (typeof MELD_COLUMNS)[number],
    number
  >;

  const firstLineOf = new Map<string, number>();
  for (let r = 1; r < records.length; r++) {
    const { line, fields } = records[r];
    if (fields.length !== names.length) {
      issues.push({
        file: fileName,
        line,
        value: `${fields.length} fields`,
        reason: `expected ${names.length} fields, found ${fields.length}; row skipped`,
        kind: 'bad_row',
      });
      continue;
    }
    const get = (c: (typeof MELD_COLUMNS)[number]) => fields[col[c]];
    const bad = (field: string, value: string, reason: string) =>
      issues.push({
        file: fileName,
        line,
        field,
        value: clip(value),
        reason: `${reason}; row skipped`,
        kind: 'bad_field',
      });
    let ok = true;
    const count = (c: keyof typeof COUNT_BOUNDS): number => {
      const v = readBoundedInt(get(c), 0, COUNT_BOUNDS[c]);
      if ('value' in v) return v.value;
      issues.push(numberIssue(fileName, line, c, get(c), v, 'row skipped'));
      ok = false;
      return -1;
    };
    const srNo = count('Sr No.');
    const dialogueId = count('Dialogue_ID');
    const utteranceId = count('Utterance_ID');
    const season = count('Season');
    const episode = count('Episode');
    const emotion = get('Emotion').trim().toLowerCase();
    if (!EMOTIONS.has(emotion)) {
      bad('Emotion', get('Emotion'), `not one of ${MELD_EMOTIONS.join(', ')}`);
      ok = false;
    }
    const sentiment = get('Sentiment').trim().toLowerCase();
    if (!SENTIMENTS.has(sentiment)) {
      bad('Sentiment', get('Sentiment'), `not one of ${MELD_SENTIMENTS.join(', ')}`);
      ok = false;
    }
    const time = (c: 'StartTime' | 'EndTime'): number | null => {
      const v = parseMeldTime(get(c));
      if (v === null) {
        bad(c, get(c), 'not a H:MM:SS,mmm time');
        ok = false;
        return null;
      }
      const checked = checkSeconds(v, get(c).trim());
      if ('value' in checked) return checked.value;
      issues.push(numberIssue(fileName, line, c, get(c), checked, 'row skipped'));
      ok = false;
      return null;
    };
    const startSec = time('StartTime');
    const endSec = time('EndTime');
    if (!ok || startSec === null || endSec === null) continue;

    const key = meldKey(split, dialogueId, utteranceId);
    const firstLine = firstLineOf.get(key);
    if (firstLine !== undefined) {
      issues.push({
        file: fileName,
        line,
        field: 'Dialogue_ID/Utterance_ID',
        value: `dia${dialogueId}_utt${utteranceId}`,
        reason: `same dialogue and utterance as line ${firstLine}; the first is kept`,
        kind: 'duplicate_key',
      });
      continue;
    }
    firstLineOf.set(key, line);

    const flags: RowFlag[] = [];
    if (endSec === startSec) flags.push('zero_duration');
    if (endSec < startSec) {
      flags.push('negative_duration');
      issues.push({
        file: fileName,
        line,
        field: 'EndTime',
        value: get('EndTime'),
        reason: 'end before start; kept and flagged (the clip, not these times, is cut)',
        kind: 'negative_duration',
      });
    }
    rows.push({
      line,
      srNo,
      // Kept verbatim (double spaces included): normalising is the tokenizer's job, not the manifest's.
      utterance: get('Utterance'),
      speaker: get('Speaker').trim(),
      emotion,
      sentiment,
      dialogueId,
      utteranceId,
      season,
      episode,
      startSec,
      endSec,
      flags,
    });
  }
  return result(true);
}
