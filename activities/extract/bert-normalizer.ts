/**
 * Normalizers of the Rust `tokenizers` library that `@huggingface/tokenizers` does not reproduce
 * exactly, written after the Rust code (normalizers/bert.rs, normalizers/strip.rs) and checked against
 * Python on the hard cases and random Unicode text (test/extract/tokenizer.test.ts,
 * text-families.test.ts). tokenizer.ts installs them in place of the library's.
 */

export interface BertNormalizerConfig {
  clean_text?: boolean;
  handle_chinese_chars?: boolean;
  strip_accents?: boolean | null;
  lowercase?: boolean;
}

/** Rust `char::is_whitespace`: the Unicode White_Space property. */
const WHITESPACE = /^\p{White_Space}$/u;
/** What Rust's `is_other` removes: Cc, Cf, Cs and Co; unassigned code points (Cn) are kept. */
const OTHER = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}]$/u;
const NONSPACING_MARK = /\p{Mn}/gu;

function isWhitespace(ch: string): boolean {
  return WHITESPACE.test(ch);
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return OTHER.test(ch);
}

/** The ranges of the Rust implementation (they differ slightly from the original Python BERT code). */
function isChinese(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** BertNormalizer: clean text, space out CJK, strip accents (null: follow lowercase), lowercase per character. */
export function bertNormalize(text: string, config: BertNormalizerConfig): string {
  const lowercase = config.lowercase !== false;
  const stripAccents = config.strip_accents ?? lowercase;
  let s = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (config.clean_text !== false) {
      if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
      if (isWhitespace(ch)) {
        s += ' ';
        continue;
      }
    }
    s += config.handle_chinese_chars !== false && isChinese(cp) ? ` ${ch} ` : ch;
  }
  // the decomposed form is kept (no recomposition), as in the Rust implementation
  if (stripAccents) s = s.normalize('NFD').replace(NONSPACING_MARK, '');
  if (lowercase) {
    // per character: toLowerCase on a whole string applies the Greek final-sigma rule, Rust does not
    let lower = '';
    for (const ch of s) lower += ch.toLowerCase();
    s = lower;
  }
  return s;
}

/** Strip: removes Unicode White_Space (what Rust's `trim` removes) from the chosen ends. */
export function rustStrip(text: string, left: boolean, right: boolean): string {
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  if (left) while (start < end && isWhitespace(chars[start])) start++;
  if (right) while (end > start && isWhitespace(chars[end - 1])) end--;
  return start === 0 && end === chars.length ? text : chars.slice(start, end).join('');
}
