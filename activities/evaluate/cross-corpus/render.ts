/**
 * The cross-corpus report as report.md and a self-contained report.html (activities/evaluate/report-doc.ts):
 * the class mapping first, then per direction the in-corpus and cross-corpus figures and the drop.
 */
import { describeSharedMapping, type CrossCorpusReport } from '../../../schemas/cross-corpus.ts';
import type { LabelSetName } from '../../../schemas/manifest.ts';
import { renderHtml, renderMarkdown, type ReportBlock } from '../report-doc.ts';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const pts = (x: number) => `${(x * 100).toFixed(1)} pts`;

export function crossCorpusBlocks(r: CrossCorpusReport): ReportBlock[] {
  const blocks: ReportBlock[] = [
    {
      kind: 'paragraph',
      text: `Each dataset's trained models tested on the other dataset's test utterances, over the classes both label sets share (${r.sharedClasses.join(', ')}). A model's prediction is the shared class whose mapped classes hold the most probability; the in-corpus figures are recomputed the same way on each model's own test predictions, over the same classes. Figures are means over the source dataset's folds; drop = in-corpus - cross-corpus.`,
    },
    { kind: 'heading', level: 2, text: 'Class mapping' },
    {
      kind: 'keyvalue',
      rows: Object.entries(r.mapping).map(([dataset, m]) => [
        dataset,
        describeSharedMapping(m.labelSet as LabelSetName),
      ]),
    },
    {
      kind: 'paragraph',
      text: 'Classes not listed (IEMOCAP 6class exc and fru; MELD surprise, disgust and fear) are left out: their utterances are not tested and the models never predict them here. In the IEMOCAP 4class label set hap already includes exc.',
    },
  ];
  for (const d of r.directions) {
    blocks.push({ kind: 'heading', level: 2, text: `${d.source} models on ${d.target}` });
    blocks.push({
      kind: 'paragraph',
      text: `${d.targetUtterances} ${d.target} test utterances in a shared class (${d.targetLeftOut} in no shared class, left out); ${d.source} ${d.sourceLabelSet} -> ${d.target} ${d.targetLabelSet}.`,
    });
    blocks.push({
      kind: 'table',
      caption: `${d.source} -> ${d.target}: accuracy and weighted F1 over the shared classes`,
      columns: [
        'variant',
        'folds',
        'in-corpus acc',
        'cross-corpus acc',
        'acc drop',
        'in-corpus wF1',
        'cross-corpus wF1',
        'wF1 drop',
      ],
      rows: d.variants.map((v) => [
        v.variant,
        v.folds.length,
        pct(v.inCorpus.accuracy),
        pct(v.crossCorpus.accuracy),
        pts(v.drop.accuracy),
        pct(v.inCorpus.weightedF1),
        pct(v.crossCorpus.weightedF1),
        pts(v.drop.weightedF1),
      ]),
      align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    });
  }
  return blocks;
}

export function renderCrossCorpus(r: CrossCorpusReport): { markdown: string; html: string } {
  const title = `DeepMSI-MER cross-corpus evaluation: ${Object.keys(r.mapping).join(' and ')}`;
  const blocks = crossCorpusBlocks(r);
  return {
    markdown: renderMarkdown(title, blocks, (id) => `figures/${id}.svg`),
    html: renderHtml(title, blocks),
  };
}
