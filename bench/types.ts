/** What every `*.bench.ts` default-exports; a bench with nothing to await may return its rows directly. */
export type Bench = () => BenchRow[] | Promise<BenchRow[]>;

/** One measured number; `ratio` = value / reference.value where a reference was measured too. */
export interface BenchRow {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  reference?: { name: string; value: number };
  ratio?: number;
  notes?: string;
}
