import { reportKeys } from '../../schemas/layout.ts';
import type { MetricsReport, VariantReport } from '../../schemas/report.ts';
import type { EpochRecord } from '../model/checkpoint.ts';
import { ablationBarsSvg, confusionHeatmapSvg, trainingCurvesSvg, type CurvePoint } from './charts.ts';
import { encoderRows } from './encoders.ts';
import { noticeBlocks } from './notices.ts';
import { sliceBlocks } from './slices/index.ts';
import { renderHtml, renderMarkdown, type ReportBlock } from './report-doc.ts';
import { ablationChartRows, differenceCell, intervalBlocks, pairedTestBlocks } from './report-stats.ts';

/** One fold's epoch history of the full model, for the training curves. */
export interface FoldCurves {
  fold: string;
  history: EpochRecord[];
}

export interface RenderedFigure {
  id: string;
  /** Relative to the report folder. */
  file: string;
  caption: string;
  svg: string;
}

export interface RenderedReport {
  figures: RenderedFigure[];
  markdown: string;
  html: string;
}

const pct = (x: number): string => (x * 100).toFixed(1);
const pm = (mean: number, std: number): string => `${pct(mean)} ± ${pct(std)}`;
const MOD_LETTER = { t: 'T', a: 'A', v: 'V' } as const;
const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** Wall time of a stage, readable. */
function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

function curvePoints(curves: readonly FoldCurves[]): CurvePoint[] {
  const points: CurvePoint[] = [];
  for (const c of curves) {
    for (const e of c.history) {
      const point = (metric: CurvePoint['metric'], split: CurvePoint['split'], value: number) =>
        points.push({ series: c.fold, epoch: e.epoch + 1, metric, split, value });
      point('loss', 'train', e.loss);
      for (const [split, m] of [
        ['train', e.train],
        ['validation', e.validation],
      ] as const) {
        if (!m) continue;
        point('accuracy', split, m.accuracy);
        point('weightedF1', split, m.weightedF1);
      }
    }
  }
  return points;
}

function variantTable(variants: readonly VariantReport[]): ReportBlock {
  return {
    kind: 'table',
    caption:
      'Test metrics per variant: mean ± std over folds (population std), and on all folds\u2019 predictions pooled (%)',
    columns: ['variant', 'folds', 'accuracy', 'weighted F1', 'macro F1', 'pooled accuracy', 'pooled weighted F1'],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: variants.map((v) => [
      v.name,
      v.folds.length,
      pm(v.aggregate.mean.accuracy, v.aggregate.std.accuracy),
      pm(v.aggregate.mean.weightedF1, v.aggregate.std.weightedF1),
      pm(v.aggregate.mean.macroF1, v.aggregate.std.macroF1),
      pct(v.aggregate.pooled.accuracy),
      pct(v.aggregate.pooled.weightedF1),
    ]),
  };
}

/**
 * Figures (Vega-Lite SVG) and the Markdown and HTML renderings of a metrics report. The figures
 * are listed in the report so metrics.json says which files belong to it.
 */
