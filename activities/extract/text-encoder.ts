/**
 * The text encoder of every text family (schemas/encoder-families.ts: BERT and MiniLM, MPNet,
 * RoBERTa, XLM-R, DeBERTa-v2/v3, ELECTRA) over utterance text, optionally with dialogue context.
 *
 * Decisions:
 * - Nothing here is written per family except where the model itself is: the tokenizer.json's own
 *   pipeline and post-processor give ids, special tokens and type ids (tokenizer.ts); the ONNX graph's
 *   input names decide what is fed (`token_type_ids` only when the graph has it, so RoBERTa-style
 *   exports without it work); hidden size and pad id come from config.json.
 * - RoBERTa, XLM-R and MPNet number positions from padding_idx + 1, so they hold
 *   max_position_embeddings - pad_token_id - 1 tokens (512 of 514), not max_position_embeddings.
 * - Pooling 'mean' averages the utterance's own positions (from `utteranceStart` to the end: all of
 *   the sequence without context, sequence B and its closing special token with it), as the stage
 *   always did; 'first' takes position 0 (CLS / <s>), what a classification head was trained on.
 */
import type { TextPooling } from '../../schemas/extract.ts';
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ort } from '../engine/session.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import { meanRows } from './encoder.ts';
import { configInt, type ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';
import { TextTokenizer } from './tokenizer.ts';

export interface TextInput {
  ids: number[];
  typeIds: number[];
  utteranceStart: number;
  flags: string[];
}

const OUTPUT = 'last_hidden_state';

/** Families whose position ids start at padding_idx + 1 (fairseq heritage). */
const OFFSET_POSITIONS = new Set(['roberta', 'xlm-roberta', 'mpnet']);

function optionalInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

export class TransformerTextEncoder {
  private constructor(
    readonly folder: ModelFolder,
    private readonly session: ort.InferenceSession,
    readonly tokenizer: TextTokenizer,
    readonly dim: number,
    readonly padId: number,
    /** Whether the graph takes token_type_ids, and whether they are the post-processor's (else zeros). */
    private readonly typeIds: 'none' | 'zeros' | 'tokenizer',
    /** The most tokens one sequence may hold. */
    readonly maxPositions: number,
  ) {}

  static async open(folder: ModelFolder, runtime: OnnxRuntimeSettings): Promise<TransformerTextEncoder> {
    const tokenizer = TextTokenizer.fromJson(folder.tokenizerJson ?? '', `${folder.dir}/tokenizer.json`);
    const dim = configInt(folder, 'hidden_size');
    const { session } = await encoderSession(folder, runtime);
    const ids = { type: 'int64', dims: [null, null] } as const;
    validateIo(
      session,
      folder,
      [
        { name: 'input_ids', ...ids },
        { name: 'attention_mask', ...ids },
        { name: 'token_type_ids', ...ids, optional: true },
      ],
      { name: OUTPUT, type: 'float32', dims: [null, null, dim] },
    );
    const config = folder.config;
    const padId = optionalInt(config.pad_token_id) ?? tokenizer.padId ?? 0;
    const offset = OFFSET_POSITIONS.has(String(config.model_type)) ? padId + 1 : 0;
    const maxPositions = configInt(folder, 'max_position_embeddings') - offset;
    // a graph with one token type (RoBERTa exported with the input) must get zeros, which is what
    // transformers feeds such a model: the post-processor's pair type ids would be out of range
    const typeVocab = optionalInt(config.type_vocab_size) ?? 2;
    const typeIds = !session.inputNames.includes('token_type_ids') ? 'none' : typeVocab > 1 ? 'tokenizer' : 'zeros';
    return new TransformerTextEncoder(folder, session, tokenizer, dim, padId, typeIds, maxPositions);
  }

  /** Tokenises one utterance; empty text (nothing left after normalisation) is quarantined. */
  prepare(text: string, context: readonly string[], maxTokens: number): TextInput | Quarantine {
    const limit = Math.min(maxTokens, this.maxPositions);
    // byte-level BPE keeps whitespace as tokens: whitespace-only text is empty for every family
    if (text.trim() === '') return { quarantine: 'empty_text: the utterance has no text' };
    const enc = this.tokenizer.encodeUtterance(text, context, limit);
    if (enc.utteranceTokens === 0)
      return { quarantine: `empty_text: no tokens after normalisation of ${JSON.stringify(text.slice(0, 80))}` };
    const flags: string[] = [];
    if (enc.utteranceTruncated) flags.push('text_truncated');
    if (enc.contextTruncated) flags.push('context_truncated');
    return { ids: enc.ids, typeIds: enc.typeIds, utteranceStart: enc.utteranceStart, flags };
  }

  /** One inference over a padded batch; padding is masked out, so each item equals its unbatched result. */
  async encode(batch: readonly TextInput[], pooling: TextPooling = 'mean'): Promise<Encoded[]> {
    const b = batch.length;
    const s = Math.max(...batch.map((x) => x.ids.length));
    const ids = new BigInt64Array(b * s).fill(BigInt(this.padId));
    const mask = new BigInt64Array(b * s);
    const types = new BigInt64Array(b * s);
    batch.forEach((x, i) => {
      for (let t = 0; t < x.ids.length; t++) {
        ids[i * s + t] = BigInt(x.ids[t]);
        mask[i * s + t] = 1n;
        if (this.typeIds === 'tokenizer') types[i * s + t] = BigInt(x.typeIds[t]);
      }
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [b, s]),
      attention_mask: new ort.Tensor('int64', mask, [b, s]),
    };
    if (this.typeIds !== 'none') feeds.token_type_ids = new ort.Tensor('int64', types, [b, s]);
    const result = await this.session.run(feeds, [OUTPUT]);
    const h = outputData(result, this.folder, OUTPUT, [b, s, this.dim]);
    return batch.map((x, i) => {
      const len = x.ids.length;
      const sequence = h.slice(i * s * this.dim, (i * s + len) * this.dim);
      const pooled =
        pooling === 'first'
          ? sequence.slice(0, this.dim)
          : meanRows(sequence, x.utteranceStart, len - x.utteranceStart, this.dim);
      return { sequence, steps: len, tokens: 1, dim: this.dim, pooled, utteranceTokenStart: x.utteranceStart };
    });
  }
}
