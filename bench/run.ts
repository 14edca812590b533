// `npm run bench [filter]`: runs every bench/**/*.bench.ts (each default-exports a Bench: a function
// returning BenchRow[] or a promise of them), prints a table and writes bench/results/<time>.json.
// Timings are measured here and reported, never asserted: they depend on the machine and its load.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bench, BenchRow } from './types.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

function findBenches(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) return n === 'results' ? [] : findBenches(p);
      return n.endsWith('.bench.ts') ? [p] : [];
    });
}

const filter = process.argv[2];
const files = findBenches(here).filter((f) => !filter || f.includes(filter));
const rows: BenchRow[] = [];
const failures: Array<{ file: string; error: string }> = [];
for (const f of files) {
  const name = relative(here, f);
  process.stderr.write(`running ${name} ...\n`);
  try {
    const mod = (await import(pathToFileURL(f).href)) as { default: Bench };
    const r = await mod.default();
    rows.push(...r);
    for (const row of r) process.stderr.write(`  ${row.metric}: ${fmt(row.value)} ${row.unit}\n`);
  } catch (err) {
    failures.push({ file: name, error: String((err as Error)?.stack ?? err) });
    process.stderr.write(`  FAILED: ${String(err)}\n`);
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

const header = ['bench', 'metric', 'value', 'unit', 'reference', 'ratio', 'notes'];
const table = rows.map((r) => [
  r.bench,
  r.metric,
  fmt(r.value),
  r.unit,
  r.reference ? `${r.reference.name}: ${fmt(r.reference.value)}` : '',
  r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '',
  r.notes ?? '',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells: string[]) =>
  cells
    .map((c, i) => c.padEnd(widths[i]))
    .join('  ')
    .trimEnd();
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(line(row));

const outDir = join(here, 'results');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
};
writeFileSync(file, JSON.stringify({ machine, rows, failures }, null, 2));
console.log(`\nresults: ${relative(process.cwd(), file)}`);
if (failures.length) process.exitCode = 1;
