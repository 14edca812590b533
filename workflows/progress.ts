import { defineQuery, defineSignal, getExternalWorkflowHandle, log } from '@temporalio/workflow';

export type StageStatus = 'pending' | 'running' | 'skipped' | 'done' | 'failed' | 'cancelled';

/** One row of the progress table: a stage of one dataset. */
export interface StageProgress {
  dataset: string;
  stage: string;
  status: StageStatus;
  /** The step within the stage (e.g. download, extract, manifest) and a short human note. */
  step?: string;
  note?: string;
  done: number;
  total: number;
  quarantined: number;
  startedAt?: string;
  endedAt?: string;
  error?: string;
}

export interface ProgressSnapshot {
  configHash: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  stages: StageProgress[];
  startedAt: string;
  updatedAt: string;
}

/** The CLI polls this; it is small and answers from workflow state, no history replay cost. */
export const progressQuery = defineQuery<ProgressSnapshot>('progress');

/** Children report stage progress to the parent, which owns the run's progress table. */
export const stageProgressSignal =
  defineSignal<[Partial<StageProgress> & { dataset: string; stage: string }]>('stageProgress');

/**
 * How a stage child reports progress to the pipeline that started it: a signal per update. Progress
 * is informational: a parent that is gone (or a child run on its own) must not fail the stage.
 */
export function stageReporter(
  parentWorkflowId: string | undefined,
  dataset: string,
  stage: string,
): (p: Partial<StageProgress>) => Promise<void> {
  return async (p) => {
    if (!parentWorkflowId) return;
    try {
      await getExternalWorkflowHandle(parentWorkflowId).signal(stageProgressSignal, { dataset, stage, ...p });
    } catch (err) {
      log.warn('progress signal failed', { error: String(err) });
    }
  };
}
