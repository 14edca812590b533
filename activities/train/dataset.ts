import type { Partition } from '../../schemas/train.ts';
import { FeatureShardCorruptError } from '../common/shard-errors.ts';
import { fixedFloat32Column, openStoredParquet, stringColumn, type ParquetGroups } from '../common/parquet-groups.ts';
import { readVscGroup, vscShardShape } from '../compress/vsc-table.ts';
import type { FeatureSet } from '../model/data.ts';
import type { ObjectStore } from '../store/types.ts';

/**
 * Assembles the trainer's FeatureSets (activities/model/data.ts) for the partitions of a fold from
 * stored shards: t and a from the extract stage's pooled vectors, v and vLengths from the compress
 * stage's sequences. Shards are read one at a time, one row group and only the needed columns at a
 * time, straight into arrays sized for the partitions: memory is the result plus one row group,
 * whatever the number of shards. A shard known to hold none of the wanted utterances is not opened.
 */

export interface ShardRef {
  /** Store key of the shard file. */
  readonly key: string;
  /** The utterances the shard holds, when the caller knows them (segment/extract shard indexes). */
  readonly utteranceIds?: readonly string[];
}

export interface FeatureSources {
  /** Extract feature shards (schemas/features.ts) for the pooled text vectors. */
  readonly text?: readonly ShardRef[];
  readonly audio?: readonly ShardRef[];
  /** Compress-stage shards (schemas/compress.ts). */
  readonly visual?: readonly ShardRef[];
}

export interface FeatureDims {
  text?: number;
  audio?: number;
  visual?: number;
  frames?: number;
}

export interface ShardLoad {
  modality: 'text' | 'audio' | 'visual';
  key: string;
  /** Rows in the shard and rows copied into some partition. */
  rows: number;
  used: number;
}

export interface LoadOptions {
  signal?: AbortSignal;
  /** After each shard: for heartbeats and logs. */
  onShard?: (info: ShardLoad) => void;
}

export interface LoadedFeatures<K extends string> {
  sets: Record<K, FeatureSet>;
  dims: FeatureDims;
  shardsRead: number;
  /** Shards not opened because their listed utterances are all unwanted. */
  shardsSkipped: number;
}

interface Target {
  part: number;
  row: number;
}

/** Per-modality destination arrays, allocated when the first shard tells the width. */
class Sink {
  width = 0;
  frames = 0;
  values: Float32Array[] = [];
  lengths: Int32Array[] = [];
  filled: Uint8Array[];

  constructor(
    readonly modality: ShardLoad['modality'],
    readonly sizes: readonly number[],
  ) {
    this.filled = sizes.map((n) => new Uint8Array(n));
  }

  shape(width: number, frames: number, key: string): void {
    if (this.width === 0) {
      this.width = width;
      this.frames = frames;
      this.values = this.sizes.map((n) => new Float32Array(n * width));
      if (this.modality === 'visual') this.lengths = this.sizes.map((n) => new Int32Array(n));
    } else if (width !== this.width || frames !== this.frames) {
      const was = this.modality === 'visual' ? `${this.frames} x ${this.width / this.frames}` : String(this.width);
      const now = this.modality === 'visual' ? `${frames} x ${width / frames}` : String(width);
      throw new FeatureShardCorruptError(key, `${this.modality} features are ${now} here, ${was} in earlier shards`);
    }
  }

  put(t: Target, id: string, values: Float32Array, key: string, length?: number): void {
    if (this.filled[t.part][t.row])
      throw new FeatureShardCorruptError(key, `utterance ${id} was already loaded from another ${this.modality} shard`);
    this.filled[t.part][t.row] = 1;
    this.values[t.part].set(values, t.row * this.width);
    if (length !== undefined) this.lengths[t.part][t.row] = length;
  }
}

