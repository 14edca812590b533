import { dirname } from 'node:path';
import { createStore } from '../activities/store/index.ts';
import type { PipelineInput } from '../schemas/config.ts';
import { manifestFiles } from '../schemas/layout.ts';
import { CORPUS_ISSUE_KINDS } from '../schemas/manifest.ts';
import { manifestReport } from './direct.ts';
import type { StageRow } from './run-history.ts';

/** What finished stages set aside, read from their summaries in the store, for `mer status`. */

export interface QuarantineReport {
  dataset: string;
  stage: string;
  /**
   * Items the stage set aside by its own checks: acquire's manifest issues (bad annotation lines,
   * missing media), segment's quarantined utterances (corrupt or unreadable clips).
   */
  issues: number;
  /** Archive entries extraction skipped (unsafe paths, resource forks, links). */
  skippedEntries: number;
  /** The first items with their reasons (`file` is the utterance id for segment); all are under issuesKey. */
  items: Array<{ file: string; line?: number; reason: string; kind?: string }>;
  issuesKey?: string;
  /** Set when the store could not be read (unreachable, no credentials here). */
  unavailable?: string;
}

/** Reads the quarantine lists of finished stages from their summaries in the store. */
export async function quarantineFromStore(
  input: PipelineInput,
  rows: StageRow[],
  maxItems = 20,
): Promise<QuarantineReport[]> {
  const out: QuarantineReport[] = [];
  for (const r of rows) {
    if (!r.summaryKey) continue;
    if (r.summaryKey.endsWith('/report.json')) {
      out.push(await segmentQuarantine(input, r, maxItems));
      continue;
    }
    if (!r.summaryKey.endsWith('/summary.json')) continue;
    const prefix = dirname(r.summaryKey);
    try {
      const rep = (await manifestReport(input.store, prefix)) as Record<string, unknown> & {
        issueList: Array<{ file?: string; line?: unknown; reason?: string; kind?: unknown }>;
      };
      const skipped = Array.isArray(rep.extractionSkipped)
        ? (rep.extractionSkipped as Array<{ entry?: string; reason?: string }>)
        : [];
      const items = [
        ...skipped.map((s) => ({
          file: String(s.entry ?? '?'),
          reason: String(s.reason ?? ''),
          kind: 'archive-entry-skipped',
        })),
        ...rep.issueList.map((i) => ({
          file: String(i.file ?? '?'),
          ...(typeof i.line === 'number' ? { line: i.line } : {}),
          reason: String(i.reason ?? ''),
          ...(typeof i.kind === 'string' ? { kind: i.kind } : {}),
        })),
      ];
      out.push(
        reportOf(r, {
          issues: rep.issueList.length,
          skippedEntries: skipped.length,
          // Corpus-wide findings (a missing session, unknown label words) first: many skipped entries
          // (macOS `._*` files) must not push them out of the shown items.
          items: [
            ...items.filter((i) => i.kind !== undefined && CORPUS_ISSUE_KINDS.has(i.kind)),
            ...items.filter((i) => i.kind === undefined || !CORPUS_ISSUE_KINDS.has(i.kind)),
          ].slice(0, maxItems),
          issuesKey: manifestFiles(prefix).issues,
        }),
      );
    } catch (err) {
      out.push(unavailable(r, r.counts.issues ?? 0, err));
    }
  }
  return out;
}

async function segmentQuarantine(input: PipelineInput, r: StageRow, maxItems: number): Promise<QuarantineReport> {
  const key = r.summaryKey!;
  try {
    const rep = JSON.parse((await createStore(input.store).get(key)).toString('utf8')) as {
      quarantined?: number;
      quarantinedItems?: Array<{ utteranceId?: string; reason?: string }>;
    };
    const items = (rep.quarantinedItems ?? []).map((q) => ({
      file: String(q.utteranceId ?? '?'),
      reason: String(q.reason ?? ''),
      kind: 'utterance-quarantined',
    }));
    return reportOf(r, {
      issues: rep.quarantined ?? items.length,
      skippedEntries: 0,
      items: items.slice(0, maxItems),
      issuesKey: key,
    });
  } catch (err) {
    return unavailable(r, r.counts.quarantined ?? 0, err);
  }
}

/** A stage row's report; the fields after dataset and stage keep their order in `mer status --json`. */
function reportOf(r: StageRow, rest: Omit<QuarantineReport, 'dataset' | 'stage'>): QuarantineReport {
  return { dataset: r.dataset, stage: r.stage, ...rest };
}

/** The store could not be read: the count from the stage's result, and why there is no list. */
function unavailable(r: StageRow, issues: number, err: unknown): QuarantineReport {
  return reportOf(r, { issues, skippedEntries: 0, items: [], unavailable: (err as Error).message });
}
