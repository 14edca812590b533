/** BERT over utterance text (optionally with dialogue context), pooled over the utterance's own tokens. */
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ort } from '../engine/session.ts';
import type { Encoded, Quarantine } from './encoder.ts';
import { meanRows } from './encoder.ts';
import { configInt, type ModelFolder } from './model-folder.ts';
import { encoderSession, outputData, validateIo } from './sessions.ts';
import { WordPieceTokenizer } from './tokenizer.ts';

export interface TextInput {
  ids: number[];
  typeIds: number[];
  utteranceStart: number;
  flags: string[];
}

const OUTPUT = 'last_hidden_state';

export class BertTextEncoder {
  private constructor(
    readonly folder: ModelFolder,
    private readonly session: ort.InferenceSession,
    readonly tokenizer: WordPieceTokenizer,
    readonly dim: number,
    private readonly feedsTokenTypes: boolean,
    private readonly maxPositions: number,
  ) {}

  static async open(folder: ModelFolder, runtime: OnnxRuntimeSettings): Promise<BertTextEncoder> {
    const tokenizer = WordPieceTokenizer.fromJson(folder.tokenizerJson ?? '', `${folder.dir}/tokenizer.json`);
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
    const maxPositions = configInt(folder, 'max_position_embeddings');
    return new BertTextEncoder(
      folder,
      session,
      tokenizer,
      dim,
      session.inputNames.includes('token_type_ids'),
      maxPositions,
    );
  }

  /** Tokenises one utterance; empty text (nothing left after normalisation) is quarantined. */
  prepare(text: string, context: readonly string[], maxTokens: number): TextInput | Quarantine {
    const limit = Math.min(maxTokens, this.maxPositions);
    const enc = this.tokenizer.encodeUtterance(text, context, limit);
    if (enc.utteranceTokens === 0) {
      return {
        quarantine:
          text.trim() === ''
            ? 'empty_text: the utterance has no text'
            : `empty_text: no tokens after normalisation of ${JSON.stringify(text.slice(0, 80))}`,
      };
    }
    const flags: string[] = [];
    if (enc.utteranceTruncated) flags.push('text_truncated');
    if (enc.contextTruncated) flags.push('context_truncated');
    return { ids: enc.ids, typeIds: enc.typeIds, utteranceStart: enc.utteranceStart, flags };
  }

  /** One inference over a padded batch; padding is masked out, so each item equals its unbatched result. */
  async encode(batch: readonly TextInput[]): Promise<Encoded[]> {
    const b = batch.length;
    const s = Math.max(...batch.map((x) => x.ids.length));
    const ids = new BigInt64Array(b * s).fill(BigInt(this.tokenizer.padId));
    const mask = new BigInt64Array(b * s);
    const types = new BigInt64Array(b * s);
    batch.forEach((x, i) => {
      for (let t = 0; t < x.ids.length; t++) {
        ids[i * s + t] = BigInt(x.ids[t]);
        mask[i * s + t] = 1n;
        types[i * s + t] = BigInt(x.typeIds[t]);
      }
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [b, s]),
      attention_mask: new ort.Tensor('int64', mask, [b, s]),
    };
    if (this.feedsTokenTypes) feeds.token_type_ids = new ort.Tensor('int64', types, [b, s]);
    const result = await this.session.run(feeds, [OUTPUT]);
    const h = outputData(result, this.folder, OUTPUT, [b, s, this.dim]);
    return batch.map((x, i) => {
      const len = x.ids.length;
      const sequence = h.slice(i * s * this.dim, (i * s + len) * this.dim);
      const pooled = meanRows(sequence, x.utteranceStart, len - x.utteranceStart, this.dim);
      return { sequence, steps: len, tokens: 1, dim: this.dim, pooled, utteranceTokenStart: x.utteranceStart };
    });
  }
}
