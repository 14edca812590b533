/**
 * SentencePiece's precompiled normalisation charsmap (the `Precompiled` normalizer of XLM-R and
 * DeBERTa-v3 tokenizer.json files), implemented as the Rust `tokenizers` library does (crate
 * spm_precompiled): a darts-clone double-array trie over UTF-8 bytes whose values index a blob of
 * NUL-terminated replacement strings, applied per extended grapheme cluster (a cluster shorter than 6
 * UTF-8 bytes is looked up whole first), else per character. `@huggingface/tokenizers` approximates
 * this map by NFKC and a few hand-written rules, which differs from it on real text (full-width forms,
 * control and zero-width characters, some compatibility characters), so the extract stage uses this.
 */
import { ErrorTypes, MerError } from '../common/errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export class PrecompiledCharsmap {
  private readonly cache = new Map<string, string | null>();

  private constructor(
    private readonly trie: Uint32Array,
    private readonly normalized: Uint8Array,
  ) {}

  static fromBase64(b64: string, source: string): PrecompiledCharsmap {
    const bytes = Buffer.from(b64, 'base64');
    const bad = (why: string) =>
      new MerError(ErrorTypes.ModelCorrupt, `${source}: precompiled_charsmap ${why}`, { file: source });
    if (bytes.length < 4) throw bad('is shorter than its header');
    const trieSize = bytes.readUInt32LE(0);
    if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length) throw bad(`names a trie of ${trieSize} bytes`);
    const trie = new Uint32Array(trieSize / 4);
    for (let i = 0; i < trie.length; i++) trie[i] = bytes.readUInt32LE(4 + i * 4);
    return new PrecompiledCharsmap(trie, new Uint8Array(bytes.subarray(4 + trieSize)));
  }

  normalize(text: string): string {
    let out = '';
    for (const { segment } of graphemes.segment(text)) {
      if (encoder.encode(segment).length < 6) {
        const whole = this.transform(segment);
        if (whole !== null) {
          out += whole;
          continue;
        }
      }
      for (const ch of segment) out += this.transform(ch) ?? ch;
    }
    return out;
  }

  /** The replacement of the shortest trie key that prefixes `chunk` (as the Rust code: first result). */
  private transform(chunk: string): string | null {
    const hit = this.cache.get(chunk);
    if (hit !== undefined) return hit;
    const index = this.firstPrefixValue(encoder.encode(chunk));
    let result: string | null = null;
    if (index !== null) {
      let end = index;
      while (end < this.normalized.length && this.normalized[end] !== 0) end++;
      result = decoder.decode(this.normalized.subarray(index, end));
    }
    this.cache.set(chunk, result);
    return result;
  }

  private firstPrefixValue(key: Uint8Array): number | null {
    const a = this.trie;
    const offset = (u: number) => (u >>> 10) << ((u & (1 << 9)) >>> 6);
    let pos = 0;
    pos ^= offset(a[pos]);
    for (const c of key) {
      if (c === 0) break;
      pos ^= c;
      const unit = a[pos];
      if (unit === undefined || (unit & 0x800000ff) >>> 0 !== c) return null;
      pos ^= offset(unit);
      if ((unit >>> 8) & 1) return a[pos] & 0x7fffffff;
    }
    return null;
  }
}
