import { clip } from './manifest-common.ts';

/** A lenient RFC 4180 reader: the MELD annotation files are CSV with every quirk a spreadsheet adds. */

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
