/**
 * The tokenizer wrapper (@huggingface/tokenizers plus the extract stage's truncation) against the Python `tokenizers` library, BERT WordPiece ids the Python `tokenizers` library on the real bert-base-uncased vocabulary
 * (test/fixtures/models/tokenizer-cases.json, written by scripts/extract/make_tiny_models.py, which
 * also checked them against transformers' AutoTokenizer): accents, punctuation, CJK, control and
 * zero-width characters, special tokens typed into text, over-long words, truncation, and the
 * context policy (context first, cut from its start; dropped when the utterance fills the budget).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { MerError } from '../../activities/common/errors.ts';
import { TextTokenizer } from '../../activities/extract/tokenizer.ts';
import { MODELS } from './inputs.ts';

interface Case {
  text: string;
  context: string[];
  ids: number[];
  typeIds: number[];
  utteranceStart: number;
}
const fixture = JSON.parse(readFileSync(`${MODELS}tokenizer-cases.json`, 'utf8')) as {
  maxTokens: number;
  cases: Case[];
};
const json = readFileSync(`${MODELS}bert-base-uncased-tokenizer/tokenizer.json`, 'utf8');
const tok = TextTokenizer.fromJson(json, 'bert-base-uncased-tokenizer/tokenizer.json');

describe('BERT WordPiece through the tokenizer wrapper', () => {
  test('ids, type ids and utterance start equal Python on every tricky string', () => {
    assert.ok(fixture.cases.length >= 19);
    for (const c of fixture.cases) {
      const e = tok.encodeUtterance(c.text, c.context, fixture.maxTokens);
      const label = JSON.stringify(c.text.slice(0, 40));
      assert.deepEqual(e.ids, c.ids, label);
      assert.deepEqual(e.typeIds, c.typeIds, label);
      assert.equal(e.utteranceStart, c.utteranceStart, label);
    }
  });

  test('the real vocabulary ids every BERT user knows', () => {
    assert.deepEqual(tok.encodeUtterance('Hello, world!', [], 128).ids, [101, 7592, 1010, 2088, 999, 102]);
  });

  test('special tokens typed into text are recognised only in their exact spelling', () => {
    const ids = tok.tokenize('a [SEP] b [sep]');
    assert.deepEqual(ids.slice(0, 3), [1037, 102, 1038]);
    assert.ok(!ids.slice(3).includes(102));
  });

  test('truncation flags: long utterance, long context, context dropped', () => {
    const long = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
    const a = tok.encodeUtterance(long, [], 128);
    assert.equal(a.ids.length, 128);
    assert.ok(a.utteranceTruncated && !a.contextTruncated);
    const b = tok.encodeUtterance('short one', [long], 128);
    assert.equal(b.ids.length, 128);
    assert.ok(b.contextTruncated && !b.utteranceTruncated);
    // the most recent context words survive
    assert.deepEqual(b.ids.slice(b.utteranceStart - 3, b.utteranceStart), [...tok.tokenize('w299').slice(-2), 102]);
    const c = tok.encodeUtterance(long, ['ctx'], 128);
    assert.equal(c.utteranceStart, 0);
    assert.ok(c.contextTruncated && c.utteranceTruncated);
  });

  test('empty and whitespace-only text has no utterance tokens', () => {
    for (const t of ['', '   ', '\u200b\u0000'])
      assert.equal(tok.encodeUtterance(t, [], 128).utteranceTokens, 0, JSON.stringify(t));
    assert.equal(tok.encodeUtterance('', ['some context'], 128).utteranceTokens, 0);
  });

  test('tokenizer.json files it cannot reproduce are refused by name', () => {
    const base = JSON.parse(json) as Record<string, Record<string, unknown>>;
    const variants: Array<[string, (j: Record<string, Record<string, unknown>>) => void, RegExp]> = [
      ['unknown model', (j) => (j.model.type = 'Foo'), /model type is Foo/],
      ['unknown normalizer', (j) => (j.normalizer = { type: 'Foo' }), /cannot be built/],
      ['no post-processor', (j) => ((j as Record<string, unknown>).post_processor = null), /post_processor is absent/],
    ];
    for (const [name, mutate, message] of variants) {
      const j = structuredClone(base);
      mutate(j);
      assert.throws(
        () => TextTokenizer.fromJson(JSON.stringify(j), 't.json'),
        (err: unknown) => err instanceof MerError && err.type === 'MerModelMismatch' && message.test(err.message),
        name,
      );
    }
    assert.throws(
      () => TextTokenizer.fromJson('{"model": ', 't.json'),
      (err: unknown) => err instanceof MerError && err.type === 'MerModelCorrupt',
    );
  });
});

describe('random Unicode text through every family tokenizer', () => {
  const fuzz = JSON.parse(readFileSync(`${MODELS}tokenizer-fuzz.json`, 'utf8')) as {
    texts: string[];
    ids: Record<string, number[][]>;
  };

  // scripts/extract/tiny_text.py drew these from scripts, combining marks, controls, CJK beyond the
  // BMP, compatibility forms, emoji and private use; the library alone differs from Python on a fifth
  // of them (see the patches in activities/extract/tokenizer.ts)
  for (const [name, ids] of Object.entries(fuzz.ids)) {
    test(`${name}: ids equal Python tokenizers`, () => {
      const t = TextTokenizer.fromJson(readFileSync(`${MODELS}${name}/tokenizer.json`, 'utf8'), name);
      assert.equal(ids.length, fuzz.texts.length);
      fuzz.texts.forEach((text, i) => assert.deepEqual(t.tokenize(text), ids[i], JSON.stringify(text)));
    });
  }
});
