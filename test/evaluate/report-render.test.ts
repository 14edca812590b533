import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import {
  ablationBarsSvg,
  confusionHeatmapSvg,
  trainingCurvesSvg,
  type AblationRow,
  type CurvePoint,
} from '../../activities/evaluate/charts.ts';
import { escapeHtml, renderHtml, renderMarkdown, type ReportBlock } from '../../activities/evaluate/report-doc.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';

const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'report');

// A small fixed example: IEMOCAP's 6 classes, each row summing to 100 so the percentages are exact.
const CLASSES = ['hap', 'sad', 'neu', 'ang', 'exc', 'fru'];
const COUNTS = [
  [62, 3, 9, 1, 18, 7],
  [2, 71, 14, 1, 2, 10],
  [6, 11, 58, 4, 7, 14],
  [1, 1, 6, 60, 5, 27],
  [20, 1, 8, 3, 64, 4],
  [3, 6, 15, 12, 3, 61],
];
const NORMALIZED = COUNTS.map((row) => {
  const total = row.reduce((a, b) => a + b, 0);
  return row.map((v) => v / total);
});

const FOLDS = ['fold 1', 'fold 2', 'fold 3'];
const EPOCHS = 8;
const CURVES: CurvePoint[] = FOLDS.flatMap((series, f) =>
  Array.from({ length: EPOCHS }, (_, i) => {
    const epoch = i + 1;
    const rise = 1 - Math.exp(-epoch / 3);
    return [
      { series, epoch, metric: 'loss' as const, split: 'train' as const, value: 1.75 / Math.sqrt(epoch) + 0.04 * f },
      {
        series,
        epoch,
        metric: 'accuracy' as const,
        split: 'validation' as const,
        value: 0.42 + 0.28 * rise - 0.015 * f,
      },
      {
        series,
        epoch,
        metric: 'weightedF1' as const,
        split: 'validation' as const,
        value: 0.4 + 0.29 * rise - 0.018 * f,
      },
    ];
  }).flat(),
);

// The ablation table: 7 variants, each with accuracy and weighted F1 (mean ± std over the folds).
const ABLATION_TABLE: [string, number, number, number, number][] = [
  ['full model', 0.7012, 0.0114, 0.6951, 0.0121],
  ['no audio', 0.6623, 0.0142, 0.6548, 0.0157],
  ['no video', 0.6871, 0.0098, 0.6803, 0.0105],
  ['no text', 0.5734, 0.0201, 0.5612, 0.0224],
  ['no VSC compression', 0.6935, 0.0127, 0.6872, 0.0133],
  ['no cross-attention', 0.6518, 0.0166, 0.6437, 0.0171],
  ['late fusion | concat', 0.6402, 0.0183, 0.6311, 0.019],
];
const ABLATION: AblationRow[] = ABLATION_TABLE.flatMap(([variant, acc, accStd, f1, f1Std]) => [
  { variant, metric: 'accuracy', mean: acc, std: accStd },
  { variant, metric: 'weighted F1', mean: f1, std: f1Std },
]);

const TITLES = {
  confusion: 'Confusion matrix: IEMOCAP 6-class, 3-fold cross-validation',
  curves: 'Training curves per fold',
  ablation: 'Ablation: modality and component variants',
};

