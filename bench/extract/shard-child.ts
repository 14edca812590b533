/**
 * Child process of bench/extract/encoders.bench.ts: builds a segment-stage output of two shards in a
 * temporary local store and runs extractShardStep over both, as a worker would, then reports each
 * shard's wall time (the first includes creating the session), peak RSS after each shard (a second shard that raises it would be a leak) and how many
 * onnxruntime sessions were created (one expected for both shards).
 *
 *   node --import tsx bench/extract/shard-child.ts <modality> <modelFolder> <utterancesPerShard> <threads>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { peakRssKiB } from '../peak-rss.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExtractParamsSchema, type Modality } from '../../schemas/extract.ts';
import { localStepContext } from '../../activities/common/context.ts';
import { sessionsCreated } from '../../activities/extract/sessions.ts';
import { planExtractStep } from '../../activities/extract/plan.ts';
import { extractShardStep } from '../../activities/extract/shard.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import { buildSegments, type UtteranceSpec } from '../../test/extract/segment-fixture.ts';
import { benchTexts } from './encoders.bench.ts';

const [modality, model, sizeArg, threadsArg] = process.argv.slice(2) as [Modality, string, string, string];
const size = Number(sizeArg);
const SHARDS = 2;
const root = mkdtempSync(join(tmpdir(), 'mer-extract-shard-bench-'));
try {
  const spec = { kind: 'local' as const, root };
  const store = createStore(spec);
  const texts = benchTexts(SHARDS * size);
  // MELD-like: 2-6 s of audio (a few share a length, as equal-length batching needs), 15 frames
  const utterances: UtteranceSpec[] = texts.map((text, i) => ({
    id: `dia${Math.floor(i / 8)}_utt${i % 8}`,
    dialogue: String(Math.floor(i / 8)),
    index: i % 8,
    text,
    audio: modality === 'audio' ? { samples: 16000 * (2 + (i % 5)), seed: i + 1 } : null,
    frames: modality === 'visual' ? { count: 15, seed: i } : null,
  }));
  const seg = await buildSegments(store, `bench-${modality}-${size}`, utterances, size);
  const params = ExtractParamsSchema.parse({ [modality]: { model } });
  const base = {
    store: spec,
    modality,
    segmentPrefix: seg.segmentPrefix,
    shardKeys: seg.shardKeys,
    manifestKey: seg.manifestKey,
    params,
  };
  const plan = await planExtractStep(base);
  const runtime = {
    device: 'cpu' as const,
    deviceId: 0,
    threads: Number(threadsArg),
    graphOptimization: 'all' as const,
  };
  const peaks: number[] = [];
  const shardSeconds: number[] = [];
  for (const shardKey of seg.shardKeys) {
    const t0 = performance.now();
    await extractShardStep(
      { ...base, shardKey, featuresPrefix: plan.featuresPrefix, modelSha256: plan.modelSha256 },
      localStepContext(),
      runtime,
    );
    shardSeconds.push((performance.now() - t0) / 1000);
    peaks.push(peakRssKiB() / 1024);
  }
  await closeStores();
  console.log(
    JSON.stringify({
      modality,
      utterancesPerShard: size,
      shards: seg.shardKeys.length,
      shardSeconds,
      maxRssMiB: peakRssKiB() / 1024,
      peakAfterShardsMiB: peaks,
      sessions: sessionsCreated(),
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
