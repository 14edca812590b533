/**
 * BERT WordPiece tokenisation read from a Hugging Face `tokenizer.json`, reproducing the Rust
 * `tokenizers` library step for step (BertNormalizer, BertPreTokenizer, WordPiece, added tokens,
 * TemplateProcessing / BertProcessing), so ids equal the ones the model was trained with in Python.
 * Anything else in the file (another normaliser, a BPE model, ...) is refused by name rather than
 * approximated: a silently different tokenisation would poison every cached text feature.
 */
import { ErrorTypes, MerError } from '../common/errors.ts';

interface BertNormalizerSpec {
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

/** One piece of a post-processing template: a special token or the A/B sequence, with its type id. */
type TemplatePiece =
  { kind: 'special'; ids: number[]; typeId: number } | { kind: 'sequence'; which: 'A' | 'B'; typeId: number };

export interface TextEncoding {
  ids: number[];
  typeIds: number[];
  /** Index of the utterance's first position: 0 without context, else where sequence B starts. */
  utteranceStart: number;
  /** Word pieces of the utterance itself (special tokens and context excluded); 0 means empty text. */
  utteranceTokens: number;
  /** Context tokens dropped (from the start of the context) or utterance tokens cut (from its end). */
  contextTruncated: boolean;
  utteranceTruncated: boolean;
}

const WHITESPACE = /^\p{White_Space}$/u;
const OTHER = /^\p{C}$/u;
const PUNCT = /^\p{P}$/u;
const NONSPACING_MARK = /\p{Mn}/gu;

function isWhitespace(ch: string): boolean {
  return ch === '\t' || ch === '\n' || ch === '\r' || WHITESPACE.test(ch);
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

function isBertPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  const asciiPunct =
    (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return asciiPunct || PUNCT.test(ch);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

type Json = Record<string, unknown>;

function invalid(source: string, message: string): MerError {
  return new MerError(
    ErrorTypes.ModelMismatch,
    `${source}: ${message}; the text encoder needs a BERT WordPiece tokenizer.json`,
    { file: source },
  );
}

export class WordPieceTokenizer {
  private readonly addedSplit: RegExp | null;

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly unkId: number,
    private readonly prefix: string,
    private readonly maxCharsPerWord: number,
    private readonly normalizer: BertNormalizerSpec,
    private readonly added: Map<string, number>,
    private readonly single: TemplatePiece[],
    private readonly pair: TemplatePiece[],
    readonly padId: number,
  ) {
    const contents = [...added.keys()].sort((a, b) => b.length - a.length);
    this.addedSplit = contents.length ? new RegExp(`(${contents.map(escapeRegExp).join('|')})`, 'u') : null;
  }

  /** Parses tokenizer.json text; `source` names the file in errors. */
  static fromJson(text: string, source: string): WordPieceTokenizer {
    let json: Json;
    try {
      json = JSON.parse(text) as Json;
    } catch (err) {
      throw new MerError(ErrorTypes.ModelCorrupt, `${source}: not valid JSON (${(err as Error).message})`, {
        file: source,
      });
    }
    const model = json.model as Json | undefined;
    if (!model || model.type !== 'WordPiece')
      throw invalid(source, `model type is ${String(model?.type)}, not WordPiece`);
    const vocabObj = model.vocab as Record<string, number> | undefined;
    if (!vocabObj || typeof vocabObj !== 'object') throw invalid(source, 'model.vocab is missing');
    const vocab = new Map(Object.entries(vocabObj));
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- tokenizer.json values; a non-string is reported as what it prints as
    const unkToken = String(model.unk_token ?? '[UNK]');
    const unkId = vocab.get(unkToken);
    if (unkId === undefined) throw invalid(source, `unk_token ${unkToken} is not in the vocabulary`);
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- tokenizer.json values; a non-string is reported as what it prints as
    const prefix = String(model.continuing_subword_prefix ?? '##');
    const maxChars = Number(model.max_input_chars_per_word ?? 100);

    const norm = json.normalizer as Json | null | undefined;
    if (!norm || norm.type !== 'BertNormalizer')
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- tokenizer.json values; a non-string is reported as what it prints as
      throw invalid(source, `normalizer is ${String(norm?.type ?? 'absent')}, not BertNormalizer`);
    const lowercase = norm.lowercase !== false;
    const normalizer: BertNormalizerSpec = {
      cleanText: norm.clean_text !== false,
      handleChineseChars: norm.handle_chinese_chars !== false,
      // null means "follow lowercase", as in the Rust implementation
      stripAccents:
        norm.strip_accents === null || norm.strip_accents === undefined ? lowercase : Boolean(norm.strip_accents),
      lowercase,
    };
    const pre = json.pre_tokenizer as Json | null | undefined;
    if (!pre || pre.type !== 'BertPreTokenizer')
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- tokenizer.json values; a non-string is reported as what it prints as
      throw invalid(source, `pre_tokenizer is ${String(pre?.type ?? 'absent')}, not BertPreTokenizer`);

    const added = new Map<string, number>();
    for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
      if (t.normalized === true || t.lstrip === true || t.rstrip === true || t.single_word === true) {
        throw invalid(
          source,
          `added token ${String(t.content)} uses normalized/lstrip/rstrip/single_word, which this tokenizer does not implement`,
        );
      }
      added.set(String(t.content), Number(t.id));
    }

    const { single, pair } = parsePostProcessor(json.post_processor as Json | null | undefined, vocab, source);
    const padToken = ((json.padding as Json | null)?.pad_token as string | undefined) ?? '[PAD]';
    const padId = vocab.get(padToken) ?? 0;
    return new WordPieceTokenizer(vocab, unkId, prefix, maxChars, normalizer, added, single, pair, padId);
  }

  /** Token ids of `text` without special tokens (what `tokenizer.encode(text, add_special_tokens=False)` gives). */
  tokenize(text: string): number[] {
    const out: number[] = [];
    const parts = this.addedSplit ? text.split(this.addedSplit) : [text];
    // split() with one capture group alternates plain text (even) and added tokens (odd)
    parts.forEach((part, i) => {
      if (i % 2 === 1) out.push(this.added.get(part)!);
      else if (part) for (const word of this.preTokenize(this.normalize(part))) this.wordPiece(word, out);
    });
    return out;
  }

  /** Number of special tokens the single and pair templates add. */
  get specialCounts(): { single: number; pair: number } {
    const count = (t: TemplatePiece[]) => t.reduce((n, p) => n + (p.kind === 'special' ? p.ids.length : 0), 0);
    return { single: count(this.single), pair: count(this.pair) };
  }

  /**
   * The model input for one utterance with optional dialogue context. Context (the previous
   * utterances joined by a space) goes first as sequence A and loses tokens from its start, so the
   * words nearest the utterance survive; if the utterance leaves no room for a single context token,
   * the context is dropped and the utterance alone is cut from its end. Mirrors
   * `encode_utterance` in scripts/extract/make_tiny_models.py, which uses the Python library's own
   * truncation (only_first/left, longest_first/right).
   */
  encodeUtterance(text: string, context: readonly string[], maxTokens: number): TextEncoding {
    const u = this.tokenize(text);
    const contextText = context.filter((c) => c.trim() !== '').join(' ');
    const c = contextText ? this.tokenize(contextText) : [];
    const { single, pair } = this.specialCounts;
    if (c.length > 0 && u.length <= maxTokens - pair - 1) {
      const keep = Math.min(c.length, maxTokens - pair - u.length);
      const enc = applyTemplate(this.pair, c.slice(c.length - keep), u);
      return { ...enc, utteranceTokens: u.length, contextTruncated: keep < c.length, utteranceTruncated: false };
    }
    const budget = maxTokens - single;
    const enc = applyTemplate(this.single, u.slice(0, budget), []);
    return {
      ...enc,
      utteranceStart: 0,
      utteranceTokens: Math.min(u.length, budget),
      contextTruncated: c.length > 0,
      utteranceTruncated: u.length > budget,
    };
  }

  private normalize(text: string): string {
    const n = this.normalizer;
    let s = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (n.cleanText) {
        if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
        if (isWhitespace(ch)) {
          s += ' ';
          continue;
        }
      }
      s += n.handleChineseChars && isChinese(cp) ? ` ${ch} ` : ch;
    }
    // the decomposed form is kept (no recomposition), as in the Rust implementation
    if (n.stripAccents) s = s.normalize('NFD').replace(NONSPACING_MARK, '');
    if (n.lowercase) {
      // per character: String.prototype.toLowerCase on a whole string applies the Greek final-sigma
      // rule, which Rust's char::to_lowercase (and so the Python library) does not
      let lower = '';
      for (const ch of s) lower += ch.toLowerCase();
      s = lower;
    }
    return s;
  }

