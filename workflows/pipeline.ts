import {
  ApplicationFailure,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  DatasetAcquireResult,
  DatasetCompressResult,
  DatasetExtractResult,
  DatasetSegmentResult,
  DatasetTrainResult,
  PipelineInput,
  PipelineResult,
} from '../schemas/config.ts';
import { runAcquire, runCompress, runEvaluate, runExtract, runSegment, runTrain } from './children.ts';
import { runCrossCorpus } from './evaluate.ts';
import { progressQuery, stageProgressSignal, type ProgressSnapshot, type StageProgress } from './progress.ts';
import { SA_STAGE } from './search-attributes.ts';

/**
 * One run of the pipeline for one config: a child workflow per stage per dataset, each dataset's
 * stages in order, the datasets side by side. Large data never passes through here: children return
 * store keys and small summaries.
 */
export async function MerPipeline(input: PipelineInput): Promise<PipelineResult> {
  const now = () => new Date().toISOString();
  const snapshot: ProgressSnapshot = {
    configHash: input.configHash,
    status: 'running',
    startedAt: now(),
    updatedAt: now(),
    stages: input.stages.flatMap((stage) =>
      input.datasets.map((d): StageProgress => ({
        dataset: d.dataset,
        stage,
        status: 'pending',
        done: 0,
        total: 0,
        quarantined: 0,
      })),
    ),
  };
  const row = (dataset: string, stage: string): StageProgress | undefined =>
    snapshot.stages.find((s) => s.dataset === dataset && s.stage === stage);
  const update = (u: Partial<StageProgress> & { dataset: string; stage: string }): void => {
    const r = row(u.dataset, u.stage);
    if (!r) return;
    if (u.status === 'running' && !r.startedAt) r.startedAt = now();
    if (u.status && u.status !== 'running' && u.status !== 'pending') r.endedAt = now();
    Object.assign(r, u);
    snapshot.updatedAt = now();
  };
  setHandler(progressQuery, () => snapshot);
  setHandler(stageProgressSignal, update);

  const me = workflowInfo().workflowId;
  const result: PipelineResult = { configHash: input.configHash, stages: input.stages, datasets: {} };
  // MerStage shows the furthest stage any dataset has entered.
  let furthest = -1;
  const enter = (i: number): void => {
    if (i <= furthest) return;
    furthest = i;
    if (input.searchAttributes) upsertSearchAttributes([{ key: SA_STAGE, value: input.stages[i] }]);
  };
  try {
    // Each dataset runs its stages in order, independently of the other: IEMOCAP is segmented while
    // MELD may still be downloading. For an acquire-only run this issues exactly the commands of the
    // earlier stage-by-stage loop (search attribute, then one child per dataset), so its histories replay.
    await Promise.all(
      input.datasets.map(async (plan) => {
        const ctx = { input, plan, me };
        let acquired: DatasetAcquireResult | undefined;
        let segmented: DatasetSegmentResult | undefined;
        let features: DatasetExtractResult | undefined;
        let compressed: DatasetCompressResult | undefined;
        let trained: DatasetTrainResult | undefined;
        for (let i = 0; i < input.stages.length; i++) {
          const stage = input.stages[i];
          enter(i);
          update({ dataset: plan.dataset, stage, status: 'running' });
          try {
            switch (stage) {
              case 'acquire':
                acquired = await runAcquire(ctx);
                result.datasets[plan.dataset] = acquired;
                break;
              case 'segment':
                if (!acquired) throw new Error(`segment of ${plan.dataset} needs its acquire result`);
                segmented = await runSegment(ctx, acquired);
                (result.segments ??= {})[plan.dataset] = segmented;
                break;
              case 'extract':
                if (!acquired || !segmented)
                  throw new Error(`extract of ${plan.dataset} needs its acquire and segment results`);
                features = await runExtract(ctx, acquired, segmented);
                (result.features ??= {})[plan.dataset] = features;
                break;
              case 'compress':
                if (!features) throw new Error(`compress of ${plan.dataset} needs its extract result`);
                compressed = await runCompress(ctx, features);
                (result.compressed ??= {})[plan.dataset] = compressed;
                break;
              case 'train':
                if (!acquired || !features || !compressed)
                  throw new Error(`train of ${plan.dataset} needs its acquire, extract and compress results`);
                trained = await runTrain(ctx, acquired, features, compressed);
                (result.trained ??= {})[plan.dataset] = trained;
                break;
              case 'evaluate': {
                if (!acquired || !segmented || !features || !compressed || !trained)
                  throw new Error(`evaluate of ${plan.dataset} needs the results of every earlier stage`);
                // Stage timings as the progress rows recorded them (workflow time: deterministic on replay).
                const timings = snapshot.stages
                  .filter((s) => s.dataset === plan.dataset && s.stage !== 'evaluate')
                  .map((s) => ({
                    stage: s.stage,
                    status: s.status,
                    ...(s.startedAt ? { startedAt: s.startedAt } : {}),
                    ...(s.endedAt ? { endedAt: s.endedAt } : {}),
                    ...(s.startedAt && s.endedAt
                      ? { seconds: (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000 }
                      : {}),
                  }));
                const evaluated = await runEvaluate(ctx, {
                  acquired,
                  segmented,
                  features,
                  compressed,
                  trained,
                  timings,
                });
                (result.reports ??= {})[plan.dataset] = evaluated;
                break;
              }
              default: {
                // A stage added to STAGES without a child here fails to compile.
                const unhandled: never = stage;
                throw new Error(`no child workflow for stage ${String(unhandled)}`);
              }
            }
          } catch (err) {
            update({
              dataset: plan.dataset,
              stage,
              status: isCancellation(err) ? 'cancelled' : 'failed',
              error: failureMessage(err),
            });
            throw err;
          }
        }
      }),
    );
    // evaluate.crossCorpus: both datasets' models on each other's test split (new in issue 18).
    if (input.evaluate?.crossCorpus && patched('mer-cross-corpus'))
      result.crossCorpus = await runCrossCorpus(input, result);
    snapshot.status = 'completed';
    snapshot.updatedAt = now();
    return result;
  } catch (err) {
    snapshot.status = isCancellation(err) ? 'cancelled' : 'failed';
    snapshot.updatedAt = now();
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({
      type: 'MerStageFailed',
      message: `pipeline ${input.configHash} failed: ${failureMessage(err)}`,
      cause: err instanceof Error ? err : undefined,
      nonRetryable: true,
    });
  }
}

/** The innermost message: the one that names the file and line. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  let msg = String(err);
  for (let i = 0; i < 6 && e && typeof e === 'object'; i++) {
    const m = (e as { message?: string }).message;
    if (m) msg = m;
    e = (e as { cause?: unknown }).cause;
  }
  return msg;
}
