import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { LocalStore } from '../../activities/store/local.ts';
import type { PipelineInput } from '../../schemas/config.ts';
import { SegmentReportSchema } from '../../schemas/segment-report.ts';
import { tableToSegmentRows } from '../../schemas/segment-table.ts';
import { ffmpegLog, type FfmpegLog } from '../helpers/ffmpeg-log.ts';
import { pipelineInput as buildInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const fx = pipelineTest({ name: 'seg-wf', seed: 5, iemocap: 'archive', meld: 'archive' });
let tools: FfmpegLog;

before(async () => {
  await fx.whenReady();
  tools = await ffmpegLog(fx.dir);
  fx.onTeardown(tools.install());
});

function pipelineInput(store: string): Promise<PipelineInput> {
  // Below the config minimum of 64 on purpose: the tiny corpora then span several shards, which run
  // two at a time. The workflow takes any positive size; the bounds are a config-file guard rail.
  return buildInput(
    { iemocap: fx.archive('iemocap'), meld: fx.archive('meld'), store, until: 'segment', taskQueuePrefix: 'seg-wf' },
    { segment: { shardSize: 16, parallelism: 2 } },
  );
}

const run = (input: PipelineInput) => runInProcess(fx.env, input, { workers: { queues: ['cpu'] }, intervalMs: 200 });

describe('MerPipeline --until segment', () => {
  test('cuts both corpora in shards, quarantines bad MELD clips, and a rerun does no ffmpeg work at all', async () => {
    const storeRoot = join(fx.dir, 'store');
    const store = new LocalStore(storeRoot);
    const input = await pipelineInput(storeRoot);

    const first = await run(input);
    assert.equal(first.progress.status, 'completed');
    for (const ds of ['iemocap', 'meld'] as const) {
      const seg = first.result.segments?.[ds];
      assert.ok(seg, `${ds} segment result`);
      assert.equal(seg.ran, true);
      const acquired = first.result.datasets[ds];
      assert.equal(seg.utterances, acquired.rows, 'every manifest row has a segment row');
      assert.equal(seg.shardKeys.length, Math.ceil(acquired.rows / 16));
      const row = first.progress.stages.find((s) => s.dataset === ds && s.stage === 'segment');
      assert.equal(row?.status, 'done');
      assert.equal(row?.done, seg.shardKeys.length, 'progress counts shards');
      assert.equal(row?.quarantined, seg.quarantined);

      const report = SegmentReportSchema.parse(JSON.parse((await store.get(seg.reportKey)).toString('utf8')));
      assert.equal(report.utterances, seg.utterances);
      assert.equal(report.shards.length, seg.shardKeys.length);
      assert.ok(report.audioSeconds > 0 && report.frames === report.ok * 15, 'every ok row has 15 frames');
      const rows = (
        await Promise.all(seg.shardKeys.map(async (k) => tableToSegmentRows(parquetToTable(await store.get(k)))))
      ).flat();
      assert.equal(rows.length, seg.utterances);
      for (const r of rows.filter((x) => x.status === 'ok')) {
        assert.ok(r.audioKey && (await store.exists(r.audioKey)), `${r.utteranceId} audio stored`);
        assert.ok(r.framesKey && (await store.exists(r.framesKey)), `${r.utteranceId} frames stored`);
      }
    }
    // Progress showed shards completing while the stage ran, not only at the end.
    assert.ok(
      first.seen.some((p) =>
        p.stages.some((s) => s.stage === 'segment' && s.status === 'running' && s.done > 0 && s.done < s.total),
      ),
    );

    const meldTruth = fx.corpora.meld!.truth;
    const meld = SegmentReportSchema.parse(
      JSON.parse((await store.get(first.result.segments!.meld.reportKey)).toString('utf8')),
    );
    const id = (u: { split: string; dialogueId: number; utteranceId: number }) =>
      `meld_${u.split}_dia${u.dialogueId}_utt${u.utteranceId}`;
    const expectQuarantined = meldTruth.utterances
      .filter((u) => u.flags.corrupt || u.flags.missing)
      .map(id)
      .sort();
    assert.deepEqual(meld.quarantinedItems.map((q) => q.utteranceId).sort(), expectQuarantined);
    assert.deepEqual(meld.reasons, { corrupt: 1, media_missing: 1 });
    assert.equal(meld.flags.overlong_clip_cut, meldTruth.utterances.filter((u) => u.flags.overlong).length);
    assert.equal(meld.flags.two_frame_clip, meldTruth.utterances.filter((u) => u.flags.twoFrame).length);
    assert.equal(meld.ok, meldTruth.utterances.length - expectQuarantined.length, 'every other utterance is produced');

    const objects = (await store.list('segments/')).length;
    const invocations = (await tools.lines()).length;
    assert.ok(invocations > 0);
    const second = await run(input);
    assert.deepEqual(
      await tools.lines().then((l) => l.slice(invocations)),
      [],
      'no ffmpeg or ffprobe process on the rerun',
    );
    for (const ds of ['iemocap', 'meld'] as const) {
      assert.equal(second.result.segments![ds].ran, false);
      assert.deepEqual(second.result.segments![ds], { ...first.result.segments![ds], ran: false });
    }
    assert.ok(second.progress.stages.every((s) => s.status === 'skipped'));
    assert.equal((await store.list('segments/')).length, objects, 'nothing written on the rerun');
  });
});
