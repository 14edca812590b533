/**
 * Fault suite (train, issue 6 "Kill the GPU worker mid-epoch"): the gpu-queue worker process is
 * SIGKILLed while a trainFold activity is part way through an epoch, a fresh worker process takes
 * over. The retry resumes from the last step checkpoint the dead worker stored (not from epoch 0),
 * redoes at most the steps since that checkpoint, and ends with exactly the weights of an
 * uninterrupted training with the same seed: model.onnx byte for byte, best-weights.ckpt and
 * final.ckpt tensor for tensor (their headers hold wall-clock seconds).
 *
 * The stages before train run undisturbed in this process first; the store is copied right there
 * ("before training"), and the reference is `trainFoldStep` run in this process on that copy with
 * the very input the workflow gave the killed activity. Both sides use the worker runtime's default
 * onnxruntime thread count (`mer worker` has no thread setting) on this machine. The worker to be
 * killed pauses before each training step (test/helpers/inference-log.ts, TRAIN_STEP_SLOW_ENV: the
 * step itself runs unchanged), so the kill lands inside a known step on any machine.
 */
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { localStepContext } from '../../activities/common/context.ts';
import { decodeCheckpoint, type DecodedCheckpoint } from '../../activities/model/checkpoint.ts';
import { LocalStore } from '../../activities/store/local.ts';
import type { TrainFoldInput, TrainFoldResult } from '../../activities/train/activities.ts';
import { trainFoldStep, type TrainHeartbeat } from '../../activities/train/fold.ts';
import type { PipelineInput } from '../../schemas/config.ts';
import { modelKeys } from '../../schemas/layout.ts';
import { FoldTrainResultSchema } from '../../schemas/train.ts';
import { trainWorkflowId } from '../../workflows/train.ts';
import { activityRuns, pendingActivity, within } from '../helpers/activity-history.ts';
import { untilKillPoint } from '../helpers/child-worker.ts';
import { loggedWorker, TRAIN_STEP_SLOW_ENV, readTrainSteps } from '../helpers/inference-log.ts';
import { tinyEncoderInput } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

/** Batches of 4 (six steps an epoch on this corpus), a step checkpoint every 2 steps, 3 epochs. */
const TRAIN = { batchSize: 4, maxEpochs: 3, patience: 3, seed: 11, lr: 1e-3, checkpointEverySteps: 2 };
/** Pause before each training step of the first worker only, so an epoch lasts seconds on any machine. */
const SLOW_STEP_MS = 150;
const HEARTBEAT_TIMEOUT_SEC = 3;
const PREFIX = 'train-kill';

const fx = pipelineTest({ name: 'train-kill', seed: 3, cue: true, iemocap: 'archive' });

/** The run config: tiny encoders, 4 frames per utterance, protocol s5, the full model only. */
function pipelineInput(
  until: 'compress' | 'train',
  storeRoot: string,
  taskQueuePrefix: string,
): Promise<PipelineInput> {
  const flags = { iemocap: fx.archive('iemocap'), store: storeRoot, until, taskQueuePrefix };
  const train = { ...TRAIN, splits: { iemocap: { protocol: 's5' } }, variants: [{ modalities: ['t', 'a', 'v'] }] };
  return tinyEncoderInput(fx.dir, { ...flags, heartbeatTimeoutSec: HEARTBEAT_TIMEOUT_SEC }, { config: { train } });
}

/** Decoded checkpoints by key: a stored checkpoint never changes, so each is read and checked once. */
const decoded = new Map<string, DecodedCheckpoint>();

/** Stored step checkpoints (any training), decoded, oldest first; one removed between list and read is skipped. */
async function storedCheckpoints(store: LocalStore): Promise<Array<{ key: string; ck: DecodedCheckpoint }>> {
  const out: Array<{ key: string; ck: DecodedCheckpoint }> = [];
  let listed: Array<{ key: string }> = [];
  try {
    listed = await store.list('models/');
  } catch {
    return out; // a listing racing a checkpoint rotation: the caller polls again
  }
  for (const o of listed) {
    if (!/\/checkpoints\/step-\d{9}\.ckpt$/.test(o.key)) continue;
    try {
      const ck = decoded.get(o.key) ?? decodeCheckpoint(await store.get(o.key));
      decoded.set(o.key, ck);
      out.push({ key: o.key, ck });
    } catch {
      // superseded (deleted) right after the listing
    }
  }
  return out.sort((a, b) => a.ck.header.progress.step - b.ck.header.progress.step);
}

/** The pending trainFold activity: its attempt and last heartbeat (null before it starts). */
const pendingTrain = (workflowId: string) => pendingActivity<TrainHeartbeat>(fx.env.client, workflowId, 'trainFold');

/** Every trainFold activity of the train child: its input, last attempt and result. */
const trainActivities = (workflowId: string) =>
  activityRuns<TrainFoldInput, TrainFoldResult>(fx.env.client, workflowId, 'trainFold');

/** Every tensor of a checkpoint, by `group/name`, as plain arrays (compared exactly). */
function tensorsOf(ck: DecodedCheckpoint): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [group, m] of Object.entries(ck.tensors)) for (const [name, v] of m) out[`${group}/${name}`] = [...v];
  return out;
}

