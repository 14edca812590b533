/**
 * One runner per modality: which utterances of a shard can be encoded at all (decided from the
 * index alone, before any media is read), how they are grouped into batches, and how a batch
 * becomes feature rows. Batches are a pure function of the index and parameters, so a retried
 * activity plans the same batches and can trust the ones an earlier attempt stored.
 */
import type { FeatureRow } from '../../schemas/features.ts';
import { SEQUENCE_DTYPE } from '../../schemas/features.ts';
import type { AudioEncoderParams, Modality, TextEncoderParams, VisualEncoderParams } from '../../schemas/extract.ts';
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { SEGMENT_FRAME_SIZE, type SegmentRow } from '../../schemas/segment.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { encodeFloat16 } from '../common/float16.ts';
import { readPcm16 } from '../common/wav.ts';
import type { ObjectStore } from '../store/types.ts';
import { openAudioEncoder, type AudioEncoder, type AudioInput } from './audio-encoder.ts';
import { isQuarantine, type Encoded } from './encoder.ts';
import { inflateFrames } from './media.ts';
import type { ModelFolder } from './model-folder.ts';
import type { DialogueTexts } from './shard-input.ts';
import { TransformerTextEncoder, type TextInput } from './text-encoder.ts';
import { VisualEncoder, type VisualInput } from './visual-encoder.ts';

export interface ModalityRunner {
  readonly dim: number;
  /** A quarantine reason decided from the index row alone, or null when the utterance is encodable. */
  screen(row: SegmentRow): string | null;
  /** Deterministic batches of encodable rows. */
  plan(rows: readonly SegmentRow[]): SegmentRow[][];
  /** Feature rows for one batch, in batch order (media problems found here are quarantined rows). */
  run(rows: readonly SegmentRow[]): Promise<FeatureRow[]>;
}

export function quarantinedRow(utteranceId: string, reason: string, flags: string[] = []): FeatureRow {
  return {
    utteranceId,
    status: 'quarantined',
    reason,
    pooled: null,
    sequence: null,
    dtype: SEQUENCE_DTYPE,
    seqSteps: null,
    seqTokens: null,
    seqDim: null,
    utteranceTokenStart: null,
    flags,
  };
}