async function buildReport(): Promise<{ title: string; blocks: ReportBlock[]; figures: Record<string, string> }> {
  const [confusion, curves, ablation] = await Promise.all([
    confusionHeatmapSvg({ classes: CLASSES, counts: COUNTS, normalized: NORMALIZED, title: TITLES.confusion }),
    trainingCurvesSvg({ title: TITLES.curves, points: CURVES }),
    ablationBarsSvg({ title: TITLES.ablation, rows: ABLATION }),
  ]);
  const blocks: ReportBlock[] = [
    {
      kind: 'keyvalue',
      rows: [
        ['Config hash', 'mer-0123456789abcdef0123'],
        ['Dataset', 'IEMOCAP (6 classes)'],
        ['Folds', '3'],
      ],
    },
    { kind: 'heading', level: 2, text: 'Results' },
    {
      kind: 'paragraph',
      text: 'Scores are accuracy & weighted F1 as <mean ± std> over 3 folds; "best" is bold in no table.',
    },
    {
      kind: 'table',
      caption: 'Per-class recall',
      columns: ['Class', 'Support', 'Recall'],
      rows: CLASSES.map((c, i) => [c, COUNTS[i].reduce((a, b) => a + b, 0), NORMALIZED[i][i]]),
    },
    {
      kind: 'figure',
      id: 'confusion',
      caption: 'Row-normalised confusion matrix (counts and row percentages).',
      svg: confusion,
    },
    { kind: 'heading', level: 2, text: 'Training' },
    {
      kind: 'figure',
      id: 'curves',
      caption: 'Train loss, validation accuracy and weighted F1 per epoch.',
      svg: curves,
    },
    { kind: 'heading', level: 2, text: 'Ablation' },
    {
      kind: 'table',
      caption: 'Ablation (mean ± std over folds)',
      columns: ['Variant', 'Accuracy', '± std', 'Weighted F1', '± std'],
      rows: ABLATION_TABLE.map((r) => [...r]),
    },
    {
      kind: 'figure',
      id: 'ablation',
      caption: 'Ablation variants: mean ± std of accuracy and weighted F1.',
      svg: ablation,
    },
  ];
  return { title: 'MER evaluation report', blocks, figures: { confusion, curves, ablation } };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-report-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('report charts', () => {
  test('the same input renders byte-identical SVG, with a title, aria-label and fixed size', async () => {
    const a = await confusionHeatmapSvg({
      classes: CLASSES,
      counts: COUNTS,
      normalized: NORMALIZED,
      title: TITLES.confusion,
    });
    const b = await confusionHeatmapSvg({
      classes: CLASSES,
      counts: COUNTS,
      normalized: NORMALIZED,
      title: TITLES.confusion,
    });
    assert.equal(a, b);
    const c1 = await trainingCurvesSvg({ title: TITLES.curves, points: CURVES });
    assert.equal(c1, await trainingCurvesSvg({ title: TITLES.curves, points: CURVES }));
    const d1 = await ablationBarsSvg({ title: TITLES.ablation, rows: ABLATION });
    assert.equal(d1, await ablationBarsSvg({ title: TITLES.ablation, rows: ABLATION }));
    for (const [svg, kind, title] of [
      [a, 'confusion', TITLES.confusion],
      [c1, 'curves', TITLES.curves],
      [d1, 'ablation', TITLES.ablation],
    ] as const) {
      const root = /^<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
      assert.match(root, /\swidth="\d+(\.\d+)?"/);
      assert.match(root, /\sheight="\d+(\.\d+)?"/);
      assert.ok(root.includes(`aria-label="${escapeHtml(title)}"`), `${kind}: aria-label`);
      assert.ok(root.includes(`data-chart="${kind}"`));
      assert.ok(svg.includes(`<title>${escapeHtml(title)}</title>`));
    }
    // Clip and gradient ids are renamed per chart, so two charts on one page never share one.
    const ids = (s: string) => [...s.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    const all = [...ids(a), ...ids(c1), ...ids(d1)];
    assert.equal(new Set(all).size, all.length);
  });

  test('user strings are escaped in the SVG', async () => {
    const svg = await confusionHeatmapSvg({
      classes: ['a<b', 'c&d', '"q"'],
      counts: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      normalized: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      title: '<script>alert(1)</script> & "x"',
    });
    assert.ok(!svg.includes('<script>'));
    assert.ok(svg.includes('&lt;script&gt;alert(1)&lt;/script&gt; &amp;'));
    assert.ok(svg.includes('>a&lt;b</text>'));
    assert.ok(svg.includes('>c&amp;d</text>'));
  });

  test('a confusion matrix of the wrong shape is refused', async () => {
    await assert.rejects(
      confusionHeatmapSvg({
        classes: ['a', 'b'],
        counts: [[1, 2]],
        normalized: [
          [1, 0],
          [0, 1],
        ],
        title: 't',
      }),
      /counts must be 2×2/,
    );
  });
});

describe('report documents', () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';

  test('renderMarkdown writes GFM tables with | escaped and figures as image links', () => {
    const md = renderMarkdown(
      'Report | *one*',
      [
        { kind: 'heading', level: 2, text: 'Scores' },
        { kind: 'paragraph', text: '# not a heading, a_b and <b>' },
        {
          kind: 'table',
          caption: 'T|1',
          columns: ['Variant', 'F1'],
          rows: [
            ['late | concat', 0.61234567],
            ['a\\b', 1],
          ],
        },
        { kind: 'figure', id: 'fig-1', caption: 'A [bracketed] caption', svg },
        { kind: 'keyvalue', rows: [['key', 'v|w']] },
      ],
      (id) => `figures/${id}.svg`,
    );
    const lines = md.split('\n');
    assert.equal(lines[0], '# Report \\| \\*one\\*');
    assert.ok(lines.includes('## Scores'));
    assert.ok(lines.includes('\\# not a heading, a\\_b and \\<b\\>'));
    assert.ok(lines.includes('**Table 1. T\\|1**'));
    const header = lines.indexOf('| Variant | F1 |');
    assert.ok(header > 0, md);
    assert.equal(lines[header + 1], '| --- | ---: |');
    assert.equal(lines[header + 2], '| late \\| concat | 0.6123 |');
    assert.equal(lines[header + 3], '| a\\\\b | 1 |');
    // Every table row has exactly as many unescaped pipes as a 2-column row should.
    for (const l of lines.slice(header, header + 4)) assert.equal(l.replace(/\\./g, '').split('|').length - 1, 3, l);
    assert.ok(lines.includes('![A \\[bracketed\\] caption](figures/fig-1.svg)'));
    assert.ok(lines.includes('*Figure 1. A \\[bracketed\\] caption*'));
    assert.ok(lines.includes('- **key**: v\\|w'));
    assert.ok(md.endsWith('\n'));
    // A file name with spaces is wrapped so the link still parses.
    assert.match(
      renderMarkdown('t', [{ kind: 'figure', id: 'f', caption: 'c', svg }], () => 'my figs/f.svg'),
      /!\[c\]\(<my figs\/f\.svg>\)/,
    );
  });

  test('renderHtml escapes every text and accepts only self-contained SVG', () => {
    const html = renderHtml('<Report> & "title"', [
      { kind: 'heading', level: 2, text: '<h2>' },
      { kind: 'paragraph', text: '<script>alert("x")</script> & more' },
      { kind: 'table', caption: '<cap>', columns: ['<col>'], rows: [['<cell> & "q"'], [3.5]] },
      { kind: 'figure', id: 'fig', caption: '<caption>', svg },
      { kind: 'keyvalue', rows: [['<k>', "'v'"]] },
    ]);
    assert.ok(!html.includes('<script'));
    assert.ok(html.includes('<title>&lt;Report&gt; &amp; &quot;title&quot;</title>'));
    assert.ok(html.includes('<h1>&lt;Report&gt; &amp; &quot;title&quot;</h1>'));
    assert.ok(html.includes('<h2>&lt;h2&gt;</h2>'));
    assert.ok(html.includes('<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more</p>'));
    assert.ok(html.includes('<caption>Table 1. &lt;cap&gt;</caption>'));
    assert.ok(html.includes('&lt;cell&gt; &amp; &quot;q&quot;'));
    assert.ok(html.includes('<figure id="fig">'));
    assert.ok(html.includes('<figcaption>Figure 1. &lt;caption&gt;</figcaption>'));
    assert.ok(html.includes('<th scope="row">&lt;k&gt;</th><td>&#39;v&#39;</td>'));
    assert.ok(html.includes(svg), 'the SVG is inlined as is');

    const bad = (s: string) => () => renderHtml('t', [{ kind: 'figure', id: 'f', caption: 'c', svg: s }]);
    assert.throws(bad('<svg><script>alert(1)</script></svg>'), /<script>/);
    assert.throws(bad('<svg onload="alert(1)"></svg>'), /event handler/);
    assert.throws(bad('<svg><image href="https://example.com/x.png"/></svg>'), /external resource/);
    assert.throws(bad('<svg><rect fill="url(https://example.com/p)"/></svg>'), /external resource/);
    assert.throws(bad('<div>not svg</div>'), /single <svg>/);
    assert.throws(() => renderHtml('t', [{ kind: 'figure', id: 'has space', caption: 'c', svg }]), /figure id/);
    assert.throws(
      () => renderHtml('t', [{ kind: 'table', columns: ['a', 'b'], rows: [['x']] }]),
      /row 0 has 1 cells for 2 columns/,
    );
  });
});

describe('report in a browser', () => {
  test('report.html renders every figure offline in headless chromium', { skip: chromiumSkipReason() }, async () => {
    const { title, blocks, figures } = await buildReport();
    const html = renderHtml(title, blocks);
    // Self-contained: no scripts, and the only URLs are the SVG and XLink namespace names.
    assert.ok(!/<script|<link\b|@import|@font-face/i.test(html));
    const urls = new Set(html.match(/https?:\/\/[^\s"'<>)]+/g) ?? []);
    for (const u of urls)
      assert.ok(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink'].includes(u), `unexpected URL ${u}`);

    const md = renderMarkdown(title, blocks, (id) => `${id}.svg`);
    for (const out of [dir, ARTIFACTS]) {
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'report.html'), html);
      await writeFile(join(out, 'report.md'), md);
      for (const [id, svg] of Object.entries(figures)) await writeFile(join(out, `${id}.svg`), svg);
    }
    for (const id of Object.keys(figures)) assert.ok(md.includes(`](${id}.svg)`), `report.md links ${id}.svg`);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(30_000);
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(join(dir, 'report.html')).href;
      await page.goto(url, { waitUntil: 'load' });
      assert.equal(await page.title(), title);

      const checks = [
        {
          id: 'confusion',
          title: TITLES.confusion,
          labels: [...CLASSES, 'True class', 'Predicted class', '62', '62.0%'],
          marks: 'g.mark-rect.cells_marks path',
          count: 36,
        },
        {
          id: 'curves',
          title: TITLES.curves,
          labels: [...FOLDS, 'Epoch', 'Loss', 'Accuracy', 'Weighted F1', 'train', 'validation'],
          marks: 'g.mark-line.role-mark path',
          count: 9,
        },
        {
          id: 'ablation',
          title: TITLES.ablation,
          labels: [...ABLATION_TABLE.map((r) => r[0]), 'accuracy', 'weighted F1', 'Score (mean ± std)'],
          marks: 'g.mark-rect.bars_marks path',
          count: 14,
        },
      ];
      for (const c of checks) {
        const svg = page.locator(`figure#${c.id} svg[data-chart="${c.id}"]`);
        assert.equal(await svg.count(), 1, `${c.id}: one chart`);
        assert.ok(await svg.isVisible(), `${c.id}: visible`);
        const box = await svg.boundingBox();
        assert.ok(box && box.width > 300 && box.height > 200, `${c.id}: bounding box ${JSON.stringify(box)}`);
        assert.equal(
          await page.getByRole('img', { name: c.title, exact: true }).count(),
          1,
          `${c.id}: found by its accessible name`,
        );
        const texts = (await svg.locator('text').allTextContents()).map((t) => t.trim());
        for (const label of c.labels)
          assert.ok(texts.includes(label), `${c.id}: label ${JSON.stringify(label)} in ${JSON.stringify(texts)}`);
        assert.equal(await svg.locator(c.marks).count(), c.count, `${c.id}: ${c.marks}`);
        assert.match(await page.locator(`figure#${c.id} figcaption`).innerText(), /^Figure \d\. /);
      }
      // Dark cells (row share ≥ 50%: the diagonal here) carry white count and percentage labels.
      const white = await page.locator('figure#confusion g.role-mark text[fill="white"]').allTextContents();
      assert.deepEqual(
        white.sort(),
        ['58', '58.0%', '60', '60.0%', '61', '61.0%', '62', '62.0%', '64', '64.0%', '71', '71.0%'].sort(),
      );
      // One error bar (a rule with two caps) per bar; one line per fold in each of the 3 panels.
      assert.equal(await page.locator('figure#ablation svg g.mark-rule.role-mark line').count(), 14);
      assert.equal(await page.locator('figure#ablation svg g.mark-rect.role-mark:not(.bars_marks) path').count(), 28);
      for (const m of ['loss', 'accuracy', 'weightedF1'])
        assert.equal(await page.locator(`figure#curves svg g.curve_${m}_marks path`).count(), 3, m);
      // Text is shown as text, not parsed as markup.
      assert.match(await page.locator('main').innerText(), /as <mean ± std> over 3 folds/);
      assert.equal(await page.locator('table').count(), 3);

      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
      assert.deepEqual(requests, [url], 'the page loads nothing but itself');
    } finally {
      await browser.close();
    }
  });
});