  private preTokenize(text: string): string[] {
    const words: string[] = [];
    let cur = '';
    for (const ch of text) {
      if (isWhitespace(ch)) {
        if (cur) words.push(cur);
        cur = '';
      } else if (isBertPunctuation(ch)) {
        if (cur) words.push(cur);
        words.push(ch);
        cur = '';
      } else {
        cur += ch;
      }
    }
    if (cur) words.push(cur);
    return words;
  }

  private wordPiece(word: string, out: number[]): void {
    const chars = Array.from(word);
    if (chars.length > this.maxCharsPerWord) {
      out.push(this.unkId);
      return;
    }
    const pieces: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = -1;
      while (start < end) {
        const sub = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) {
        out.push(this.unkId);
        return;
      }
      pieces.push(found);
      start = end;
    }
    out.push(...pieces);
  }
}

function applyTemplate(
  template: TemplatePiece[],
  a: number[],
  b: number[],
): Pick<TextEncoding, 'ids' | 'typeIds' | 'utteranceStart'> {
  const ids: number[] = [];
  const typeIds: number[] = [];
  let utteranceStart = 0;
  for (const p of template) {
    if (p.kind === 'special') {
      for (const id of p.ids) {
        ids.push(id);
        typeIds.push(p.typeId);
      }
    } else {
      if (p.which === 'B') utteranceStart = ids.length;
      for (const id of p.which === 'A' ? a : b) {
        ids.push(id);
        typeIds.push(p.typeId);
      }
    }
  }
  return { ids, typeIds, utteranceStart };
}

