import { ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { TrainActivities, TrainFoldResult } from '../activities/train/activities.ts';
import type {
  DatasetAcquireResult,
  DatasetCompressResult,
  DatasetExtractResult,
  DatasetName,
  DatasetTrainResult,
  DivergedTraining,
  StoreSpecResolved,
  TrainRunInput,
  TrainRunSummary,
} from '../schemas/config.ts';
import { ErrorTypes, failureDetails } from '../schemas/error-types.ts';
import {
  DEFAULT_TRAIN_PARALLELISM,
  trainSeeds,
  type FoldTrainResult,
  type InferenceRecipe,
  type ResolvedVariant,
  type TrainingDivergedDetails,
} from '../schemas/train.ts';
import { modelKeys } from '../schemas/layout.ts';
import { childWorkflowId, forEachLimit, shardProgress, stageOptions, startStage, type ChildInput } from './stage.ts';

export interface TrainDatasetInput extends ChildInput {
  dataset: DatasetName;
  acquired: DatasetAcquireResult;
  features: DatasetExtractResult;
  compressed: DatasetCompressResult;
  store: StoreSpecResolved;
  train: TrainRunInput;
  /** Stored in each exported model so `mer predict` can prepare new clips the same way. */
  inference?: InferenceRecipe;
}

/**
 * `train.seeds` and name-only duplicate variants. Runs recorded before it had neither (their inputs
 * cannot hold seeds) but a duplicate variant started at once there; the patch keeps that order.
 */
export const TRAIN_SEEDS_PATCH = 'train-seeds';

/**
 * Trains every variant on every fold of the dataset's protocol, once per seed of `train.seeds`: the
 * split plan first (cpu), then one `trainFold` activity per (variant, seed, fold) on the gpu queue, up
 * to `parallelism` in flight, so trainings spread over however many GPU workers there are. A training
 * activity heartbeats its checkpoint key and a retry (another worker, after a crash) resumes from the
 * newest stored checkpoint.
 */
export async function TrainDataset(input: TrainDatasetInput): Promise<DatasetTrainResult> {
  const { dataset, acquired, features, compressed, store, temporal } = input;
  const { params, variants } = input.train;
  // Splits are planned on the cpu queue; folds train on the gpu queue.
  const { quick, long } = stageOptions(temporal, 'train', {
    queue: 'cpu',
    quick: '30 minutes',
    longQueue: 'gpu',
    long: '7 days',
    initialInterval: '5 seconds',
  });
  const acts = proxyActivities<TrainActivities>(long);
  const report = startStage(input, dataset, 'train');

  const splitParams = params.splits[dataset];
  const m = features.modalities;
  const splits = await acts.planSplits.executeWithOptions(
    { ...quick, summary: `plan ${dataset} ${splitParams.protocol} folds` },
    [
      {
        store,
        manifest: acquired.manifestKey,
        params: splitParams,
        // Every variant trains and tests on the same utterances: any modality's quarantine removes one.
        quarantineFrom: [...m.text.shardKeys, ...m.audio.shardKeys, ...m.visual.shardKeys],
      },
    ],
  );
  const seeded = patched(TRAIN_SEEDS_PATCH);
  // Absent `seeds`: one training per (variant, fold) with `train.seed`, its input exactly as before.
  const seeds = seeded && params.seeds !== undefined ? trainSeeds(params) : [undefined];
  const tasks = variants.flatMap((variant) =>
    seeds.flatMap((seed) => splits.folds.map((fold) => ({ variant, fold, seed }))),
  );
  const seedLabel = (seed: number | undefined) => (seeds.length > 1 ? ` seed ${seed}` : '');
  const total = tasks.length;
  const progress = shardProgress(report, total);
  await report({
    status: 'running',
    step: 'train',
    note: `${variants.length} variant(s) x ${splits.folds.length} ${splitParams.protocol} fold(s)${seeds.length > 1 ? ` x ${seeds.length} seeds (${seeds.join(', ')})` : ''}, ${splits.counts.used} utterances${splits.optimistic ? ' (optimistic: selection on the test fold)' : ''}`,
    done: 0,
    total,
  });

  const main = compressed.outputs[0];
  if (!main) throw new Error(`train ${dataset}: the compress stage returned no output`);
  const visualFor = (variant: ResolvedVariant) => {
    if (!variant.modalities.includes('v')) return main;
    const out = compressed.outputs.find((o) => o.enabled === variant.vsc);
    if (!out) {
      // Training on the other output under this variant's name would report one ablation as another.
      throw ApplicationFailure.create({
        type: ErrorTypes.ConfigInvalid,
        nonRetryable: true,
        message: `train ${dataset}: variant ${variant.name} reads the visual features ${variant.vsc ? 'with' : 'without'} VSC, but the compress stage made no such output (outputs: ${compressed.outputs.map((o) => (o.enabled ? 'VSC' : 'no VSC')).join(', ')}); run compress with the variants' settings (mer run computes both when a variant needs them)`,
      });
    }
    return out;
  };
  for (const v of variants) visualFor(v);
  const results = new Array<TrainFoldResult | undefined>(tasks.length);
  const diverged: DivergedTraining[] = [];
  // Variants that differ only by name train under one key: a duplicate waits for its twin and then
  // finds the training committed, instead of training the same key twice at the same time.
  const twin = (variant: ResolvedVariant) =>
    JSON.stringify([variant.modalities, variant.vsc, variant.contrastive, variant.lr ?? null]);
  const started = new Map<string, Promise<unknown>>();
  await forEachLimit(
    tasks.map((t, i) => ({ ...t, i })),
    params.parallelism ?? DEFAULT_TRAIN_PARALLELISM,
    async ({ variant, fold, seed, i }) => {
      const visual = visualFor(variant);
      let r: TrainFoldResult;
      const identity = `${twin(variant)}|${fold.index}|${seed ?? ''}`;
      const before = seeded ? started.get(identity) : undefined;
      let settle: () => void = () => {};
      if (seeded && !before) started.set(identity, new Promise<void>((res) => (settle = res)));
      if (before) await before;
      try {
        r = await acts.trainFold.executeWithOptions(
          {
            ...long,
            summary: `train ${dataset} ${variant.name} on fold ${fold.name}${seedLabel(seed)} (${fold.train} train, ${fold.validation} validation, ${fold.test} test)`,
          },
          [
            {
              store,
              dataset,
              splitsKey: splits.splitsKey,
              foldIndex: fold.index,
              variant,
              params,
              ...(seed !== undefined ? { seed } : {}),
              features: {
                text: { prefix: m.text.featuresPrefix, dim: m.text.dim },
                audio: { prefix: m.audio.featuresPrefix, dim: m.audio.dim },
                visual: { prefix: visual.prefix, dim: visual.dim, frames: visual.frames },
              },
              ...(input.inference
                ? {
                    inference: {
                      ...input.inference,
                      vsc: variant.vsc ? input.inference.vsc : { ...input.inference.vsc, enabled: false },
                    },
                  }
                : {}),
            },
          ],
        );
      } catch (err) {
        settle();
        // A diverged training is a result (recorded under its key); the other trainings go on.
        const d = failureDetails(err, ErrorTypes.TrainingDiverged) as TrainingDivergedDetails | undefined;
        if (!d) throw err;
        // The failure names the variant that trained the key: a duplicate's row carries its own name.
        diverged.push({
          ...d,
          variant: variant.name,
          ...(seed !== undefined ? { seed } : {}),
          message: innermostMessage(err),
        });
        await progress.shardDone(
          `${variant.name} ${fold.name}${seedLabel(seed)}: diverged (loss ${d.loss} at epoch ${d.epoch}, step ${d.step})`,
        );
        return;
      }
      settle();
      results[i] = r;
      await progress.shardDone(
        `${variant.name} ${fold.name}${seedLabel(seed)}: test accuracy ${(r.test.accuracy * 100).toFixed(1)}%, weighted F1 ${(r.test.weightedF1 * 100).toFixed(1)}%${r.skipped ? ' (reused)' : ''}${r.warnings?.length ? ` (${r.warnings.map((w) => w.message).join('; ')})` : ''}`,
      );
    },
  );

  const trained = results.filter((r): r is TrainFoldResult => r !== undefined);
  const runs: TrainRunSummary[] = trained.map(({ skipped, ...r }) => ({ ...summarise(r), reused: skipped }));
  const ran = trained.some((r) => !r.skipped);
  // Diverged trainings in task order (they finish in any order), so the result does not depend on timing.
  const order = (d: DivergedTraining) =>
    tasks.findIndex((t) => t.variant.name === d.variant && t.fold.name === d.fold && t.seed === d.seed);
  diverged.sort((a, b) => order(a) - order(b));
  const full = runs.filter((r) => r.variant === variants[0]?.name);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const warned = [...new Set(runs.flatMap((r) => (r.warnings ?? []).map((w) => w.message)))];
  await report({
    status: ran ? 'done' : 'skipped',
    step: 'report',
    note: [
      `${variants[0]?.name}: mean test weighted F1 ${(mean(full.map((r) => r.test.weightedF1)) * 100).toFixed(1)}% over ${full.length} ${seeds.length > 1 ? 'training(s)' : 'fold(s)'}${ran ? '' : ', reused from the store'}`,
      ...(diverged.length
        ? [`${diverged.length} training(s) diverged: ${[...new Set(diverged.map((d) => d.variant))].join(', ')}`]
        : []),
      ...warned,
    ].join('; '),
    done: total,
    total,
  });
  return {
    dataset,
    splitsKey: splits.splitsKey,
    planKey: splits.planKey,
    protocol: splitParams.protocol,
    optimistic: splits.optimistic,
    classes: trained[0]?.classes ?? [],
    folds: splits.folds,
    variants: variants.map((v) => v.name),
    runs,
    ran,
    ...(diverged.length ? { diverged } : {}),
  };
}

/** The innermost message of a failure chain: the activity's own words. */
function innermostMessage(err: unknown): string {
  let e: unknown = err;
  let msg = String(err);
  for (let i = 0; i < 8 && e !== null && typeof e === 'object'; i++) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m) msg = m;
    e = (e as { cause?: unknown }).cause;
  }
  return msg;
}

/** What the parent keeps of a fold's training: keys and headline metrics (the rest is in the store). */
function summarise(r: FoldTrainResult): Omit<TrainRunSummary, 'reused'> {
  return {
    trainKey: r.trainKey,
    variant: r.variant,
    fold: r.fold,
    ...(r.seed !== undefined ? { seed: r.seed } : {}),
    bestEpoch: r.bestEpoch,
    validation: r.validation,
    test: r.test,
    epochs: r.epochs,
    resumedFromStep: r.resumedFromStep,
    resultKey: modelKeys(r.trainKey).result,
    ...(r.warnings?.length ? { warnings: r.warnings } : {}),
  };
}

export function trainWorkflowId(parentId: string, dataset: string): string {
  return childWorkflowId(parentId, 'train', dataset);
}
