/**
 * What differs between how two reports were made, as dotted paths (`config.train.lr`,
 * `provenance.encoders.text`, `run.segment.frames`, `labelSet`).
 *
 * Decision record: the diff covers what decides a report's numbers and nothing that merely names
 * it. Objects are walked to their leaves; arrays are compared whole (a variant list or a class list
 * is one setting); a key present on one side only is a difference with null on the other side. Keys
 * that every report has by construction and that change whenever anything changes (the report's own
 * `evalKey`, the trainings' keys) are left out: they would make every diff look total.
 */
import type { Difference } from '../../../schemas/compare.ts';
import type { LoadedReport } from './read.ts';

/** The settings and inputs of a report, as one object whose leaves are compared. */
export function provenanceOf(r: LoadedReport): Record<string, unknown> {
  const m = r.metrics;
  return {
    dataset: m.dataset,
    labelSet: m.labelSet,
    classes: m.classes,
    protocol: m.protocol,
    ...(m.config ? { config: m.config } : {}),
    // A v1 report's embedded config hash is the run's, not how the report was made.
    provenance: withoutKeys(m.provenance, ['configHash']),
    variants: m.variants.map((v) => v.name),
    ...(r.runConfig ? { run: r.runConfig } : {}),
  };
}

function withoutKeys(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

/** Leaves of a JSON-like value as `path -> JSON text`; arrays and scalars are leaves. */
export function flatten(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    // An empty object is a leaf too: `{}` and a missing key differ.
    if (!entries.length && prefix) out.set(prefix, '{}');
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}

/** Every path whose value differs between `a` and `b` (or exists on one side only), sorted by path. */
export function diffValues(a: unknown, b: unknown): Difference[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const paths = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  const out: Difference[] = [];
  for (const path of paths) {
    const va = fa.get(path) ?? null;
    const vb = fb.get(path) ?? null;
    if (va !== vb) out.push({ path, a: va, b: vb });
  }
  return out;
}

/**
 * The provenance diff of two reports. Run settings (`run.*`, read from a run's history) are compared
 * only when both sides are runs: a fetched folder does not have them, which is no difference.
 */
export function diffReports(a: LoadedReport, b: LoadedReport): Difference[] {
  const both = !!a.runConfig && !!b.runConfig;
  const strip = (r: LoadedReport): LoadedReport => (both ? r : { ...r, runConfig: undefined });
  return diffValues(provenanceOf(strip(a)), provenanceOf(strip(b)));
}