export async function renderReport(
  report: Omit<MetricsReport, 'figures'>,
  curves: readonly FoldCurves[],
): Promise<RenderedReport> {
  const full = report.variants[0];
  const pooled = full.aggregate.pooled;
  const name = `${report.dataset.toUpperCase()} ${report.labelSet}, ${report.protocol} protocol`;
  const { figureFile } = reportKeys(report.evalKey);
  const figures: RenderedFigure[] = [];
  const figure = (id: string, caption: string, svg: string): ReportBlock => {
    figures.push({ id, file: figureFile(id), caption, svg });
    return { kind: 'figure', id, caption, svg };
  };

  const blocks: ReportBlock[] = [];
  if (report.optimistic) {
    blocks.push({
      kind: 'paragraph',
      text: 'Warning: the paper protocol selects the model on the test fold, as the reference code does. These results are optimistic and are not comparable with results that select on a validation split.',
    });
  }
  blocks.push(...noticeBlocks(report));
  blocks.push({
    kind: 'paragraph',
    text: `${full.name}: accuracy ${pm(full.aggregate.mean.accuracy, full.aggregate.std.accuracy)}%, weighted F1 ${pm(full.aggregate.mean.weightedF1, full.aggregate.std.weightedF1)}%, macro F1 ${pm(full.aggregate.mean.macroF1, full.aggregate.std.macroF1)}% over ${full.folds.length} fold(s) (mean ± std); ${pooled.n} test predictions pooled.`,
  });

  blocks.push({ kind: 'heading', level: 2, text: 'Run and provenance' });
  const p = report.provenance;
  blocks.push({
    kind: 'keyvalue',
    rows: [
      ['dataset', `${report.dataset} (${report.labelSet}: ${report.classes.join(', ')})`],
      ['protocol', `${report.protocol}${report.optimistic ? ' (optimistic: selection on the test fold)' : ''}`],
      ['source', p.sourceKey],
      ['manifest', p.manifestKey],
      ['text encoder', `sha256 ${p.encoders.text}`],
      ['audio encoder', `sha256 ${p.encoders.audio}`],
      ['visual encoder', `sha256 ${p.encoders.visual}`],
      ...encoderRows(p.encoderModels),
      ['features', `${p.featureKeys.text}, ${p.featureKeys.audio}, ${p.featureKeys.visual}`],
      ['VSC outputs', p.vscKeys.join(', ')],
      ['splits', p.splitsKey],
      [
        'code',
        `mer-pipeline ${p.code.package} (train v${p.code.train}, VSC v${p.code.vsc}, evaluate v${p.code.evaluate})`,
      ],
      ['report key', report.evalKey],
    ],
  });
  const t = report.config.train;
  const v = report.config.vsc;
  const setting = (o: Record<string, unknown>, keys: string[]) =>
    keys
      .filter((k) => o[k] !== undefined)
      .map((k) => {
        const value = o[k];
        // settings are primitives, or objects shown as JSON
        return `${k} ${typeof value === 'object' ? JSON.stringify(value) : `${value as string | number | boolean}`}`;
      })
      .join(', ');
  blocks.push({
    kind: 'keyvalue',
    rows: [
      [
        'training',
        setting(t, [
          'preset',
          'summary',
          'batchSize',
          'maxEpochs',
          'patience',
          'lr',
          'weightDecay',
          'contrastiveWeight',
          'temperature',
          'clipGradNorm',
          'seed',
          'loss',
        ]),
      ],
      [
        'variants',
        report.variants.map((x) => x.name).join(', ') +
          (report.diverged?.length
            ? ` (diverged: ${[...new Set(report.diverged.map((d) => d.variant))].join(', ')})`
            : ''),
      ],
      [
        'VSC',
        v.enabled === false
          ? 'off'
          : setting(v, ['topK', 'mergeThreshold', 'keepWeight', 'mergeMode', 'temporalThreshold', 'maxFrames', 'cap']) +
            (v.guidance === 'fixed'
              ? `; token selection guided by text and audio (fixed random projection, seed ${String(v.guidanceSeed)})`
              : '; token selection unguided (similarity to the frame mean)'),
      ],
    ],
  });

  blocks.push({ kind: 'heading', level: 2, text: 'Results' });
  blocks.push(variantTable(report.variants));
  blocks.push(...intervalBlocks(report));
  blocks.push({
    kind: 'table',
    caption: `${full.name} per fold (%)`,
    columns: ['fold', 'test', 'n', 'accuracy', 'weighted F1', 'macro F1', 'best epoch', 'epochs', 'resumed from step'],
    align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: full.folds.map((f) => [
      f.seed !== undefined ? `${f.fold} (seed ${f.seed})` : f.fold,
      f.testGroup,
      f.metrics.n,
      pct(f.metrics.accuracy),
      pct(f.metrics.weightedF1),
      pct(f.metrics.macroF1),
      f.bestEpoch === null ? 'last' : f.bestEpoch + 1,
      f.epochs,
      f.resumedFromStep || '',
    ]),
  });
  blocks.push({
    kind: 'table',
    caption: `${full.name} per class, all folds pooled (%): precision, recall, F1 and support; F1 mean ± std over folds`,
    columns: ['class', 'precision', 'recall', 'F1', 'F1 over folds', 'support'],
    align: ['left', 'right', 'right', 'right', 'right', 'right'],
    rows: pooled.perClass.map((c, i) => {
      const f = full.aggregate.perClassF1[i];
      return [c.class, pct(c.precision), pct(c.recall), pct(c.f1), pm(f.mean, f.std), c.support];
    }),
  });
  blocks.push({ kind: 'heading', level: 3, text: 'Reference per-class figures (not standard metrics)' });
  blocks.push({ kind: 'paragraph', text: pooled.reference.note });
  blocks.push({
    kind: 'table',
    caption: `${full.name}, pooled: per-class figures as the reference code computes them (%), for comparison with the paper's tables only`,
    columns: ['class', '"accuracy" (= recall)', '"F1" (= 2R/(1+R))'],
    align: ['left', 'right', 'right'],
    rows: pooled.reference.perClass.map((c) => [c.class, pct(c.accuracy), pct(c.f1)]),
  });
  blocks.push(
    figure(
      'confusion',
      `${full.name}: confusion matrix of all folds' test predictions (rows: true class; colour and % row-normalised, numbers are counts)`,
      await confusionHeatmapSvg({
        classes: report.classes,
        counts: pooled.confusion,
        normalized: pooled.confusionNormalized,
        title: `${name}: ${full.name} confusion`,
      }),
    ),
  );
  const points = curvePoints(curves);
  if (points.length) {
    blocks.push({ kind: 'heading', level: 2, text: 'Training curves' });
    blocks.push(
      figure(
        'curves',
        `${full.name}: training loss, and accuracy and weighted F1 on the training batches (solid) and the validation split (dashed), per fold`,
        await trainingCurvesSvg({ title: `${name}: ${full.name} training`, points }),
      ),
    );
  }

  if (report.ablation) {
    blocks.push({ kind: 'heading', level: 2, text: 'Ablations' });
    blocks.push({
      kind: 'table',
      caption: 'Each variant trained on the same folds and cached features; test metrics, mean ± std over folds (%)',
      columns: [
        'variant',
        'T',
        'A',
        'V',
        'VSC',
        'contrastive',
        'accuracy',
        'weighted F1',
        'macro F1',
        // issue 18: the paired test against the full model (report-stats.ts)
        'Δ accuracy [95% interval], Holm p',
        'Δ weighted F1 [95% interval], Holm p',
      ],
      align: ['left', 'center', 'center', 'center', 'center', 'center', 'right', 'right', 'right', 'right', 'right'],
      rows: report.ablation.map((r) => [
        r.variant,
        ...(['t', 'a', 'v'] as const).map((m) => (r.modalities.includes(m) ? MOD_LETTER[m] : '')),
        r.modalities.includes('v') ? yesNo(r.vsc) : '',
        r.modalities.includes('v') && r.modalities.length > 1 ? yesNo(r.contrastive) : '',
        pm(r.accuracy.mean, r.accuracy.std),
        pm(r.weightedF1.mean, r.weightedF1.std),
        pm(r.macroF1.mean, r.macroF1.std),
        differenceCell(report, r.variant, 'accuracy'),
        differenceCell(report, r.variant, 'weightedF1'),
      ]),
    });
    const bars = ablationChartRows(report);
    blocks.push(
      figure(
        'ablation',
        `Ablations: test accuracy and weighted F1, ${bars.errorBars}`,
        await ablationBarsSvg({ title: `${name}: ablations`, rows: bars.rows, errorBars: bars.errorBars }),
      ),
    );
    blocks.push(...(await pairedTestBlocks(report, name, figure)));
  }

  if (report.slices) {
    for (const b of await sliceBlocks(report.slices, name))
      blocks.push(b.kind === 'figure' ? figure(b.id, b.caption, b.svg) : b);
  }

  const s = report.stages;
  blocks.push({ kind: 'heading', level: 2, text: 'Stages' });
  const reasons = (r: Record<string, number>): string =>
    Object.entries(r)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  blocks.push({
    kind: 'table',
    // No wall times: they belong to a run (runs/<configHash>.json, shown by `mer report`), not to the report.
    caption: 'What each stage kept and quarantined',
    columns: ['stage', 'result', 'quarantined'],
    align: ['left', 'left', 'left'],
    rows: [
      [
        'acquire',
        `${s.acquire.rows} utterances, ${s.acquire.inLabelSet} in the label set`,
        `${s.acquire.issues} annotation issues`,
      ],
      [
        'segment',
        `${s.segment.ok}/${s.segment.utterances} utterances cut, ${s.segment.audioSeconds.toFixed(0)} s of audio`,
        `${s.segment.quarantined} (${reasons(s.segment.reasons)})`,
      ],
      [
        'extract',
        Object.entries(s.extract)
          .map(([m, e]) => `${m} ${e.ok} (${e.dim}-d)`)
          .join(', '),
        Object.entries(s.extract)
          .map(([m, e]) => `${m} ${e.quarantined}${e.quarantined ? ` (${reasons(e.reasons)})` : ''}`)
          .join(', '),
      ],
      [
        'compress',
        s.compress
          .map(
            (c) =>
              `${c.enabled ? 'VSC' : 'no VSC'}: ${c.utterances} sequences, ${c.ratio.toFixed(1)}x fewer values, ${c.byteRatio.toFixed(1)}x fewer bytes, ${duration(c.seconds)} of work`,
          )
          .join('; '),
        '',
      ],
      [
        'train',
        `${s.train.trainings} trainings, ${duration(s.train.seconds)} of training; splits use ${s.splits.used} of ${s.splits.rows} utterances (${s.splits.unlabelled} outside the label set)`,
        `${s.splits.excluded} left out of the splits${s.train.resumed ? `; ${s.train.resumed} training(s) resumed from a checkpoint` : ''}`,
      ],
    ],
  });

  const title = `DeepMSI-MER evaluation: ${name}`;
  return {
    figures,
    markdown: renderMarkdown(title, blocks, figureFile),
    html: renderHtml(title, blocks),
  };
}