/** A checkpoint header without its wall-clock seconds (history records, the partial-epoch sums). */
function headerWithoutTime(ck: DecodedCheckpoint): unknown {
  const { accumulator, history, ...rest } = ck.header;
  return { ...rest, accumulator: { ...accumulator, seconds: 0 }, history: history.map((h) => ({ ...h, seconds: 0 })) };
}

describe('fault suite (train)', () => {
  test(
    'the gpu worker is SIGKILLed mid-epoch: a fresh worker resumes from the last step checkpoint and ends with the weights of an uninterrupted run',
    { timeout: 180_000 },
    async () => {
      const t0 = Date.now();
      const storeRoot = join(fx.dir, 'store');
      const refRoot = join(fx.dir, 'store-reference');
      const logs = { first: join(fx.dir, 'train-first.log'), fresh: join(fx.dir, 'train-fresh.log') };
      const worker = (log: string, slow: boolean) =>
        fx.spawnWorker(loggedWorker(PREFIX, 'gpu', log, slow ? { [TRAIN_STEP_SLOW_ENV]: String(SLOW_STEP_MS) } : {}));
      // The worker to be killed starts now: its start-up overlaps the stages before train (it idles on its own queue).
      const first = worker(logs.first, true);

      // acquire -> compress, undisturbed, in this process; then the store as it is before training.
      const pre = await pipelineInput('compress', storeRoot, `${PREFIX}-pre`);
      const preResult = await (await fx.start(pre)).done;
      assert.ok(preResult.compressed?.iemocap, 'the stages before train ran');
      await cp(storeRoot, refRoot, { recursive: true });
      const preMs = Date.now() - t0;

      // The run whose gpu worker dies: workflows and cpu activities here, train in the child.
      const input = await pipelineInput('train', storeRoot, PREFIX);
      await first.ready();
      const store = new LocalStore(storeRoot);
      const { handle, done } = await fx.start(input, { queues: ['cpu'] });
      const trainId = trainWorkflowId(handle.workflowId, 'iemocap');

      // Kill once a step checkpoint inside an epoch (after the first) is stored and the worker has
      // finished the step after it and started the next: the kill lands in that step's pause.
      const startedSteps = () => readTrainSteps(logs.first).calls;
      const target = await untilKillPoint(first, 'no mid-epoch checkpoint', 90_000, async () => {
        const mid = (await storedCheckpoints(store)).filter(
          (c) => c.ck.header.progress.epoch >= 1 && c.ck.header.progress.batchInEpoch > 0,
        );
        const newest = mid[mid.length - 1];
        return newest && startedSteps() >= newest.ck.header.progress.step + 2 ? newest : undefined;
      });
      await first.kill('SIGKILL');
      const killedAt = Date.now();
      const fresh = worker(logs.fresh, false);
      // Until the heartbeat timeout the dead attempt is still the pending one, with its last heartbeat.
      const pending = await pendingTrain(trainId);

      // What the dead worker left: its newest stored checkpoint is where a retry must resume.
      const stepsAtKill = startedSteps();
      const left = await storedCheckpoints(store);
      assert.ok(
        left.length >= 1 && left.length <= 2,
        `one or two step checkpoints stored: ${left.map((c) => c.key).join(', ')}`,
      );
      const last = left[left.length - 1];
      assert.ok(last.ck.header.progress.step >= target.ck.header.progress.step);
      assert.ok(pending, 'the killed training is a pending trainFold activity');
      assert.equal(pending.attempt, 1);
      assert.equal(await store.exists(modelKeys(last.key.split('/')[1]).final), false, 'training had not finished');
      const announced = pending.details?.checkpointKey;
      assert.ok(
        !announced || announced <= last.key,
        `the last heartbeat names the newest stored checkpoint or an older one: ${announced}`,
      );

      // The reference, while the retry waits out the heartbeat timeout: the killed activity's input,
      // uninterrupted, in this process, on the copy of the store taken before training (plus the
      // split plan the train workflow stored from the manifest: data, not training).
      const [scheduled] = await trainActivities(trainId);
      assert.ok(scheduled, 'the trainFold activity is in the history');
      await cp(join(storeRoot, 'splits'), join(refRoot, 'splits'), { recursive: true });
      const tRef = Date.now();
      let refMs = 0;
      const reference = trainFoldStep(
        { ...scheduled.input, store: { kind: 'local', root: refRoot } },
        localStepContext(),
        {},
      ).finally(() => (refMs = Date.now() - tRef));
      reference.catch(() => {});

      const result = await within(
        done,
        90_000,
        async () =>
          `the run did not finish within 90 s of the kill; train activity ${JSON.stringify(await pendingTrain(trainId))}; fresh worker stderr: ${fresh.stderr()}`,
      );
      const recoveredMs = Date.now() - killedAt;
      await fresh.kill('SIGTERM');

      // The run completed; its one training resumed from that checkpoint in attempt 2.
      const run = result.trained!.iemocap.runs;
      assert.equal(run.length, 1, 'one variant, one s5 fold');
      const acts = await trainActivities(trainId);
      assert.equal(acts.length, 1);
      const [act] = acts;
      assert.equal(act.attempt, 2, 'the killed attempt was retried once');
      assert.ok(act.result && !act.result.skipped);
      const trainKey = act.result.trainKey;
      const keys = modelKeys(trainKey);
      assert.ok(last.key.startsWith(`${keys.prefix}/`), `${last.key} belongs to the training ${trainKey}`);
      const stored = FoldTrainResultSchema.parse(JSON.parse((await store.get(keys.result)).toString('utf8')));
      assert.ok(stored.resumedFromStep > 0, 'resumed from a checkpoint, not from epoch 0');
      assert.equal(
        stored.resumedFromStep,
        last.ck.header.progress.step,
        'resumed from the newest checkpoint the dead worker stored',
      );
      assert.equal(run[0].resumedFromStep, stored.resumedFromStep);
      assert.deepEqual(
        (await store.list(keys.checkpoints)).map((o) => o.key),
        [],
        'no step checkpoint left after the commit',
      );

      const ref = await within(reference, 60_000, () =>
        Promise.resolve('the reference training did not finish within 60 s'),
      );
      const refStore = new LocalStore(refRoot);
      assert.equal(ref.trainKey, trainKey);
      assert.equal(ref.resumedFromStep, 0);
      assert.equal(ref.skipped, false);
      assert.deepEqual(
        (await refStore.list(keys.checkpoints)).map((o) => o.key),
        [],
      );
      const { seconds: _s1, resumedFromStep: _r1, ...got } = stored;
      const { seconds: _s2, resumedFromStep: _r2, skipped: _k, ...want } = ref;
      assert.deepEqual(got, want, 'result.json: same epochs, steps, selection and test metrics');
      assert.ok(
        got.epochs === TRAIN.maxEpochs && got.steps > got.epochs,
        `trained ${got.steps} steps over ${got.epochs} epochs`,
      );

      // Identical weights: the exported model byte for byte, the checkpoints tensor for tensor.
      const both = async (key: string) => [await store.get(key), await refStore.get(key)] as const;
      const [onnx, refOnnx] = await both(keys.onnx);
      assert.ok(onnx.equals(refOnnx), 'model.onnx is byte-identical to the uninterrupted run');
      for (const key of [keys.weights, keys.final]) {
        const [a, b] = (await both(key)).map((bytes) => decodeCheckpoint(bytes));
        assert.ok(Object.keys(tensorsOf(a)).length > 0);
        assert.deepEqual(tensorsOf(a), tensorsOf(b), `${key}: same tensors as the uninterrupted run`);
        assert.deepEqual(headerWithoutTime(a), headerWithoutTime(b), `${key}: same header but for wall-clock seconds`);
      }
      const [pred, refPred] = await both(keys.predictions);
      assert.ok(pred.equals(refPred), 'test predictions are byte-identical');
      const history = (bytes: Buffer) => {
        const h = JSON.parse(bytes.toString('utf8')) as { history: Array<Record<string, unknown>> };
        return { ...h, history: h.history.map((r) => ({ ...r, seconds: 0 })) };
      };
      const [hist, refHist] = await both(keys.history);
      assert.deepEqual(history(hist), history(refHist), 'history.json: same epochs but for wall-clock seconds');

      // Redone work: steps the killed attempt started after its last stored checkpoint (the one in
      // flight included); the fresh worker trained exactly the rest.
      const firstSteps = readTrainSteps(logs.first).calls;
      const freshSteps = readTrainSteps(logs.fresh).calls;
      const redone = firstSteps - stored.resumedFromStep;
      const stepsPerEpoch = stored.steps / stored.epochs;
      console.log(
        `train kill: killed in epoch ${last.ck.header.progress.epoch} (${stepsPerEpoch} steps an epoch, checkpoint every ${TRAIN.checkpointEverySteps}) ` +
          `after ${stepsAtKill} started steps; stored checkpoints ${left.map((c) => `${c.ck.header.progress.step} (batch ${c.ck.header.progress.batchInEpoch})`).join(', ')}; ` +
          `last heartbeat ${JSON.stringify(pending.details)}; resumed from step ${stored.resumedFromStep} of ${stored.steps}; ` +
          `redone ${redone} step(s): first worker ${firstSteps}, fresh worker ${freshSteps}; ` +
          `stages before train ${preMs} ms, recovery after the kill ${recoveredMs} ms, reference training ${refMs} ms, total ${Date.now() - t0} ms`,
      );
      assert.equal(firstSteps, stepsAtKill, 'the first worker started no step after the kill');
      assert.equal(
        freshSteps,
        stored.steps - stored.resumedFromStep,
        'the fresh worker trained only the steps after the checkpoint',
      );
      assert.ok(redone >= 1, 'training had gone on past the checkpoint');
      assert.ok(
        redone <= TRAIN.checkpointEverySteps + 1,
        `at most checkpointEverySteps + the step in flight were redone: ${redone}`,
      );
    },
  );
});
