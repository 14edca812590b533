/**
 * A small report document model and two renderers:
 *
 * - `renderHtml`: one self-contained HTML file. CSS is inline, figures' SVG is inlined, there are no
 *   scripts, fonts or URLs, and a Content-Security-Policy forbids the page from loading anything.
 * - `renderMarkdown`: GitHub-flavoured Markdown; figures become `![caption](figureFile(id))`, so the
 *   caller writes each figure's SVG next to the .md file under the name it returns.
 *
 * All text is escaped for the target format. Numbers in table cells are printed as integers, or with
 * four decimals (pass strings for other formats); NaN and infinities print as "n/a". Columns whose cells are all numbers are
 * right-aligned unless `align` says otherwise.
 */

export type HeadingLevel = 1 | 2 | 3 | 4 | 5 | 6;
export type ColumnAlign = 'left' | 'center' | 'right';
export type TableCell = string | number;

export type ReportBlock =
  | { kind: 'heading'; level: HeadingLevel; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'table'; caption?: string; columns: string[]; rows: TableCell[][]; align?: ColumnAlign[] }
  | { kind: 'figure'; id: string; caption: string; svg: string }
  | { kind: 'keyvalue'; rows: [string, string][] };

/** A figure id is also a file name stem and an HTML id: letters, digits, '-' and '_', starting with a letter. */
const FIGURE_ID = /^[A-Za-z][A-Za-z0-9_-]*$/;

export function renderHtml(title: string, blocks: ReportBlock[]): string {
  validate(blocks);
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`];
  let figureNo = 0;
  let tableNo = 0;
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading': {
        const level = clampLevel(b.level);
        body.push(`<h${level}>${escapeHtml(b.text)}</h${level}>`);
        break;
      }
      case 'paragraph':
        body.push(`<p>${escapeHtml(b.text)}</p>`);
        break;
      case 'table': {
        tableNo++;
        const align = columnAlign(b);
        const head = b.columns.map((c, i) => `<th scope="col" class="${align[i]}">${escapeHtml(c)}</th>`).join('');
        const rows = b.rows.map(
          (r) => `<tr>${r.map((v, i) => `<td class="${align[i]}">${escapeHtml(formatCell(v))}</td>`).join('')}</tr>`,
        );
        const caption = b.caption !== undefined ? `<caption>Table ${tableNo}. ${escapeHtml(b.caption)}</caption>` : '';
        body.push(
          `<div class="table-wrap"><table>${caption}<thead><tr>${head}</tr></thead><tbody>${rows.join('\n')}</tbody></table></div>`,
        );
        break;
      }
      case 'figure':
        figureNo++;
        body.push(
          `<figure id="${escapeHtml(b.id)}">\n<div class="chart">${b.svg.trim()}</div>\n<figcaption>Figure ${figureNo}. ${escapeHtml(b.caption)}</figcaption>\n</figure>`,
        );
        break;
      case 'keyvalue':
        body.push(
          `<table class="kv"><tbody>${b.rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}</tbody></table>`,
        );
        break;
    }
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body.join('\n')}
</main>
</body>
</html>
`;
}

export function renderMarkdown(title: string, blocks: ReportBlock[], figureFile: (id: string) => string): string {
  validate(blocks);
  const out: string[] = [`# ${escapeMdInline(title)}`];
  let figureNo = 0;
  let tableNo = 0;
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        out.push(`${'#'.repeat(clampLevel(b.level))} ${escapeMdInline(b.text)}`);
        break;
      case 'paragraph':
        out.push(escapeMdParagraph(b.text));
        break;
      case 'table': {
        tableNo++;
        const align = columnAlign(b);
        const lines: string[] = [];
        if (b.caption !== undefined) lines.push(`**Table ${tableNo}. ${escapeMdInline(b.caption)}**`, '');
        lines.push(mdRow(b.columns));
        lines.push(
          `|${align.map((a) => (a === 'right' ? ' ---: ' : a === 'center' ? ' :---: ' : ' --- ')).join('|')}|`,
        );
        for (const r of b.rows) lines.push(mdRow(r.map(formatCell)));
        out.push(lines.join('\n'));
        break;
      }
      case 'figure': {
        figureNo++;
        const caption = escapeMdInline(b.caption);
        out.push(`![${caption}](${mdUrl(figureFile(b.id))})\n\n*Figure ${figureNo}. ${caption}*`);
        break;
      }
      case 'keyvalue':
        out.push(b.rows.map(([k, v]) => `- **${escapeMdInline(k)}**: ${escapeMdInline(v)}`).join('\n'));
        break;
    }
  }
  return `${out.join('\n\n')}\n`;
}

/** Escapes text for HTML element content and (double- or single-quoted) attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Escapes text for inline Markdown (a heading, a table cell, a list item): emphasis, code, links,
 * HTML and table pipes are neutralised with backslashes, entity-looking `&…;` is spelled out, and
 * newlines become spaces (a table cell cannot hold a line break).
 */
