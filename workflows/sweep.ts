/**
 * MerSweep: one durable parent over the pipeline runs of a sweep's settings (schemas/sweep.ts).
 *
 * Decision record:
 * - Children are ordinary MerPipeline runs (ids `<sweep>/setting-NN`), so a setting is exactly the run
 *   `mer run` would start for its config, and every stage output it shares with another setting is
 *   found committed (content-addressed keys) instead of computed again.
 * - Settings that run side by side could still compute a shared output twice (both plan it before
 *   either commits it), so the sweep first runs the stages before train once per distinct input of
 *   theirs (`prepare`), one after the other; the settings then find those outputs committed.
 * - A training that diverges is a result of its setting (the pipeline completes and returns it), a
 *   failed setting is recorded as failed; neither ends the sweep. Cancellation does.
 * - History stays small: children return keys and summaries, and the report activity gets only the
 *   selected variant's scores per training (sweepOutcome).
 */
import {
  ApplicationFailure,
  defineQuery,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SweepActivities, SweepReportInput, SweepSettingOutcome } from '../activities/sweep/activities.ts';
import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import type { SweepInput, SweepProgress, SweepResult, SweepSettingProgress } from '../schemas/sweep.ts';
import { sweepOutcome } from '../schemas/sweep-outcome.ts';
import { failureMessage, MerPipeline } from './pipeline.ts';
import { forEachLimit, quickOptions } from './stage.ts';

/** What `mer status` and `mer sweep` poll: every setting and its state. */
export const sweepProgressQuery = defineQuery<SweepProgress>('sweepProgress');

export const sweepWorkflowId = (sweepKey: string): string => `mer-sweep-${sweepKey}`;
export const settingWorkflowId = (parent: string, index: number): string =>
  `${parent}/setting-${String(index + 1).padStart(2, '0')}`;
export const prepareWorkflowId = (parent: string, index: number): string =>
  `${parent}/prepare-${String(index + 1).padStart(2, '0')}`;

export async function MerSweep(input: SweepInput): Promise<SweepResult> {
  const now = () => new Date().toISOString();
  const me = workflowInfo().workflowId;
  const progress: SweepProgress = {
    sweepKey: input.sweepKey,
    status: 'preparing',
    startedAt: now(),
    updatedAt: now(),
    settings: input.settings.map(({ input: run, ...s }): SweepSettingProgress => ({
      ...s,
      status: 'pending',
      workflowId: settingWorkflowId(me, s.index),
      configHash: run.configHash,
    })),
  };
  setHandler(sweepProgressQuery, () => progress);
  const set = (s: SweepSettingProgress, u: Partial<SweepSettingProgress>): void => {
    Object.assign(s, u);
    progress.updatedAt = now();
  };
  const child = (workflowId: string, run: PipelineInput, summary: string): Promise<PipelineResult> =>
    executeChild(MerPipeline, {
      workflowId,
      taskQueue: input.temporal.taskQueues.cpu,
      args: [run],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: summary,
      memo: { configHash: run.configHash, sweepKey: input.sweepKey },
    });

  try {
    // The shared stages, once per distinct input, in turn. A failed one fails the settings that need it.
    const prepareErrors: string[] = [];
    for (const [i, run] of input.prepare.entries()) {
      try {
        await child(
          prepareWorkflowId(me, i),
          run,
          `sweep ${input.sweepKey}: stages before train (${i + 1}/${input.prepare.length})`,
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        prepareErrors[i] = `stages before train: ${failureMessage(err)}`;
      }
    }
    progress.status = 'running';
    const outcomes = new Array<SweepSettingOutcome>(input.settings.length);
    await forEachLimit(input.settings, input.parallelism, async (setting) => {
      const row = progress.settings[setting.index];
      const unprepared = prepareErrors[input.prepareOf[setting.index]];
      if (unprepared) {
        set(row, { status: 'failed', error: unprepared });
        outcomes[setting.index] = { ...row, datasets: [] };
        return;
      }
      set(row, { status: 'running' });
      try {
        const r = await child(row.workflowId, setting.input, `sweep ${input.sweepKey}: ${setting.label}`);
        const diverged = Object.values(r.trained ?? {}).flatMap((t) => t.diverged ?? []);
        set(row, {
          status: diverged.length ? 'diverged' : 'completed',
          ...(diverged.length ? { error: diverged.map((d) => d.message).join('; ') } : {}),
        });
        outcomes[setting.index] = { ...row, datasets: sweepOutcome(r.trained, r.reports) };
      } catch (err) {
        if (isCancellation(err)) {
          set(row, { status: 'cancelled' });
          throw err;
        }
        set(row, { status: 'failed', error: failureMessage(err) });
        outcomes[setting.index] = { ...row, datasets: [] };
      }
    });
    progress.status = 'reporting';
    progress.updatedAt = now();
    const acts = proxyActivities<SweepActivities>(quickOptions(input.temporal, 'evaluate', 'cpu', '1 hour'));
    const reportInput: SweepReportInput = {
      store: input.store,
      sweepKey: input.sweepKey,
      ...(input.name ? { name: input.name } : {}),
      mode: input.mode,
      keys: input.keys,
      settings: outcomes,
    };
    const report = await acts.sweepReport.executeWithOptions(
      { startToCloseTimeout: '1 hour', summary: `sweep report: ${input.settings.length} settings` },
      [reportInput],
    );
    progress.report = { prefix: report.prefix, json: report.jsonKey, html: report.htmlKey };
    progress.status = 'completed';
    progress.updatedAt = now();
    return {
      ...report,
      settings: progress.settings.map(({ index, label, status, error }) => ({
        index,
        label,
        status,
        ...(error ? { error } : {}),
      })),
    };
  } catch (err) {
    progress.status = isCancellation(err) ? 'cancelled' : 'failed';
    progress.updatedAt = now();
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({
      type: 'MerStageFailed',
      message: `sweep ${input.sweepKey} failed: ${failureMessage(err)}`,
      cause: err instanceof Error ? err : undefined,
      nonRetryable: true,
    });
  }
}
