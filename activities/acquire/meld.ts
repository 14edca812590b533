import type { AcquireIssue, ManifestRow, MeldSplit, RowFlag } from '../../schemas/manifest.ts';
import { MELD_SPLITS } from '../../schemas/manifest.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { MELD_EMOTIONS, MELD_SENTIMENTS, mapLabel } from './labels.ts';
import type { BuildManifestInput, CorpusFile, ManifestBuildResult, TextEncodingGuess } from './manifest-common.ts';

export type { BuildManifestInput, CorpusFile, ManifestBuildResult, ReadCorpusFile } from './manifest-common.ts';
import {
  assertLabelSetFor,
  assertValidRow,
  baseName,
  clip,
  decodeCorpusText,
  dirName,
  isIgnoredPath,
  mapLimit,
  preferShallowest,
  storeKey,
  summarise,
} from './manifest-common.ts';

// ---------------------------------------------------------------------------------------------------
// CSV

export interface CsvRecord {
  /** 1-based physical line where the record starts (quoted newlines inside earlier records counted). */
  line: number;
  fields: string[];
}

export interface CsvProblem {
  line: number;
  reason: string;
  /** Fatal problems drop the record; the others were read leniently and keep it. */
  fatal: boolean;
}

function countLineBreaks(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13 && text.charCodeAt(i + 1) !== 10) n++;
  }
  return n;
}

/**
 * RFC 4180 reader that also accepts what the MELD files contain: LF, CRLF and lone CR mixed in one
 * file, newlines and commas inside quoted fields, `""` escapes, and quotes inside unquoted fields
 * (taken literally). Blank lines are skipped. Newlines inside fields are normalised to LF.
 */
export function parseCsv(text: string): { records: CsvRecord[]; problems: CsvProblem[] } {
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const recordLine = line;
    const fields: string[] = [];
    let dropped = false;
    for (;;) {
      let value: string;
      if (text.charCodeAt(i) === 34 /* " */) {
        let buf = '';
        let pos = i + 1;
        let closed = false;
        for (;;) {
          const q = text.indexOf('"', pos);
          if (q < 0) break;
          buf += text.slice(pos, q);
          if (text.charCodeAt(q + 1) === 34) {
            buf += '"';
            pos = q + 2;
            continue;
          }
          pos = q + 1;
          closed = true;
          break;
        }
        if (!closed) {
          problems.push({
            line: recordLine,
            reason: 'quoted field never closed; the rest of the file is unreadable',
            fatal: true,
          });
          line += countLineBreaks(text, i, n);
          i = n;
          dropped = true;
          break;
        }
        line += countLineBreaks(text, i, pos);
        let stray = pos;
        while (stray < n) {
          const c = text.charCodeAt(stray);
          if (c === 44 || c === 10 || c === 13) break;
          stray++;
        }
        if (stray > pos) {
          problems.push({
            line: recordLine,
            reason: `text after a closing quote (${clip(text.slice(pos, stray), 40)}) kept as part of the field`,
            fatal: false,
          });
          buf += text.slice(pos, stray);
        }
        i = stray;
        value = buf.includes('\r') ? buf.replace(/\r\n?/g, '\n') : buf;
      } else {
        let end = i;
        while (end < n) {
          const c = text.charCodeAt(end);
          if (c === 44 || c === 10 || c === 13) break;
          end++;
        }
        value = text.slice(i, end);
        i = end;
      }
      fields.push(value);
      if (i < n && text.charCodeAt(i) === 44) {
        i++;
        continue;
      }
      if (i < n) {
        i += text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
        line++;
      }
      break;
    }
    if (dropped) break;
    if (fields.length === 1 && fields[0].trim() === '') continue;
    records.push({ line: recordLine, fields });
  }
  return { records, problems };
}

// ---------------------------------------------------------------------------------------------------
// MELD CSV

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

