import type {
  DatasetAcquireResult,
  DatasetCompressResult,
  DatasetEvaluateResult,
  DatasetExtractResult,
  DatasetSegmentResult,
  DatasetTrainResult,
} from '../../schemas/config.ts';
import type { VscParams } from '../../schemas/compress.ts';
import { reportKeys } from '../../schemas/layout.ts';
import type { MetricsReport, StageTime } from '../../schemas/report.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import type { ResolvedVariant, TrainParams } from '../../schemas/train.ts';
import { contentKey } from '../common/hash.ts';

/**
 * Bumped whenever the same trainings would give a different report. 2: the run's config hash and
 * stage timings left the report for `runs/<configHash>.json` beside it (report version 2). 3: seeds,
 * intervals and paired tests, and slices (report version 3).
 */
export const EVALUATE_CODE_VERSION = 3;

export interface EvaluateDatasetInput {
  store: StoreSpec;
  configHash: string;
  labels: string;
  acquired: DatasetAcquireResult;
  segmented: DatasetSegmentResult;
  features: DatasetExtractResult;
  compressed: DatasetCompressResult;
  trained: DatasetTrainResult;
  variants: ResolvedVariant[];
  /** The run's train and VSC settings, shown in the report (the trainings' keys already cover them). */
  settings: { train: TrainParams; vsc: VscParams };
  /** The run's stage timings so far (from the pipeline's progress), for the run file beside the report; not part of the key. */
  timings: StageTime[];
}

/** Where the report went; the workflow adds the dataset and turns `skipped` into `ran`. */
export type EvaluateDatasetResult = Omit<DatasetEvaluateResult, 'dataset' | 'ran'> & { skipped: boolean };

/** The report's content address: the trainings' keys plus this code's version. */
export function evaluateKey(trained: DatasetTrainResult): string {
  return contentKey({
    stage: 'evaluate',
    code: EVALUATE_CODE_VERSION,
    runs: trained.runs.map((r) => [r.variant, r.fold, r.trainKey]),
    splits: trained.splitsKey,
    // Only when some diverged: the reports of runs without divergence keep their keys.
    ...(trained.diverged?.length ? { diverged: trained.diverged.map((d) => [d.variant, d.fold, d.trainKey]) } : {}),
  });
}

export function summarise(evalKey: string, report: MetricsReport, skipped: boolean): EvaluateDatasetResult {
  const keys = reportKeys(evalKey);
  const full = report.variants[0];
  return {
    evalKey,
    prefix: keys.prefix,
    metricsKey: keys.metrics,
    htmlKey: keys.html,
    markdownKey: keys.markdown,
    // With several seeds a fold appears once per seed: the headline counts folds.
    headline: { variant: full.name, ...full.aggregate.mean, folds: new Set(full.folds.map((f) => f.fold)).size },
    skipped,
  };
}
