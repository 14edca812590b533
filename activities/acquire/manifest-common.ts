import type {
  AcquireIssue,
  LabelSetName,
  ManifestDataset,
  ManifestRow,
  ManifestSummary,
} from '../../schemas/manifest.ts';
import { corpusFileKey } from '../../schemas/layout.ts';
import { LABEL_SETS_BY_DATASET, ManifestRowSchema } from '../../schemas/manifest.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { labelSetDefinition } from './labels.ts';

/** A file of the extracted corpus: its path relative to the corpus root in the store, and its size in bytes. */
export interface CorpusFile {
  path: string;
  size: number;
}

export type ReadCorpusFile = (path: string) => Promise<Uint8Array>;

export interface BuildManifestInput {
  files: readonly CorpusFile[];
  read: ReadCorpusFile;
  /** Store key prefix under which `files` live; media keys are `${keyPrefix}/${path}`. */
  keyPrefix: string;
  labelSet: LabelSetName;
  /** Largest annotation file read (bytes); default MAX_ANNOTATION_BYTES. Tests pass a small one. */
  maxAnnotationBytes?: number;
}

export interface ManifestBuildResult {
  rows: ManifestRow[];
  issues: AcquireIssue[];
  summary: ManifestSummary;
}

// ---------------------------------------------------------------------------------------------------
// Text decoding

export type TextEncodingGuess = 'utf-8' | 'utf-16' | 'cp1252' | 'mixed';

export interface DecodedText {
  text: string;
  encoding: TextEncodingGuess;
  /** C1 controls (and no-break spaces) replaced by the characters cp1252 meant. */
  repaired: number;
}

/** cp1252 code points for bytes 0x80-0x9F; 0 marks the five bytes cp1252 leaves undefined. */
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0, 0,
  0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];

