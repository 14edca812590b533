/**
 * Every text family against Python (scripts/extract/tiny_text.py wrote tiny random-weight models of
 * the real architectures, each with its family's real tokenizer.json pipeline, and ran the Python
 * `tokenizers` library and PyTorch on them): token ids, type ids and utterance start exactly on a hard
 * case list (accents, emoji, CJK, control characters, very long words, empty and whitespace-only text,
 * text longer than the maximum, with and without dialogue context), hidden states and both pooled
 * vectors within 1e-4, alone and in a padded batch. BERT's own parity is in encoders.test.ts; its
 * 'first' pooling is checked here against the same PyTorch reference.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { isQuarantine } from '../../activities/extract/encoder.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { TransformerTextEncoder, type TextInput } from '../../activities/extract/text-encoder.ts';
import { TextTokenizer } from '../../activities/extract/tokenizer.ts';
import { supportedModelTypes } from '../../schemas/encoder-families.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { MODELS, TINY, expected, maxAbsDiff } from './inputs.ts';

const TOL = 1e-4;
const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });

interface TokenCase {
  text: string;
  context: string[];
  ids: number[];
  typeIds: number[];
  utteranceStart: number;
}
interface ModelCase extends TokenCase {
  name: string;
  shape: [number, number];
  sequence: number[];
  pooledMean: number[];
  pooledFirst: number[];
}
interface Family {
  folder: string;
  maxTokens: number;
  tokens: TokenCase[];
  model: ModelCase[];
}
const fixture = JSON.parse(readFileSync(`${MODELS}text-families.json`, 'utf8')) as {
  families: Record<string, Family>;
};

after(() => releaseEncoderSessions());

test('every text family but BERT (encoders.test.ts) has a fixture', () => {
  assert.deepEqual(
    Object.keys(fixture.families).sort(),
    supportedModelTypes('text')
      .filter((t) => t !== 'bert')
      .sort(),
  );
});

function near(actual: ArrayLike<number>, wanted: ArrayLike<number>, label: string): void {
  const diff = maxAbsDiff(actual, wanted);
  assert.ok(diff <= TOL, `${label} differs by ${diff}`);
}

for (const [family, fx] of Object.entries(fixture.families)) {
  describe(`text family ${family}`, () => {
    let enc: TransformerTextEncoder;
    before(async () => {
      enc = await TransformerTextEncoder.open(await readModelFolder('text', `${MODELS}${fx.folder}`), runtime);
    });

    test('token ids, type ids and utterance start equal Python tokenizers on every hard case', () => {
      const tok = TextTokenizer.fromJson(readFileSync(`${MODELS}${fx.folder}/tokenizer.json`, 'utf8'), family);
      assert.ok(fx.tokens.length >= 20);
      for (const c of fx.tokens) {
        const e = tok.encodeUtterance(c.text, c.context, fx.maxTokens);
        const label = `${family} ${JSON.stringify(c.text.slice(0, 40))}`;
        assert.deepEqual(e.ids, c.ids, label);
        assert.deepEqual(e.typeIds, c.typeIds, label);
        assert.equal(e.utteranceStart, c.utteranceStart, label);
      }
      assert.ok(fx.tokens.some((c) => c.ids.length === fx.maxTokens && c.context.length === 0));
      assert.ok(fx.tokens.some((c) => c.ids.length === fx.maxTokens && c.utteranceStart > 0));
    });

    test('empty and whitespace-only text is quarantined, with or without context', () => {
      for (const [text, context] of [
        ['', []],
        ['   \t\n  ', []],
        ['', ['some context']],
      ] as const) {
        const p = enc.prepare(text, context, 128);
        assert.ok(isQuarantine(p) && p.quarantine.startsWith('empty_text:'), JSON.stringify(text));
      }
    });

    const prepared = (c: ModelCase): TextInput => {
      const p = enc.prepare(c.text, c.context, 128);
      assert.ok(!isQuarantine(p), c.name);
      assert.deepEqual(p.ids, c.ids, c.name);
      assert.equal(p.utteranceStart, c.utteranceStart, c.name);
      return p;
    };

    test('hidden states and both pooled vectors match PyTorch, one utterance at a time', async () => {
      for (const c of fx.model) {
        const p = prepared(c);
        const [mean] = await enc.encode([p], 'mean');
        assert.deepEqual([mean.steps, mean.dim], c.shape, c.name);
        near(mean.sequence, c.sequence, `${family} ${c.name} sequence`);
        near(mean.pooled, c.pooledMean, `${family} ${c.name} mean`);
        const [first] = await enc.encode([p], 'first');
        near(first.pooled, c.pooledFirst, `${family} ${c.name} first`);
      }
    });

    test('a padded batch gives every utterance its own result (pad id, mask)', async () => {
      const out = await enc.encode(fx.model.map(prepared), 'mean');
      out.forEach((e, i) => {
        near(e.sequence, fx.model[i].sequence, `${family} ${fx.model[i].name} in a batch`);
        near(e.pooled, fx.model[i].pooledMean, `${family} ${fx.model[i].name} pooled in a batch`);
      });
    });
  });
}

describe('text family bert', () => {
  test("'first' pooling is the CLS row of PyTorch's hidden states", async () => {
    const enc = await TransformerTextEncoder.open(await readModelFolder('text', TINY.text), runtime);
    for (const c of expected.text) {
      const p = enc.prepare(c.text, c.context, 128);
      assert.ok(!isQuarantine(p));
      const [e] = await enc.encode([p], 'first');
      near(e.pooled, c.sequence.slice(0, e.dim), `bert ${c.name} first`);
    }
  });
});
