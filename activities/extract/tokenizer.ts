/**
 * Text tokenisation from a Hugging Face `tokenizer.json` through `@huggingface/tokenizers` (a
 * maintained pure-JS implementation of the Rust library: WordPiece, byte-level BPE, Unigram,
 * normalizers, pre-tokenizers, post-processors), so every family's ids equal the ones its model was
 * trained with in Python. This module is only the thin layer the extract stage needs on top:
 *
 * - truncation (the library has none): the utterance and its dialogue context are tokenised
 *   separately and cut here, then the tokenizer's own post-processor adds the family's special tokens
 *   and type ids ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>, ...), nothing hard-coded per family;
 * - places where the library departs from Rust, patched on the parsed normalizer and pre-tokenizer
 *   trees (found by comparing it with Python on random Unicode text): `Precompiled` (SentencePiece
 *   charsmap, which the library approximates with NFKC; precompiled.ts); `BertNormalizer` (it misses
 *   CJK characters outside the BMP and lowercases with the Greek final-sigma rule; bert-normalizer.ts);
 *   `Lowercase` (final sigma); `Strip` and the ByteLevel pre-tokenizer's `\s` (JS whitespace is not
 *   Unicode White_Space: U+0085 stays, U+FEFF goes).
 *
 * A tokenizer.json the library cannot build is refused by name (MerModelMismatch).
 */
import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { bertNormalize, rustStrip, type BertNormalizerConfig } from './bert-normalizer.ts';
import { PrecompiledCharsmap } from './precompiled.ts';

/**
 * The part of the library's Tokenizer this module uses. Its shipped .d.ts files import each other
 * without extensions, which TypeScript cannot resolve under NodeNext (the class types as an error
 * type), so the surface is declared here; test/extract/tokenizer.test.ts exercises every member.
 */
interface HfTokenizer {
  normalizer: unknown;
  pre_tokenizer: unknown;
  model: { unk_token_id?: number } | null;
  post_processor:
    | ((
        a: string[],
        b: string[] | null,
        addSpecial: boolean,
      ) => {
        tokens: string[];
        tokens_pair?: string[];
        token_type_ids?: number[];
      })
    | null;
  tokenize(text: string, options: { add_special_tokens: boolean }): string[];
  token_to_id(token: string): number | undefined;
}
const Tokenizer = HfTokenizerClass as unknown as new (json: object, config: object) => HfTokenizer;

export interface TextEncoding {
  ids: number[];
  typeIds: number[];
  /** Index of the utterance's first position: 0 without context, else where sequence B starts. */
  utteranceStart: number;
  /** Tokens of the utterance itself (special tokens and context excluded); 0 means empty text. */
  utteranceTokens: number;
  /** Context tokens dropped (from the start of the context) or utterance tokens cut (from its end). */
  contextTruncated: boolean;
  utteranceTruncated: boolean;
}

type Json = Record<string, unknown>;

/** A post-processor's layout: special tokens before the utterance, around A/B, and the type ids it gives. */
interface Layout {
  single: number;
  pair: number;
  /** Pair template: tokens before B when A has one token. */
  pairLeadWithOneA: number;
}

/** The parts of the library's parsed objects this wrapper patches (not in its public types). */
interface NormalizerNode {
  config?: Json;
  normalizers?: NormalizerNode[];
  normalize: (text: string) => string;
}

function mismatch(source: string, message: string): MerError {
  return new MerError(ErrorTypes.ModelMismatch, `${source}: ${message}`, { file: source });
}

/** Replaces the library's approximations in a normalizer tree by the Rust behaviour (see the header). */
function patchNormalizers(node: NormalizerNode | null, source: string): void {
  if (!node) return;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- tokenizer.json values; a non-string is reported as what it prints as
  const type = String(node.config?.type ?? '');
  for (const child of node.normalizers ?? []) patchNormalizers(child, source);
  if (type === 'Precompiled') {
    const charsmap = node.config?.precompiled_charsmap;
    if (typeof charsmap !== 'string' || charsmap === '')
      throw mismatch(source, 'Precompiled normalizer without precompiled_charsmap');
    const map = PrecompiledCharsmap.fromBase64(charsmap, source);
    node.normalize = (text) => map.normalize(text);
  } else if (type === 'BertNormalizer') {
    const config = node.config as BertNormalizerConfig;
    node.normalize = (text) => bertNormalize(text, config);
  } else if (type === 'Lowercase') {
    const original = node.normalize.bind(node);
    // Σ lowercases to σ everywhere in Rust; only JS's context rule turns a word-final one into ς
    node.normalize = (text) => original(text.replaceAll('Σ', 'σ'));
  } else if (type === 'Strip') {
    const left = node.config?.strip_left === true;
    const right = node.config?.strip_right === true;
    node.normalize = (text) => rustStrip(text, left, right);
  }
}

/** The parts of the library's parsed pre-tokenizers this module patches. */
interface PreTokenizerNode {
  config?: Json;
  tokenizers?: PreTokenizerNode[];
  pattern?: RegExp;
}

/**
 * ByteLevel splits with GPT-2's pattern, whose `\s` is Unicode White_Space in Rust's regex engine but
 * JS whitespace in the library (U+0085 differs, U+FEFF too).
 */
function patchPreTokenizers(node: PreTokenizerNode | null): void {
  if (!node) return;
  for (const child of node.tokenizers ?? []) patchPreTokenizers(child);
  if (node.config?.type === 'ByteLevel' && node.pattern instanceof RegExp) {
    const source = node.pattern.source.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
    node.pattern = new RegExp(source, node.pattern.flags);
  }
}

export class TextTokenizer {
  private readonly layout: Layout;