function cp1252CodeUnit(byte: number): number {
  if (byte >= 0x80 && byte <= 0x9f) return CP1252_HIGH[byte - 0x80] || byte;
  return byte;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes UTF-8 sequences where they are valid and every other byte as cp1252. Node's own
 * 'windows-1252' decoder is really ISO-8859-1 (it leaves 0x80-0x9F as C1 controls), so the mapping is
 * done here. Output never has more UTF-16 units than the input has bytes, which bounds the buffer.
 */
function decodeUtf8OrCp1252(bytes: Uint8Array): { text: string; multibyte: number; invalid: number } {
  const out = new Uint16Array(bytes.length);
  let o = 0;
  let multibyte = 0;
  let invalid = 0;
  const n = bytes.length;
  const cont = (k: number) => k < n && (bytes[k] & 0xc0) === 0x80;
  for (let i = 0; i < n;) {
    const b = bytes[i];
    if (b < 0x80) {
      out[o++] = b;
      i++;
      continue;
    }
    let cp = -1;
    let len = 0;
    if (b >= 0xc2 && b <= 0xdf && cont(i + 1)) {
      cp = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef && cont(i + 1) && cont(i + 2)) {
      const b1 = bytes[i + 1];
      const overlongOrSurrogate = (b === 0xe0 && b1 < 0xa0) || (b === 0xed && b1 > 0x9f);
      if (!overlongOrSurrogate) {
        cp = ((b & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
        len = 3;
      }
    } else if (b >= 0xf0 && b <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const b1 = bytes[i + 1];
      const outOfRange = (b === 0xf0 && b1 < 0x90) || (b === 0xf4 && b1 > 0x8f);
      if (!outOfRange) {
        cp = ((b & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
        len = 4;
      }
    }
    if (cp < 0) {
      out[o++] = cp1252CodeUnit(b);
      invalid++;
      i++;
      continue;
    }
    multibyte++;
    if (cp > 0xffff) {
      const v = cp - 0x10000;
      out[o++] = 0xd800 | (v >> 10);
      out[o++] = 0xdc00 | (v & 0x3ff);
    } else {
      out[o++] = cp;
    }
    i += len;
  }
  let text = '';
  const CHUNK = 8192;
  for (let s = 0; s < o; s += CHUNK) text += String.fromCharCode(...out.subarray(s, Math.min(o, s + CHUNK)));
  return { text, multibyte, invalid };
}

/**
 * Replaces C1 controls with the cp1252 characters they stand for (text once decoded as Latin-1 and
 * saved again as UTF-8), and no-break spaces with plain spaces, which tokenizers and the corpora's
 * own word splitting expect.
 */
export function repairCp1252Mojibake(text: string): { text: string; repaired: number } {
  let repaired = 0;
  const fixed = text.replace(/[\u0080-\u009f\u00a0]/g, (ch) => {
    const code = ch.charCodeAt(0);
    if (code === 0xa0) {
      repaired++;
      return ' ';
    }
    const mapped = CP1252_HIGH[code - 0x80];
    if (!mapped) return ch;
    repaired++;
    return String.fromCharCode(mapped);
  });
  return { text: fixed, repaired };
}

/**
 * Decodes an annotation file of unknown encoding: UTF-8 when the bytes are valid UTF-8, otherwise
 * byte-wise cp1252 (a superset of the Latin-1 seen in these corpora) with any valid UTF-8 sequences
 * kept, so a file mixing both still reads right. A leading BOM is dropped.
 */
export function decodeCorpusText(bytes: Uint8Array): DecodedText {
  let text: string;
  let encoding: TextEncodingGuess = 'utf-8';
  // A UTF-16 BOM (an editor's "Unicode" save) would otherwise read as a NUL after every character.
  const utf16 =
    bytes[0] === 0xff && bytes[1] === 0xfe ? 'utf-16le' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'utf-16be' : null;
  if (utf16) {
    text = new TextDecoder(utf16).decode(bytes);
    encoding = 'utf-16';
  } else
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      const hybrid = decodeUtf8OrCp1252(bytes);
      text = hybrid.text;
      encoding = hybrid.multibyte > 0 ? 'mixed' : 'cp1252';
    }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const { text: fixed, repaired } = repairCp1252Mojibake(text);
  return { text: fixed, encoding, repaired };
}

export function splitLines(text: string): string[] {
  return text.split(/\r\n|\n|\r/);
}

/** Removes NUL characters (a binary file's residue, a UTF-16 file read as bytes): no text field may hold one. */
export function stripNul(text: string): { text: string; removed: number } {
  if (!text.includes('\0')) return { text, removed: 0 };
  const cleaned = text.replaceAll('\0', '');
  return { text: cleaned, removed: text.length - cleaned.length };
}

/**
 * The largest annotation file read. A file is decoded as one string and V8 caps strings at about
 * 512 MiB (2^29 - 24 UTF-16 units); the real files are at most a few MiB, so anything near the cap is
 * not an annotation file and is refused by name rather than failing as a retried out-of-memory.
 */
export const MAX_ANNOTATION_BYTES = 256 * 1024 * 1024;

/** Reads an annotation file, refusing one over the limit by its listed size before reading it. */
export async function readAnnotation(
  read: ReadCorpusFile,
  file: CorpusFile,
  maxBytes = MAX_ANNOTATION_BYTES,
): Promise<Uint8Array> {
  const refuse = (size: number) =>
    new MerError(
      ErrorTypes.AnnotationTooLarge,
      `${file.path}: ${size} bytes is more than an annotation file may hold (${maxBytes} bytes, ` +
        `${(maxBytes / 2 ** 20).toFixed(1)} MiB; the real files are a few MiB): replace it with the corpus's own file`,
      { file: file.path, size, limit: maxBytes },
    );
  if (file.size > maxBytes) throw refuse(file.size);
  const bytes = await read(file.path);
  if (bytes.length > maxBytes) throw refuse(bytes.length);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------
// Numbers

/**
 * Bounds of numbers read from annotations. Each is far above what the corpora hold and far inside the
 * manifest's columns (int32, float64 seconds), so a value past one is bad input, never wrapped or
 * rounded into something that looks valid. Only plain digits are numbers: signs, exponents, hex,
 * `Infinity` and `NaN` are not.
 */
export const MAX_TIME_SEC = 86_400; // a day: no dialog recording or episode is longer

export type ReadNumber = { value: number } | { reason: string; outOfRange: boolean };

const INT_RE = /^\d+$/;
const DECIMAL_RE = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function malformed(t: string, what: string): ReadNumber {
  const why = t === '' ? 'empty' : /^\s*-/.test(t) ? 'negative' : `not ${what}`;
  return { reason: why, outOfRange: why === 'negative' };
}

/** A plain decimal integer (digits only: no sign, fraction, exponent or hex) in [min, max]. */
export function readBoundedInt(text: string, min: number, max: number): ReadNumber {
  const t = text.trim();
  if (!INT_RE.test(t)) return malformed(t, 'a whole number (digits only)');
  const v = Number(t);
  if (!(v <= max)) return { reason: `${clip(t, 24)} is above ${max}, the largest accepted`, outOfRange: true };
  if (v < min) return { reason: `${t} is below ${min}, the smallest accepted`, outOfRange: true };
  return { value: v };
}

/** Seconds as plain decimal digits with an optional fraction, at most MAX_TIME_SEC. */
export function readSeconds(text: string): ReadNumber {
  const t = text.trim();
  if (!DECIMAL_RE.test(t)) return malformed(t, 'seconds as digits with an optional decimal fraction');
  return checkSeconds(Number(t), t);
}

/** A time already computed from its parts: finite, non-negative, at most MAX_TIME_SEC. */
export function checkSeconds(value: number, text: string): ReadNumber {
  if (!Number.isFinite(value) || value > MAX_TIME_SEC)
    return {
      reason: `${clip(text, 24)} s is beyond ${MAX_TIME_SEC} s (a day), the longest accepted`,
      outOfRange: true,
    };
  if (value < 0) return { reason: 'negative', outOfRange: true };
  return { value };
}

/** The issue for a number that failed its check: file, line, field, the text and why. */
export function numberIssue(
  file: string,
  line: number | undefined,
  field: string,
  text: string,
  problem: { reason: string; outOfRange: boolean },
  consequence: string,
): AcquireIssue {
  return {
    file,
    ...(line ? { line } : {}),
    field,
    value: clip(text),
    reason: `${field} ${problem.reason}; ${consequence}`,
    kind: problem.outOfRange ? 'out_of_range' : 'bad_field',
  };
}

// ---------------------------------------------------------------------------------------------------
// Corpus file lists

/** macOS archive residue: AppleDouble `._*` files, `__MACOSX/` trees and Finder metadata. */
export function isIgnoredPath(path: string): boolean {
  for (const seg of path.split('/')) {
    if (seg.startsWith('._') || seg === '__MACOSX' || seg === '.DS_Store') return true;
  }
  return false;
}

export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

export function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function storeKey(keyPrefix: string, path: string): string {
  return corpusFileKey(keyPrefix, path);
}

function depth(path: string): number {
  let d = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) d++;
  return d;
}

/**
 * Among copies of the same file, the one nearest the corpus root wins (ties: lexicographic, so the
 * choice never depends on listing order). Returns the winner and the others, for reporting.
 */
export function preferShallowest<T extends { path: string }>(copies: readonly T[]): { chosen: T; ignored: T[] } {
  const sorted = [...copies].sort(
    (a, b) => depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  return { chosen: sorted[0], ignored: sorted.slice(1) };
}

export function assertLabelSetFor(dataset: ManifestDataset, labelSet: LabelSetName): void {
  if (!LABEL_SETS_BY_DATASET[dataset].includes(labelSet)) {
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `label set ${labelSet} does not apply to ${dataset}; use one of ${LABEL_SETS_BY_DATASET[dataset].join(', ')}`,
      { dataset, labelSet },
    );
  }
}

/**
 * Rows are built from values the parsers checked, so a schema failure here is a missing check, not a
 * transient fault: non-retryable, naming the input line so the user can remove it until it is fixed.
 */
export function assertValidRow(row: ManifestRow, from: string): void {
  const parsed = ManifestRowSchema.safeParse(row);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const field = first?.path.join('.') ?? '?';
    throw new MerError(
      ErrorTypes.OutputInvalid,
      `${from}: manifest row ${clip(row.utteranceId, 80)} breaks the manifest schema at ${field} (${first?.message}): ` +
        'the parser let a bad value through; remove or correct that line and report it',
      { file: from, field },
    );
  }
}

export function summarise(
  dataset: ManifestDataset,
  labelSet: LabelSetName,
  rows: readonly ManifestRow[],
  issues: readonly AcquireIssue[],
): ManifestSummary {
  const perSplit: Record<string, number> = {};
  const perLabel: Record<string, number> = {};
  const perClass: Record<string, number> = {};
  for (const c of labelSetDefinition(labelSet).classes) perClass[c] = 0;
  let inLabelSet = 0;
  let audio = 0;
  let video = 0;
  for (const row of rows) {
    perSplit[row.split] = (perSplit[row.split] ?? 0) + 1;
    perLabel[row.labelNative] = (perLabel[row.labelNative] ?? 0) + 1;
    if (row.labelIndex >= 0 && row.labelName !== null) {
      inLabelSet++;
      perClass[row.labelName]++;
    }
    if (row.flags.includes('audio_missing') || row.flags.includes('audio_empty')) audio++;
    if (row.flags.includes('video_missing') || row.flags.includes('video_empty')) video++;
  }
  const issueKinds: Record<string, number> = {};
  for (const issue of issues) issueKinds[issue.kind] = (issueKinds[issue.kind] ?? 0) + 1;
  return {
    dataset,
    labelSet,
    rows: rows.length,
    perSplit,
    perLabel,
    perClass,
    inLabelSet,
    issues: issues.length,
    issueKinds,
    mediaMissing: { audio, video },
  };
}

/** Keeps issue values readable when the offending input is a whole garbled line. */
export function clip(value: string, max = 160): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
