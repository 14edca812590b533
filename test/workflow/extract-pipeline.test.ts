import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { parquetToTable } from '../../activities/common/parquet.ts';
import type { ExtractReport } from '../../activities/extract/finalize.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { buildRunConfig, ConfigError, toPipelineInput } from '../../cli/config.ts';
import type { ModalityFeaturesResult, PipelineInput } from '../../schemas/config.ts';
import { EXTRACT_MODALITIES } from '../../schemas/extract.ts';
import { tableToFeatureRows } from '../../schemas/features.ts';
import { tableToSegmentRows } from '../../schemas/segment-table.ts';
import { TINY } from '../extract/inputs.ts';
import { pipelineInput as buildInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const fx = pipelineTest({ name: 'ext-wf', seed: 7, iemocap: 'archive', meld: 'archive' });

/** A config file naming the tiny models relative to its own folder, as a user's would. */
async function pipelineInput(store: string): Promise<PipelineInput> {
  const rel = (p: string) => relative(fx.dir, p);
  const extract = {
    text: { model: rel(TINY.text), batchSize: 4 },
    audio: { model: rel(TINY.audio) },
    visual: { model: rel(TINY.visual) },
  };
  const input = await buildInput(
    { iemocap: fx.archive('iemocap'), meld: fx.archive('meld'), store, until: 'extract', taskQueuePrefix: 'ext-wf' },
    { file: join(fx.dir, 'mer.json'), config: { extract }, segment: { shardSize: 16, parallelism: 2 } },
  );
  assert.equal(input.extract!.text.model, TINY.text, 'model folders resolve against the config file');
  return input;
}

const run = (input: PipelineInput) => runInProcess(fx.env, input, { intervalMs: 200 });

describe('MerPipeline --until extract', () => {
  test('config: extract params join the hash only with the stage; default model folders that are missing are a ConfigError', () => {
    const iemocapArchive = fx.archive('iemocap');
    const seg = toPipelineInput(
      buildRunConfig(undefined, { iemocap: iemocapArchive, until: 'segment' }).config,
      fx.dir,
      false,
    );
    assert.equal(seg.extract, undefined);
    assert.deepEqual(seg.stages, ['acquire', 'segment']);
    const { config } = buildRunConfig(undefined, { iemocap: iemocapArchive, until: 'extract' });
    assert.throws(
      () => toPipelineInput(config, fx.dir, false),
      (e: Error) => e instanceof ConfigError && /extract\.text\.model/.test(e.message) && /--models/.test(e.message),
    );
  });

  test('encodes both corpora in three modalities on the gpu queue, carries quarantined rows, and a rerun runs no inference', async () => {
    const storeRoot = join(fx.dir, 'store');
    const input = await pipelineInput(storeRoot);
    const store = new LocalStore(storeRoot);

    const first = await run(input);
    assert.equal(first.progress.status, 'completed');
    for (const ds of ['iemocap', 'meld'] as const) {
      const seg = first.result.segments![ds];
      const feats = first.result.features?.[ds];
      assert.ok(feats, `${ds} extract result`);
      assert.equal(feats.ran, true);
      const segRows = (
        await Promise.all(seg.shardKeys.map(async (k) => tableToSegmentRows(parquetToTable(await store.get(k)))))
      ).flat();
      const segQuarantined = new Set(segRows.filter((r) => r.status !== 'ok').map((r) => r.utteranceId));
      assert.equal(segQuarantined.size, seg.quarantined);
      for (const m of EXTRACT_MODALITIES) {
        const f: ModalityFeaturesResult = feats.modalities[m];
        assert.equal(f.ran, true);
        assert.ok(await store.committed(f.featuresPrefix), `${ds} ${m} committed`);
        assert.equal(f.rows, seg.utterances, `${ds} ${m}: a row per segmented utterance`);
        assert.equal(f.ok + f.quarantined, f.rows);
        // Media problems quarantine audio and visual rows; text comes from the manifest and is still encoded.
        const carried = m !== 'text';
        if (carried)
          assert.ok(
            f.quarantined >= seg.quarantined,
            `${ds} ${m}: ${f.quarantined} quarantined, segment ${seg.quarantined}`,
          );
        assert.equal(f.shardKeys.length, seg.shardKeys.length);
        const rows = (
          await Promise.all(
            f.shardKeys.map(async (k: string) => tableToFeatureRows(parquetToTable(await store.get(k)))),
          )
        ).flat();
        assert.deepEqual(rows.map((r) => r.utteranceId).sort(), segRows.map((r) => r.utteranceId).sort());
        for (const r of rows) {
          if (carried && segQuarantined.has(r.utteranceId))
            assert.notEqual(r.status, 'ok', `${r.utteranceId}: quarantined by segment stays quarantined in ${m}`);
          if (r.status === 'ok') assert.equal(r.pooled?.length, f.dim);
        }
        assert.equal(rows.filter((r) => r.status === 'ok').length, f.ok);
      }
      // The synthetic corpora have text and frames for every utterance segmentation kept.
      assert.equal(feats.modalities.visual.ok, seg.ok);
      assert.ok(feats.modalities.text.ok >= seg.ok);
      assert.ok(feats.modalities.audio.ok > 0 && feats.modalities.audio.ok <= seg.ok);
      // the visual report carries the store size planned before the stage ran: tokens x dim x float16 x frames
      const visual = feats.modalities.visual;
      const planned = (JSON.parse((await store.get(visual.reportKey)).toString('utf8')) as ExtractReport).projection;
      assert.deepEqual(
        [planned?.tokensPerFrame, planned?.frames, planned?.utterances],
        [49, seg.frames, seg.utterances],
      );
      assert.equal(planned?.projectedBytes, seg.frames * 49 * visual.dim * 2 + seg.utterances * visual.dim * 4);
      const row = first.progress.stages.find((s) => s.dataset === ds && s.stage === 'extract');
      assert.equal(row?.status, 'done');
      assert.equal(row?.done, seg.shardKeys.length * 3, 'progress counts shards of every modality');
    }
    assert.equal(first.result.segments!.meld.quarantined > 0, true, 'MELD has quarantined segments to carry');

    const objects = (await store.list('features/')).length;
    const second = await run(input);
    assert.equal(second.progress.status, 'completed');
    for (const ds of ['iemocap', 'meld'] as const) {
      const f = second.result.features![ds];
      assert.equal(f.ran, false);
      for (const m of EXTRACT_MODALITIES)
        assert.deepEqual(f.modalities[m], { ...first.result.features![ds].modalities[m], ran: false });
    }
    assert.ok(second.progress.stages.every((s) => s.status === 'skipped'));
    assert.equal((await store.list('features/')).length, objects, 'nothing written on the rerun');
  });
});