function parseCount(value: string): number | null {
  const t = value.trim();
  return /^\d{1,9}$/.test(t) ? Number(t) : null;
}

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
    const count = (c: (typeof MELD_COLUMNS)[number]): number => {
      const v = parseCount(get(c));
      if (v === null) {
        bad(c, get(c), 'not a non-negative integer');
        ok = false;
        return -1;
      }
      return v;
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
    const startSec = parseMeldTime(get('StartTime'));
    if (startSec === null) {
      bad('StartTime', get('StartTime'), 'not a H:MM:SS,mmm time');
      ok = false;
    }
    const endSec = parseMeldTime(get('EndTime'));
    if (endSec === null) {
      bad('EndTime', get('EndTime'), 'not a H:MM:SS,mmm time');
      ok = false;
    }
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

// ---------------------------------------------------------------------------------------------------
// Corpus layout

export const MELD_CSV_NAMES: Record<MeldSplit, string> = {
  train: 'train_sent_emo.csv',
  dev: 'dev_sent_emo.csv',
  test: 'test_sent_emo.csv',
};

export const MELD_CLIP_DIRS: Record<MeldSplit, string> = {
  train: 'train_splits',
  dev: 'dev_splits_complete',
  test: 'output_repeated_splits_test',
};

const SPLIT_OF_CLIP_DIR = new Map<string, MeldSplit>(MELD_SPLITS.map((s) => [MELD_CLIP_DIRS[s], s]));
const CLIP_RE = /^dia(\d+)_utt(\d+)\.mp4$/i;

/** How many orphan clip names an orphan issue lists; the count is always complete. */
export const ORPHAN_LIST_CAP = 20;

/**
 * Builds the MELD manifest. CSV copies: when a split's CSV exists at several places, the shallowest
 * path wins, which is the copy at the corpus root (`MELD.Raw/*.csv`): those are the maintained UTF-8
 * files, while the copies inside the split archives are older cp1252 ones. Ignored copies are reported.
 */
export async function buildMeldManifest(input: BuildManifestInput): Promise<ManifestBuildResult> {
  const { files, read, keyPrefix, labelSet } = input;
  assertLabelSetFor('meld', labelSet);
  const issues: AcquireIssue[] = [];

  const csvCandidates = new Map<MeldSplit, CorpusFile[]>();
  const clipCandidates = new Map<string, CorpusFile[]>();
  for (const f of files) {
    if (isIgnoredPath(f.path)) continue;
    const name = baseName(f.path);
    for (const split of MELD_SPLITS) {
      if (name === MELD_CSV_NAMES[split]) {
        const list = csvCandidates.get(split) ?? [];
        list.push(f);
        csvCandidates.set(split, list);
      }
    }
    const split = SPLIT_OF_CLIP_DIR.get(baseName(dirName(f.path)));
    if (!split || name.startsWith('final_videos_test')) continue;
    const m = CLIP_RE.exec(name);
    if (!m) continue;
    const key = meldKey(split, Number(m[1]), Number(m[2]));
    const list = clipCandidates.get(key) ?? [];
    list.push(f);
    clipCandidates.set(key, list);
  }
  if (csvCandidates.size === 0) {
    throw new MerError(
      ErrorTypes.AnnotationsMissing,
      `no MELD annotations found among ${files.length} files under ${keyPrefix || '(store root)'}: expected ` +
        `${MELD_SPLITS.map((s) => MELD_CSV_NAMES[s]).join(', ')} (normally at MELD.Raw/)`,
      { dataset: 'meld', files: files.length },
    );
  }

  const clips = new Map<string, CorpusFile>();
  for (const [key, copies] of clipCandidates) {
    const { chosen, ignored } = preferShallowest(copies);
    clips.set(key, chosen);
    for (const other of ignored)
      issues.push({
        file: other.path,
        reason: `another copy of this clip is used: ${chosen.path}`,
        kind: 'ignored_copy',
      });
  }

  const csvs: Array<{ split: MeldSplit; file: CorpusFile }> = [];
  for (const split of MELD_SPLITS) {
    const copies = csvCandidates.get(split);
    if (!copies) {
      issues.push({
        file: MELD_CSV_NAMES[split],
        reason: `no ${MELD_CSV_NAMES[split]} found; the ${split} split has no rows`,
        kind: 'annotation_missing',
      });
      continue;
    }
    const { chosen, ignored } = preferShallowest(copies);
    for (const other of ignored) {
      issues.push({
        file: other.path,
        reason: `the copy nearest the corpus root is used: ${chosen.path}`,
        kind: 'ignored_copy',
      });
    }
    csvs.push({ split, file: chosen });
  }

  const parsed = await mapLimit(csvs, 3, async ({ split, file }) =>
    parseMeldCsv(await read(file.path), file.path, split),
  );

  const rows: ManifestRow[] = [];
  const rowKeys = new Set<string>();
  for (let k = 0; k < csvs.length; k++) {
    const { split } = csvs[k];
    const parse = parsed[k];
    issues.push(...parse.issues);
    for (const r of parse.rows) {
      const key = meldKey(split, r.dialogueId, r.utteranceId);
      rowKeys.add(key);
      const clipFile = clips.get(key);
      const flags: RowFlag[] = [...r.flags];
      if (!clipFile) flags.push('video_missing');
      else if (clipFile.size === 0) flags.push('video_empty');
      const native = labelSet === 'sentiment3' ? r.sentiment : r.emotion;
      const mapped = mapLabel(labelSet, native);
      const row: ManifestRow = {
        utteranceId: `meld_${split}_dia${r.dialogueId}_utt${r.utteranceId}`,
        dataset: 'meld',
        split,
        session: null,
        dialogueId: `${split}_dia${r.dialogueId}`,
        speaker: r.speaker,
        gender: null,
        interaction: null,
        startSec: r.startSec,
        endSec: r.endSec,
        text: r.utterance,
        labelNative: r.emotion,
        labelSet,
        labelIndex: mapped.labelIndex,
        labelName: mapped.labelName,
        sentiment: r.sentiment,
        valence: null,
        arousal: null,
        dominance: null,
        audioKey: null,
        videoKey: clipFile && clipFile.size > 0 ? storeKey(keyPrefix, clipFile.path) : null,
        dialogAudioKey: null,
        videoHalf: null,
        season: r.season,
        episode: r.episode,
        srNo: r.srNo,
        utteranceIndex: r.utteranceId,
        flags,
      };
      assertValidRow(row);
      rows.push(row);
    }
  }

  // One issue per clip folder: a split without usable CSV rows would otherwise add thousands of lines.
  const orphansByDir = new Map<string, { split: MeldSplit; names: string[] }>();
  for (const [key, file] of clips) {
    if (rowKeys.has(key)) continue;
    const dir = dirName(file.path);
    const entry = orphansByDir.get(dir) ?? { split: key.slice(0, key.indexOf('/')) as MeldSplit, names: [] };
    entry.names.push(baseName(file.path));
    orphansByDir.set(dir, entry);
  }
  for (const [dir, { split, names }] of [...orphansByDir].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    names.sort(compareClipNames);
    const listed = names.slice(0, ORPHAN_LIST_CAP).join(', ');
    const more = names.length > ORPHAN_LIST_CAP ? ` and ${names.length - ORPHAN_LIST_CAP} more` : '';
    issues.push({
      file: dir,
      value: String(names.length),
      reason: `${names.length} ${split} clip(s) have no CSV row and are not used: ${listed}${more}`,
      kind: 'orphan_clip',
    });
  }

  const splitOrder = new Map<string, number>(MELD_SPLITS.map((s, i) => [s, i]));
  rows.sort(
    (a, b) =>
      (splitOrder.get(a.split) ?? 0) - (splitOrder.get(b.split) ?? 0) ||
      dialogueNumber(a) - dialogueNumber(b) ||
      a.utteranceIndex - b.utteranceIndex,
  );
  return { rows, issues, summary: summarise('meld', labelSet, rows, issues) };
}

function dialogueNumber(row: ManifestRow): number {
  return Number(row.dialogueId.slice(row.dialogueId.lastIndexOf('dia') + 3));
}

function compareClipNames(a: string, b: string): number {
  const ma = CLIP_RE.exec(a);
  const mb = CLIP_RE.exec(b);
  if (ma && mb) return Number(ma[1]) - Number(mb[1]) || Number(ma[2]) - Number(mb[2]);
  return a < b ? -1 : a > b ? 1 : 0;
}
