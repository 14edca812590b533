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