export async function loadFeatureSets<K extends string>(
  store: ObjectStore,
  sources: FeatureSources,
  partitions: Readonly<Record<K, Partition>>,
  options: LoadOptions = {},
): Promise<LoadedFeatures<K>> {
  const names = Object.keys(partitions) as K[];
  const parts = names.map((k) => partitions[k]);
  const where = new Map<string, Target[]>();
  parts.forEach((p, part) => {
    if (p.utteranceIds.length !== p.labels.length)
      throw new Error(
        `features: partition ${names[part]} has ${p.utteranceIds.length} ids and ${p.labels.length} labels`,
      );
    p.utteranceIds.forEach((id, row) => {
      const list = where.get(id);
      if (list) list.push({ part, row });
      else where.set(id, [{ part, row }]);
    });
  });
  const sizes = parts.map((p) => p.utteranceIds.length);
  const modalities = (['text', 'audio', 'visual'] as const).filter((m) => sources[m] !== undefined);
  if (modalities.length === 0) throw new Error('features: no modality to load');
  let shardsRead = 0;
  let shardsSkipped = 0;
  const sinks = new Map<ShardLoad['modality'], Sink>();

  for (const modality of modalities) {
    const sink = new Sink(modality, sizes);
    sinks.set(modality, sink);
    for (const ref of sources[modality]!) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('cancelled');
      if (ref.utteranceIds && !ref.utteranceIds.some((id) => where.has(id))) {
        shardsSkipped++;
        continue;
      }
      const groups = await openStoredParquet(store, ref.key);
      try {
        const counts =
          modality === 'visual' ? await loadVisual(groups, where, sink) : await loadPooled(groups, where, sink);
        shardsRead++;
        options.onShard?.({ modality, key: ref.key, ...counts });
      } finally {
        await groups.close();
      }
    }
    const missing: string[] = [];
    let total = 0;
    sink.filled.forEach((filled, part) =>
      filled.forEach((ok, row) => {
        if (ok) return;
        total++;
        if (missing.length < 5) missing.push(parts[part].utteranceIds[row]);
      }),
    );
    if (total > 0) {
      throw new Error(
        `features: ${total} utterance(s) of the split have no ${modality} features in the given shards (e.g. ${missing.join(', ')}); quarantined utterances must be excluded from the splits`,
      );
    }
  }

  const text = sinks.get('text');
  const audio = sinks.get('audio');
  const visual = sinks.get('visual');
  const sets = {} as Record<K, FeatureSet>;
  names.forEach((name, part) => {
    sets[name] = {
      n: sizes[part],
      labels: Int32Array.from(parts[part].labels),
      ...(text ? { t: text.values[part] ?? new Float32Array(0) } : {}),
      ...(audio ? { a: audio.values[part] ?? new Float32Array(0) } : {}),
      ...(visual
        ? { v: visual.values[part] ?? new Float32Array(0), vLengths: visual.lengths[part] ?? new Int32Array(0) }
        : {}),
    };
  });
  const dims: FeatureDims = {
    ...(text ? { text: text.width } : {}),
    ...(audio ? { audio: audio.width } : {}),
    ...(visual ? { visual: visual.frames ? visual.width / visual.frames : 0, frames: visual.frames } : {}),
  };
  return { sets, dims, shardsRead, shardsSkipped };
}

async function loadPooled(
  groups: ParquetGroups,
  where: ReadonlyMap<string, Target[]>,
  sink: Sink,
): Promise<{ rows: number; used: number }> {
  let rows = 0;
  let used = 0;
  for (let g = 0; g < groups.groupRows.length; g++) {
    const t = await groups.readGroup(g, ['utteranceId', 'status', 'pooled']);
    const ids = stringColumn(t, 'utteranceId', groups.name);
    const status = stringColumn(t, 'status', groups.name);
    const pooled = fixedFloat32Column(t, 'pooled', groups.name);
    sink.shape(pooled.width, 0, groups.name);
    for (let j = 0; j < ids.length; j++, rows++) {
      const id = ids[j]!;
      const targets = where.get(id);
      if (!targets) continue;
      const v = pooled.rows[j];
      if (status[j] !== 'ok' || !v) {
        throw new FeatureShardCorruptError(
          groups.name,
          `row ${rows} (${id}) is ${status[j] ?? 'without status'} and has no ${sink.modality} features, but the split includes it; exclude quarantined utterances`,
        );
      }
      for (const target of targets) sink.put(target, id, v, groups.name);
      used++;
    }
  }
  return { rows, used };
}

async function loadVisual(
  groups: ParquetGroups,
  where: ReadonlyMap<string, Target[]>,
  sink: Sink,
): Promise<{ rows: number; used: number }> {
  const shape = vscShardShape(groups);
  sink.shape(shape.maxFrames * shape.dim, shape.maxFrames, groups.name);
  let rows = 0;
  let used = 0;
  for (let g = 0; g < groups.groupRows.length; g++) {
    const r = await readVscGroup(groups, g, shape);
    r.ids.forEach((id, j) => {
      rows++;
      const targets = where.get(id);
      if (!targets) return;
      for (const target of targets) sink.put(target, id, r.sequences[j], groups.name, r.lengths[j]);
      used++;
    });
  }
  return { rows, used };
}

/**
 * Utterances a features shard marks quarantined: the exclusion set for `buildSplits`. Reads only the
 * id and status columns.
 */
export async function readQuarantined(store: ObjectStore, keys: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const key of keys) {
    const groups = await openStoredParquet(store, key);
    try {
      for await (const t of groups.readAll(['utteranceId', 'status'])) {
        const ids = stringColumn(t, 'utteranceId', key);
        stringColumn(t, 'status', key).forEach((s, j) => s === 'quarantined' && out.add(ids[j]!));
      }
    } finally {
      await groups.close();
    }
  }
  return out;
}