  private constructor(
    private readonly tok: HfTokenizer,
    private readonly unkId: number | undefined,
    /** From tokenizer.json's padding section, when it has one. */
    readonly padId: number | undefined,
    private readonly zeroTypeIds: boolean,
    source: string,
  ) {
    this.layout = this.measureLayout(source);
  }

  /** Parses tokenizer.json text; `source` names the file in errors. */
  static fromJson(text: string, source: string): TextTokenizer {
    let json: Json;
    try {
      json = JSON.parse(text) as Json;
    } catch (err) {
      throw new MerError(ErrorTypes.ModelCorrupt, `${source}: not valid JSON (${(err as Error).message})`, {
        file: source,
      });
    }
    const modelType = (json.model as Json | undefined)?.type;
    // the library would guess a model from its fields; a file must say what it is
    if (modelType !== 'WordPiece' && modelType !== 'BPE' && modelType !== 'Unigram')
      throw mismatch(source, `model type is ${String(modelType)}, not WordPiece, BPE or Unigram`);
    if (!json.post_processor)
      throw mismatch(source, 'post_processor is absent (the special tokens of the model would be missing)');
    let tok: HfTokenizer;
    try {
      // tokenizer_config.json is not read (nor hashed into the features' key): like Python's
      // `Tokenizer.from_file`, the ids follow from tokenizer.json alone
      tok = new Tokenizer(json, {});
    } catch (err) {
      throw mismatch(source, `the tokenizer cannot be built (${(err as Error).message})`);
    }
    patchNormalizers(tok.normalizer as NormalizerNode | null, source);
    patchPreTokenizers(tok.pre_tokenizer as PreTokenizerNode | null);
    const padding = json.padding as Json | null | undefined;
    const padId = typeof padding?.pad_id === 'number' ? padding.pad_id : undefined;
    const zeroTypeIds = (json.post_processor as Json).type === 'RobertaProcessing';
    return new TextTokenizer(tok, tok.model?.unk_token_id, padId, zeroTypeIds, source);
  }

  /** The id of a token (vocabulary or added token), if it has one. */
  tokenId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** Token ids of `text` without special tokens (what `tokenizer.encode(text, add_special_tokens=False)` gives). */
  tokenize(text: string): number[] {
    return this.toIds(this.tok.tokenize(text, { add_special_tokens: false }));
  }

  /** Number of special tokens the single and pair templates add. */
  get specialCounts(): { single: number; pair: number } {
    return { single: this.layout.single, pair: this.layout.pair };
  }

  /**
   * The model input for one utterance with optional dialogue context. Context (the previous
   * utterances joined by a space) goes first as sequence A and loses tokens from its start, so the
   * words nearest the utterance survive; if the utterance leaves no room for a single context token,
   * the context is dropped and the utterance alone is cut from its end. Mirrors `encode_utterance` in
   * scripts/extract/make_tiny_models.py, which uses the Python library's own truncation
   * (only_first/left, longest_first/right).
   */
  encodeUtterance(text: string, context: readonly string[], maxTokens: number): TextEncoding {
    const u = this.tok.tokenize(text, { add_special_tokens: false });
    const contextText = context.filter((c) => c.trim() !== '').join(' ');
    const c = contextText ? this.tok.tokenize(contextText, { add_special_tokens: false }) : [];
    const { single, pair } = this.layout;
    if (c.length > 0 && u.length <= maxTokens - pair - 1) {
      const keep = Math.min(c.length, maxTokens - pair - u.length);
      const a = c.slice(c.length - keep);
      return {
        ...this.process(a, u),
        utteranceStart: this.layout.pairLeadWithOneA + a.length - 1,
        utteranceTokens: u.length,
        contextTruncated: keep < c.length,
        utteranceTruncated: false,
      };
    }
    const budget = maxTokens - single;
    const kept = u.slice(0, budget);
    return {
      ...this.process(kept, null),
      // the whole sequence, special tokens included, is the utterance's own (as it always was)
      utteranceStart: 0,
      utteranceTokens: kept.length,
      contextTruncated: c.length > 0,
      utteranceTruncated: u.length > budget,
    };
  }

  private process(a: string[], b: string[] | null): { ids: number[]; typeIds: number[] } {
    const out = this.postProcess(a, b);
    return { ids: this.toIds(out.tokens), typeIds: out.typeIds };
  }

  private postProcess(a: string[], b: string[] | null): { tokens: string[]; typeIds: number[] } {
    const pp = this.tok.post_processor!;
    const out = pp(a, b, true);
    const tokens = [...out.tokens, ...(out.tokens_pair ?? [])];
    // Rust's RobertaProcessing gives type id 0 to both sequences; the library gives B type 1
    const types = this.zeroTypeIds ? undefined : out.token_type_ids;
    return { tokens, typeIds: types ?? tokens.map(() => 0) };
  }

  /** Where the templates put the sequences, found by running them on marker tokens. */
  private measureLayout(source: string): Layout {
    const A = '\u0000A';
    const B = '\u0000B';
    const single = this.postProcess([A], null).tokens;
    const pair = this.postProcess([A], [B]).tokens;
    if (single.filter((t) => t === A).length !== 1 || pair.indexOf(B) <= pair.indexOf(A))
      throw mismatch(source, 'the post-processor must place sequence A (single) and A then B (pair)');
    return {
      single: single.length - 1,
      pair: pair.length - 2,
      pairLeadWithOneA: pair.indexOf(B),
    };
  }

  private toIds(tokens: string[]): number[] {
    return tokens.map((t) => {
      const id = this.tok.token_to_id(t) ?? this.unkId;
      if (id === undefined) throw new Error(`token ${JSON.stringify(t)} has no id and the model has no unk token`);
      return id;
    });
  }
}
