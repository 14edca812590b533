import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { modalityNotices, noticeBlocks } from '../../activities/evaluate/notices.ts';
import { renderHtml, renderMarkdown } from '../../activities/evaluate/report-doc.ts';
import type { DatasetTrainResult, TrainRunSummary } from '../../schemas/config.ts';

const metrics = { accuracy: 0.5, weightedF1: 0.5, macroF1: 0.5, n: 10 };
const run = (variant: string, fold: string, warnings?: TrainRunSummary['warnings']): TrainRunSummary => ({
  trainKey: `${variant}-${fold}`,
  variant,
  fold,
  bestEpoch: 1,
  validation: metrics,
  test: metrics,
  epochs: 2,
  resumedFromStep: 0,
  resultKey: `models/${variant}-${fold}/result.json`,
  reused: false,
  ...(warnings ? { warnings } : {}),
});

const silent = { modality: 'a' as const, variance: 1e-15, message: 'audio has no variance' };
const trained: DatasetTrainResult = {
  dataset: 'iemocap',
  splitsKey: 's',
  planKey: 'p',
  protocol: 'loso',
  optimistic: false,
  classes: ['a', 'b'],
  folds: [],
  variants: ['T+A', 'T+A+V-lr1e+20'],
  runs: [run('T+A', 'Session1', [silent]), run('T+A', 'Session2', [{ ...silent, variance: 2e-15 }])],
  ran: true,
  diverged: [
    {
      trainKey: 'k',
      variant: 'T+A+V-lr1e+20',
      fold: 'Session1',
      epoch: 0,
      step: 3,
      loss: 'NaN',
      message:
        'train: iemocap variant T+A+V-lr1e+20 fold Session1 diverged: the loss became NaN at epoch 0, step 3; lower the lr of variant T+A+V-lr1e+20 (now 1e+20) or set train.clipGradNorm (e.g. 1). Recorded in models/k/diverged.json: these settings fail the same way on a rerun',
    },
  ],
};

describe('report notices', () => {
  test('variance warnings become one notice per (variant, modality) with its folds and largest variance', () => {
    const { warnings } = modalityNotices(trained);
    assert.equal(warnings?.length, 1);
    assert.deepEqual(warnings[0].folds, ['Session1', 'Session2']);
    assert.equal(warnings[0].variance, 2e-15);
    assert.match(warnings[0].message, /^audio carries no information in this corpus for T\+A/);
    assert.deepEqual(modalityNotices({ ...trained, runs: [run('T', 'Session1')] }), {});
  });

  test('diverged trainings and warnings render before the results, in Markdown and HTML', () => {
    const blocks = noticeBlocks({ diverged: trained.diverged!, ...modalityNotices(trained) });
    const md = renderMarkdown('r', blocks, (id) => `${id}.svg`);
    assert.match(md, /## Notices/);
    assert.match(md, /Diverged: T\+A\+V-lr1e\+20\. A variant with a diverged fold is not scored/);
    assert.match(
      md,
      /\| T\+A\+V-lr1e\+20 \| Session1 \| 1 \| 3 \| NaN \| lower the lr of variant T\+A\+V-lr1e\+20 \(now 1e\+20\) or set train\.clipGradNorm \(e\.g\. 1\) \|/,
    );
    assert.match(md, /Warning: audio carries no information in this corpus/);
    const html = renderHtml('r', blocks);
    assert.match(html, /<h2[^>]*>Notices<\/h2>/);
    assert.deepEqual(noticeBlocks({}), []);
  });
});