function parsePostProcessor(
  pp: Json | null | undefined,
  vocab: Map<string, number>,
  source: string,
): { single: TemplatePiece[]; pair: TemplatePiece[] } {
  if (!pp) throw invalid(source, 'post_processor is absent ([CLS]/[SEP] would be missing)');
  if (pp.type === 'BertProcessing') {
    const [, clsId] = pp.cls as [string, number];
    const [, sepId] = pp.sep as [string, number];
    return {
      single: [
        { kind: 'special', ids: [clsId], typeId: 0 },
        { kind: 'sequence', which: 'A', typeId: 0 },
        { kind: 'special', ids: [sepId], typeId: 0 },
      ],
      pair: [
        { kind: 'special', ids: [clsId], typeId: 0 },
        { kind: 'sequence', which: 'A', typeId: 0 },
        { kind: 'special', ids: [sepId], typeId: 0 },
        { kind: 'sequence', which: 'B', typeId: 1 },
        { kind: 'special', ids: [sepId], typeId: 1 },
      ],
    };
  }
  if (pp.type !== 'TemplateProcessing')
    throw invalid(source, `post_processor is ${String(pp.type)}, not TemplateProcessing or BertProcessing`);
  const specials = (pp.special_tokens ?? {}) as Record<string, { ids?: number[] }>;
  const parse = (pieces: Json[], name: string): TemplatePiece[] =>
    pieces.map((piece) => {
      if (piece.SpecialToken) {
        const st = piece.SpecialToken as { id: string; type_id: number };
        const ids = specials[st.id]?.ids ?? (vocab.has(st.id) ? [vocab.get(st.id)!] : undefined);
        if (!ids) throw invalid(source, `template ${name} names special token ${st.id}, which is not defined`);
        return { kind: 'special', ids, typeId: st.type_id };
      }
      if (piece.Sequence) {
        const sq = piece.Sequence as { id: 'A' | 'B'; type_id: number };
        return { kind: 'sequence', which: sq.id, typeId: sq.type_id };
      }
      throw invalid(source, `template ${name} has an unknown piece ${JSON.stringify(piece)}`);
    });
  const single = parse((pp.single as Json[]) ?? [], 'single');
  const pair = parse((pp.pair as Json[]) ?? [], 'pair');
  const seqs = (t: TemplatePiece[]) =>
    t
      .filter((p) => p.kind === 'sequence')
      .map((p) => (p as { which: string }).which)
      .join('');
  if (seqs(single) !== 'A' || seqs(pair) !== 'AB')
    throw invalid(source, 'templates must hold sequence A (single) and A then B (pair)');
  return { single, pair };
}