function featureRow(utteranceId: string, e: Encoded, flags: string[]): FeatureRow {
  return {
    utteranceId,
    status: 'ok',
    reason: null,
    pooled: e.pooled,
    sequence: encodeFloat16(e.sequence),
    dtype: SEQUENCE_DTYPE,
    seqSteps: e.steps,
    seqTokens: e.tokens,
    seqDim: e.dim,
    utteranceTokenStart: e.utteranceTokenStart,
    flags,
  };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function segmentReason(row: SegmentRow, what: string): string {
  return row.status === 'quarantined'
    ? `segment_quarantined: ${row.reason ?? 'no reason given'}`
    : `no_${what}: the segment stage stored no ${what} for it`;
}

/** Encodes the prepared items of a batch and returns rows in the batch's order, quarantines included. */
async function assemble<I extends { flags: string[] }>(
  rows: readonly SegmentRow[],
  prepared: ReadonlyArray<I | { quarantine: string }>,
  encode: (items: I[]) => Promise<Encoded[]>,
): Promise<FeatureRow[]> {
  const items: I[] = [];
  for (const p of prepared) if (!isQuarantine(p)) items.push(p);
  const encoded = items.length ? await encode(items) : [];
  let k = 0;
  return rows.map((row, i) => {
    const p = prepared[i];
    if (isQuarantine(p)) return quarantinedRow(row.utteranceId, p.quarantine);
    return featureRow(row.utteranceId, encoded[k++], p.flags);
  });
}

class TextRunner implements ModalityRunner {
  private readonly prepared = new Map<string, TextInput | { quarantine: string }>();

  constructor(
    private readonly encoder: TransformerTextEncoder,
    private readonly texts: DialogueTexts,
    private readonly params: TextEncoderParams,
    private readonly manifestKey: string,
  ) {}

  get dim(): number {
    return this.encoder.dim;
  }

  private prepare(row: SegmentRow): TextInput | { quarantine: string } {
    let p = this.prepared.get(row.utteranceId);
    if (!p) {
      const text = this.texts.text(row.utteranceId);
      if (text === undefined) {
        throw new MerError(
          ErrorTypes.SegmentsInvalid,
          `utterance ${row.utteranceId} of the segment shard is not in the manifest ${this.manifestKey}`,
          {
            utteranceId: row.utteranceId,
          },
        );
      }
      p = this.encoder.prepare(
        text,
        this.texts.context(row.utteranceId, this.params.contextUtterances),
        this.params.maxTokens,
      );
      this.prepared.set(row.utteranceId, p);
    }
    return p;
  }

  screen(row: SegmentRow): string | null {
    const p = this.prepare(row);
    return isQuarantine(p) ? p.quarantine : null;
  }

  plan(rows: readonly SegmentRow[]): SegmentRow[][] {
    // sorted by length so a batch pads little; ties keep index order
    const len = (r: SegmentRow) => (this.prepare(r) as TextInput).ids.length;
    const order = rows.map((r, i) => ({ r, i, n: len(r) })).sort((a, b) => a.n - b.n || a.i - b.i);
    return chunk(
      order.map((o) => o.r),
      this.params.batchSize,
    );
  }

  run(rows: readonly SegmentRow[]): Promise<FeatureRow[]> {
    return assemble(
      rows,
      rows.map((r) => this.prepare(r)),
      (items) => this.encoder.encode(items, this.params.pooling),
    );
  }
}

class AudioRunner implements ModalityRunner {
  constructor(
    private readonly encoder: AudioEncoder,
    private readonly store: ObjectStore,
    private readonly params: AudioEncoderParams,
  ) {}

  get dim(): number {
    return this.encoder.dim;
  }

  private effectiveSamples(row: SegmentRow): number {
    return Math.min(row.samples ?? 0, this.encoder.maxSamples(this.params.maxSeconds));
  }

  screen(row: SegmentRow): string | null {
    if (row.status !== 'ok' || !row.audioKey || row.samples === null) return segmentReason(row, 'audio');
    if (row.samples < this.encoder.receptiveField) return this.encoder.tooShort(row.samples);
    return null;
  }

  plan(rows: readonly SegmentRow[]): SegmentRow[][] {
    if (this.encoder.batching === 'padded') {
      // the model masks the padding (or pads every input to its window): sorted by length so a batch pads little
      const order = rows.map((r, i) => ({ r, i, n: this.effectiveSamples(r) })).sort((a, b) => a.n - b.n || a.i - b.i);
      return chunk(
        order.map((o) => o.r),
        this.params.batchSize,
      );
    }
    const groups = new Map<number, SegmentRow[]>();
    for (const r of rows) {
      const n = this.effectiveSamples(r);
      let g = groups.get(n);
      if (!g) groups.set(n, (g = []));
      g.push(r);
    }
    return [...groups.keys()].sort((a, b) => a - b).flatMap((n) => chunk(groups.get(n)!, this.params.batchSize));
  }

  async run(rows: readonly SegmentRow[]): Promise<FeatureRow[]> {
    const blobs = await Promise.all(rows.map((r) => this.store.get(r.audioKey!)));
    const prepared = rows.map((row, i): AudioInput | { quarantine: string } => {
      let pcm;
      try {
        pcm = readPcm16(blobs[i]);
      } catch (err) {
        return { quarantine: `audio_unreadable: ${row.audioKey}: ${(err as Error).message}` };
      }
      if (pcm.channels !== 1)
        return { quarantine: `audio_unreadable: ${row.audioKey} has ${pcm.channels} channels, expected mono` };
      // the batch was planned from the index's sample count: a different object would break equal lengths
      if (pcm.samples.length !== row.samples) {
        return {
          quarantine: `audio_unreadable: ${row.audioKey} holds ${pcm.samples.length} samples, the shard index says ${row.samples}`,
        };
      }
      return this.encoder.prepare(pcm.samples, pcm.sampleRate, this.params.maxSeconds);
    });
    return assemble(rows, prepared, (items) => this.encoder.encode(items));
  }
}

class VisualRunner implements ModalityRunner {
  constructor(
    private readonly encoder: VisualEncoder,
    private readonly store: ObjectStore,
    private readonly params: VisualEncoderParams,
  ) {}

  get dim(): number {
    return this.encoder.dim;
  }

  screen(row: SegmentRow): string | null {
    if (row.status !== 'ok' || !row.framesKey || row.frameCount === null) return segmentReason(row, 'frames');
    if (row.frameCount === 0) return 'no_frames: the utterance has no frames';
    if (row.frameHeight !== SEGMENT_FRAME_SIZE || row.frameWidth !== SEGMENT_FRAME_SIZE) {
      return `frames_unreadable: frames are ${row.frameHeight}x${row.frameWidth}, the contract is ${SEGMENT_FRAME_SIZE}x${SEGMENT_FRAME_SIZE}`;
    }
    return null;
  }

  plan(rows: readonly SegmentRow[]): SegmentRow[][] {
    const out: SegmentRow[][] = [];
    let cur: SegmentRow[] = [];
    let frames = 0;
    for (const r of rows) {
      const n = r.frameCount ?? 0;
      if (cur.length > 0 && frames + n > this.params.batchFrames) {
        out.push(cur);
        cur = [];
        frames = 0;
      }
      cur.push(r);
      frames += n;
    }
    if (cur.length) out.push(cur);
    return out;
  }

  async run(rows: readonly SegmentRow[]): Promise<FeatureRow[]> {
    const blobs = await Promise.all(rows.map((r) => this.store.get(r.framesKey!)));
    const prepared = rows.map((row, i): VisualInput | { quarantine: string } => {
      try {
        return this.encoder.prepare(
          inflateFrames(blobs[i], row.frameCount!, SEGMENT_FRAME_SIZE, SEGMENT_FRAME_SIZE),
          row.frameCount!,
        );
      } catch (err) {
        return { quarantine: `frames_unreadable: ${row.framesKey}: ${(err as Error).message}` };
      }
    });
    return assemble(rows, prepared, (items) => this.encoder.encode(items, this.params.batchFrames));
  }
}

export interface RunnerInput {
  modality: Modality;
  folder: ModelFolder;
  runtime: OnnxRuntimeSettings;
  store: ObjectStore;
  text: TextEncoderParams;
  audio: AudioEncoderParams;
  visual: VisualEncoderParams;
  /** Required for text. */
  texts?: DialogueTexts;
  manifestKey?: string;
}

export async function openRunner(input: RunnerInput): Promise<ModalityRunner> {
  switch (input.modality) {
    case 'text':
      if (!input.texts || !input.manifestKey) throw new Error('text extraction needs the manifest');
      return new TextRunner(
        await TransformerTextEncoder.open(input.folder, input.runtime),
        input.texts,
        input.text,
        input.manifestKey,
      );
    case 'audio':
      return new AudioRunner(await openAudioEncoder(input.folder, input.runtime), input.store, input.audio);
    case 'visual':
      return new VisualRunner(
        await VisualEncoder.open(input.folder, input.runtime, input.visual),
        input.store,
        input.visual,
      );
  }
}
