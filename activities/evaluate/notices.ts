import type { DatasetTrainResult } from '../../schemas/config.ts';
import type { MetricsReport, ModalityNotice } from '../../schemas/report.ts';
import type { ReportBlock } from './report-doc.ts';

/**
 * What a reader must see before the numbers: trainings that diverged (their variants are not scored)
 * and modalities that carried no information in the training data (an ablation of such a modality
 * says nothing about it). Both come from the train stage's result.
 */

const WORD = { t: 'text', a: 'audio', v: 'visual' } as const;

/** The train result's per-fold variance warnings, one per (variant, modality), for metrics.json. */
export function modalityNotices(trained: DatasetTrainResult): { warnings?: ModalityNotice[] } {
  const byKey = new Map<string, ModalityNotice>();
  for (const r of trained.runs) {
    for (const w of r.warnings ?? []) {
      const key = `${r.variant}\u0000${w.modality}`;
      const seen = byKey.get(key);
      if (seen) {
        seen.folds.push(r.fold);
        seen.variance = Math.max(seen.variance, w.variance);
      } else {
        byKey.set(key, {
          variant: r.variant,
          folds: [r.fold],
          modality: w.modality,
          variance: w.variance,
          message: '',
        });
      }
    }
  }
  const warnings = [...byKey.values()].map((n) => ({
    ...n,
    message: `${WORD[n.modality]} carries no information in this corpus for ${n.variant} (mean feature variance ${n.variance.toExponential(2)} over the training samples of ${n.folds.length} fold(s)): results with and without ${WORD[n.modality]} say nothing about it`,
  }));
  return warnings.length ? { warnings } : {};
}

/** The report's notices section, before the results; empty when there is nothing to say. */
export function noticeBlocks(report: Pick<MetricsReport, 'diverged' | 'warnings'>): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  const diverged = report.diverged ?? [];
  const warnings = report.warnings ?? [];
  if (!diverged.length && !warnings.length) return blocks;
  blocks.push({ kind: 'heading', level: 2, text: 'Notices' });
  if (diverged.length) {
    const variants = [...new Set(diverged.map((d) => d.variant))];
    blocks.push({
      kind: 'paragraph',
      text: `Diverged: ${variants.join(', ')}. A variant with a diverged fold is not scored (its other folds alone would not be the protocol); every other variant is. Change the setting named below and run again: only the changed trainings train.`,
    });
    blocks.push({
      kind: 'table',
      caption: 'Trainings whose loss became non-finite (recorded under models/<train key>/diverged.json)',
      columns: ['variant', 'fold', 'epoch', 'step', 'loss', 'what to change'],
      align: ['left', 'left', 'right', 'right', 'left', 'left'],
      rows: diverged.map((d) => [d.variant, d.fold, d.epoch + 1, d.step, d.loss, whatToChange(d.message)]),
    });
  }
  for (const w of warnings) blocks.push({ kind: 'paragraph', text: `Warning: ${w.message}.` });
  return blocks;
}

/** The advice part of a divergence message ("lower train.lr (now 1e+20) or set train.clipGradNorm (e.g. 1)"). */
function whatToChange(message: string): string {
  const m = /; (lower .*?)\. Recorded in/.exec(message);
  return m ? m[1] : message;
}
