import { promisify } from 'node:util';
import { deflateRaw, constants as zlibConstants } from 'node:zlib';
import type { SegmentKeys } from '../../schemas/layout.ts';
import type { ManifestRow } from '../../schemas/manifest.ts';
import { SEGMENT_FRAME_SIZE, SegmentRowSchema, type SegmentRow } from '../../schemas/segment.ts';
import type { StepContext } from '../common/context.ts';
import type { ObjectStore } from '../store/types.ts';
import type { UtteranceMedia } from './utterance.ts';
import { SEGMENT_SAMPLE_RATE, encodeSegmentWav } from '../common/wav.ts';

const deflateRawAsync = promisify(deflateRaw);

/**
 * Stores each utterance as the cutter hands it over: audio, frames, then its row object — the row is
 * the utterance's commit, written only once its media are stored. Writes overlap the next
 * utterance's ffmpeg run (at most MAX_PENDING in flight, so memory stays bounded). Heartbeats carry a
 * cursor: the shard-order position before which every utterance is committed.
 */

const MAX_PENDING = 2;
/**
 * Level 1: video frames are noisy and barely compress further at higher levels (measured on noisy
 * 224x224 RGB: 65.5% of raw at level 1 in 37 ms per 15 frames, 63.5% at level 6 in 74 ms).
 */
const DEFLATE_LEVEL = zlibConstants.Z_BEST_SPEED;

export class ShardWriter {
  private readonly rows = new Map<string, SegmentRow>();
  private readonly pending = new Set<Promise<void>>();
  private readonly position: Map<string, number>;
  private readonly committedAt: boolean[];
  private failure: Error | null = null;
  cursor = 0;
  produced = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly keys: SegmentKeys,
    private readonly shardIndex: number,
    order: readonly string[],
    reused: ReadonlyMap<string, SegmentRow>,
    private readonly ctx: StepContext,
  ) {
    this.position = new Map(order.map((id, i) => [id, i]));
    this.committedAt = order.map((id) => reused.has(id));
    for (const [id, row] of reused) this.rows.set(id, row);
    this.advance();
  }

  get reused(): number {
    return this.rows.size - this.produced;
  }

  row(utteranceId: string): SegmentRow {
    const r = this.rows.get(utteranceId);
    if (!r) throw new Error(`segment shard ${this.shardIndex}: utterance ${utteranceId} was never produced`);
    return r;
  }

  heartbeat(): void {
    this.ctx.heartbeat({
      shard: this.shardIndex,
      cursor: this.cursor,
      done: this.rows.size,
      total: this.committedAt.length,
    });
  }

  readonly emit = async (row: ManifestRow, media: UtteranceMedia): Promise<void> => {
    this.throwIfFailed();
    while (this.pending.size >= MAX_PENDING) await Promise.race(this.pending);
    this.throwIfFailed();
    const p: Promise<void> = this.write(row, media)
      .then(
        (seg) => this.committed(seg),
        (err: unknown) => {
          // writes fail with Errors; anything else is wrapped so that what is thrown stays an Error
          if (err) this.failure ??= err instanceof Error ? err : new Error('segment write failed', { cause: err });
        },
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  };

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
    this.throwIfFailed();
  }

  private async write(row: ManifestRow, media: UtteranceMedia): Promise<SegmentRow> {
    const id = row.utteranceId;
    const ok = media.quarantine === null;
    const seg = SegmentRowSchema.parse({
      utteranceId: id,
      dataset: row.dataset,
      status: ok ? 'ok' : 'quarantined',
      reason: media.quarantine,
      audioKey: ok && media.audio ? this.keys.audio(id) : null,
      sampleRate: ok && media.audio ? SEGMENT_SAMPLE_RATE : null,
      samples: ok && media.audio ? media.audio.length / 2 : null,
      framesKey: ok && media.frames ? this.keys.frames(id) : null,
      frameCount: ok && media.frames ? media.frameCount : null,
      frameHeight: ok && media.frames ? SEGMENT_FRAME_SIZE : null,
      frameWidth: ok && media.frames ? SEGMENT_FRAME_SIZE : null,
      startSec: ok ? media.startSec : null,
      endSec: ok ? media.endSec : null,
      flags: media.flags,
    } satisfies SegmentRow);
    if (ok) {
      const writes: Promise<unknown>[] = [];
      if (media.audio)
        writes.push(this.store.put(this.keys.audio(id), encodeSegmentWav(media.audio), { contentType: 'audio/wav' }));
      if (media.frames) {
        const frames = media.frames;
        writes.push(
          deflateRawAsync(frames, { level: DEFLATE_LEVEL }).then((z) => this.store.put(this.keys.frames(id), z)),
        );
      }
      await Promise.all(writes);
    }
    await this.store.put(this.keys.row(id), JSON.stringify(seg), { contentType: 'application/json' });
    return seg;
  }

  private committed(seg: SegmentRow): void {
    this.rows.set(seg.utteranceId, seg);
    this.produced++;
    const i = this.position.get(seg.utteranceId);
    if (i !== undefined) this.committedAt[i] = true;
    this.advance();
    this.heartbeat();
  }

  private advance(): void {
    while (this.cursor < this.committedAt.length && this.committedAt[this.cursor]) this.cursor++;
  }
}