export function escapeMdInline(s: string): string {
  return s
    .replace(/\r\n?|\n/g, ' ')
    .replace(/[\\`*_[\]<>|~]/g, (c) => `\\${c}`)
    .replace(/&(?=#?[A-Za-z0-9]+;)/g, '&amp;');
}

/** A paragraph: inline escaping, and a leading block marker (#, list bullet, numbered item, =) is escaped too. */
function escapeMdParagraph(s: string): string {
  return escapeMdInline(s).replace(
    /^(\s*)(?:([#+\-=])|(\d+)([.)]))/,
    (_, ws: string, mark?: string, num?: string, dot?: string) =>
      mark !== undefined ? `${ws}\\${mark}` : `${ws}${num}\\${dot}`,
  );
}

function mdRow(cells: string[]): string {
  return `| ${cells.map((c) => escapeMdInline(c) || ' ').join(' | ')} |`;
}

/** A link target; wrapped in <…> when it holds spaces or parentheses. */
function mdUrl(url: string): string {
  if (/[<>\n]/.test(url))
    throw new Error(`figure file name ${JSON.stringify(url)} cannot be written as a Markdown link`);
  return /[\s()]/.test(url) ? `<${url}>` : url;
}

function formatCell(v: TableCell): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(4);
}

function columnAlign(b: Extract<ReportBlock, { kind: 'table' }>): ColumnAlign[] {
  return b.columns.map(
    (_, i) => b.align?.[i] ?? (b.rows.length > 0 && b.rows.every((r) => typeof r[i] === 'number') ? 'right' : 'left'),
  );
}

function clampLevel(level: number): HeadingLevel {
  return Math.min(6, Math.max(1, Math.trunc(level))) as HeadingLevel;
}

function validate(blocks: ReportBlock[]): void {
  const ids = new Set<string>();
  for (const b of blocks) {
    if (b.kind === 'table') {
      const bad = b.rows.findIndex((r) => r.length !== b.columns.length);
      if (bad >= 0)
        throw new Error(
          `table ${JSON.stringify(b.caption ?? b.columns.join(', '))}: row ${bad} has ${b.rows[bad].length} cells for ${b.columns.length} columns`,
        );
      if (b.align && b.align.length !== b.columns.length)
        throw new Error(
          `table ${JSON.stringify(b.caption ?? b.columns.join(', '))}: align has ${b.align.length} entries for ${b.columns.length} columns`,
        );
    } else if (b.kind === 'figure') {
      if (!FIGURE_ID.test(b.id))
        throw new Error(`figure id ${JSON.stringify(b.id)}: use letters, digits, '-' and '_', starting with a letter`);
      if (ids.has(b.id)) throw new Error(`figure id ${JSON.stringify(b.id)} is used twice`);
      ids.add(b.id);
      checkSvg(b.id, b.svg);
    }
  }
}

/** Figures are inlined verbatim: only a self-contained SVG with nothing active or external is accepted. */
function checkSvg(id: string, svg: string): void {
  const s = svg.trim();
  if (!/^<svg[\s>]/.test(s) || !s.endsWith('</svg>'))
    throw new Error(`figure ${id}: svg must be a single <svg>…</svg> element`);
  for (const [tag, name] of s.matchAll(/<([A-Za-z][\w:-]*)\b[^>]*>/g)) {
    if (/^(script|foreignObject|iframe|object|embed|style)$/i.test(name))
      throw new Error(`figure ${id}: svg holds a <${name}> element`);
    for (const [, attr, dq, sq] of tag.matchAll(/\s([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      const v = dq ?? sq ?? '';
      if (/^on/i.test(attr)) throw new Error(`figure ${id}: svg holds an event handler (${attr})`);
      if (/(^|:)(href|src)$/i.test(attr) && !/^(#|data:image\/)/i.test(v))
        throw new Error(`figure ${id}: svg references an external resource (${attr}="${v}")`);
      if (/url\(\s*["']?(?!#)/i.test(v))
        throw new Error(`figure ${id}: svg references an external resource (${attr}="${v}")`);
    }
  }
}

const CSS = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --stripe: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--fg); font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1, h2, h3, h4, h5, h6 { line-height: 1.25; margin: 2rem 0 0.75rem; font-weight: 600; }
h1 { font-size: 2rem; margin-top: 0; padding-bottom: 0.4rem; border-bottom: 1px solid var(--line); }
h2 { font-size: 1.5rem; padding-bottom: 0.3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.25rem; }
p { margin: 0 0 1rem; max-width: 80ch; }
.table-wrap { overflow-x: auto; margin: 0 0 1.5rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.95rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 0.5rem; color: var(--muted); }
th, td { border: 1px solid var(--line); padding: 0.35rem 0.75rem; vertical-align: top; }
thead th { background: var(--stripe); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.left { text-align: left; } .center { text-align: center; } .right { text-align: right; }
table.kv { margin: 0 0 1.5rem; }
table.kv th { text-align: left; background: var(--stripe); font-weight: 600; white-space: nowrap; }
table.kv td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9rem; word-break: break-all; }
figure { margin: 1.5rem 0 2rem; }
figure .chart { overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { margin-top: 0.5rem; color: var(--muted); font-size: 0.92rem; }
@media print { main { max-width: none; padding: 0; } figure { break-inside: avoid; } }
`.trim();
