import type { MeldCsvEncoding } from './corpus.ts';
import { MELD_HEADER } from './corpus.ts';
import type { Row } from './plan.ts';

/** The CSV copies' bytes: cp1252 punctuation, its C1 mojibake, quoting, times, line endings. */

const CP1252_HIGH: Record<string, number> = {
  '\u20ac': 0x80,
  '\u201a': 0x82,
  '\u0192': 0x83,
  '\u201e': 0x84,
  '\u2026': 0x85,
  '\u2020': 0x86,
  '\u2021': 0x87,
  '\u02c6': 0x88,
  '\u2030': 0x89,
  '\u0160': 0x8a,
  '\u2039': 0x8b,
  '\u0152': 0x8c,
  '\u017d': 0x8e,
  '\u2018': 0x91,
  '\u2019': 0x92,
  '\u201c': 0x93,
  '\u201d': 0x94,
  '\u2022': 0x95,
  '\u2013': 0x96,
  '\u2014': 0x97,
  '\u02dc': 0x98,
  '\u2122': 0x99,
  '\u0161': 0x9a,
  '\u203a': 0x9b,
  '\u0153': 0x9c,
  '\u017e': 0x9e,
  '\u0178': 0x9f,
};

export function encodeCp1252(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80 || (c >= 0xa0 && c <= 0xff)) out[n++] = c;
    else if (CP1252_HIGH[ch] !== undefined) out[n++] = CP1252_HIGH[ch];
    else throw new Error(`character U+${c.toString(16).padStart(4, '0')} has no cp1252 byte`);
  }
  return out.subarray(0, n);
}

/** What the old MELD copies contain: cp1252 bytes read as Latin-1 (’ → U+0092). */
export function c1Mojibake(text: string): string {
  return encodeCp1252(text).toString('latin1');
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `H:MM:SS,mmm`-style time; oneDigitHour drops the hour's leading zero, twoDigits writes centiseconds. */
export function formatMeldTime(ms: number, oneDigitHour: boolean, twoDigits: boolean): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const frac = ms % 1000;
  const hh = oneDigitHour ? String(h) : String(h).padStart(2, '0');
  const ff = twoDigits ? String(Math.round(frac / 10)).padStart(2, '0') : String(frac).padStart(3, '0');
  return `${hh}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')},${ff}`;
}

export function csvBytes(rows: Row[], encoding: MeldCsvEncoding): { bytes: Buffer; crlf: number; lf: number } {
  const parts: Buffer[] = [];
  let crlf = 1;
  let lf = 0;
  parts.push(Buffer.from(`${MELD_HEADER}\r\n`, 'utf8'));
  for (const row of rows) {
    const fields = [
      String(row.srNo),
      row.source,
      row.speaker,
      row.emotion,
      row.sentiment,
      String(row.dialogueId),
      String(row.utteranceId),
      String(row.season),
      String(row.episode),
      row.startTime,
      row.endTime,
    ];
    // Times contain a comma, so they come out quoted, as in the real files.
    const line = `${fields.map(csvField).join(',')}${row.eol}`;
    if (row.eol === '\n') lf++;
    else crlf++;
    if (encoding === 'cp1252') parts.push(encodeCp1252(line));
    else parts.push(Buffer.from(row.quirks.includes('utf8-curly') ? line : c1Mojibake(line), 'utf8'));
  }
  return { bytes: Buffer.concat(parts), crlf, lf };
}
