/**
 * `train.loss` (issue 13): the schema's defaults are the engine's defaultLossConfig(), every option
 * reaches the trainer configuration and so the train key, inverse-frequency weights come from the
 * fold's training labels, and an explicit weight list must match the label set.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { defaultLossConfig } from '../../activities/model/config.ts';
import { trainerConfigFor, trainKeyFor, type TrainFoldInput } from '../../activities/train/fold.ts';
import {
  FoldTrainResultSchema,
  TRAINING_DIVERGED,
  TrainParamsSchema,
  trainingDivergedDetails,
  type TrainParamsInput,
} from '../../schemas/train.ts';

const CLASSES = ['neu', 'hap', 'sad'];
/** A fold's training labels: n = 6, counts 3, 1, 2. */
const TRAIN_LABELS = [0, 1, 0, 2, 0, 2];

function input(params: TrainParamsInput, contrastive = true): TrainFoldInput {
  return {
    store: { kind: 'local', root: '/nonexistent' },
    dataset: 'iemocap',
    splitsKey: 'splits-key',
    foldIndex: 0,
    variant: { name: 'T+A+V', modalities: ['t', 'a', 'v'], vsc: true, contrastive },
    params,
    features: {
      text: { prefix: 'features/text/kt', dim: 8 },
      audio: { prefix: 'features/audio/ka', dim: 6 },
      visual: { prefix: 'visual-vsc/kv', dim: 4, frames: 5 },
    },
  };
}
const config = (params: TrainParamsInput, labels = TRAIN_LABELS) => trainerConfigFor(input(params), CLASSES, labels);
const key = (params: TrainParamsInput) => trainKeyFor(input(params), 'loso-Session1', config(params));

describe('train.loss', () => {
  test('defaults are defaultLossConfig(): a config without train.loss keys as before it existed', () => {
    assert.deepEqual(TrainParamsSchema.parse({}).loss, {
      pairs: ['vt', 'va'],
      pairReduction: 'mean',
      normalization: 'positives',
      classWeights: 'none',
    });
    const { classWeights: _, ...engine } = config({}).loss;
    assert.deepEqual(config({}).loss, engine, 'no classWeights field at all');
    // What trainerConfigFor built before train.loss: the trainer config, and so the key, are unchanged.
    assert.deepEqual(config({ contrastiveWeight: 0.3, temperature: 0.2 }).loss, {
      ...defaultLossConfig(),
      contrastiveWeight: 0.3,
      temperature: 0.2,
    });
    assert.equal(trainerConfigFor(input({}, false), CLASSES, TRAIN_LABELS).loss.contrastiveWeight, 0);
  });

  test('every option reaches the trainer configuration and changes the train key', () => {
    const options: Array<[TrainParamsInput, (l: ReturnType<typeof config>['loss']) => unknown, unknown]> = [
      [{ loss: { pairs: ['vt'] } }, (l) => l.pairs, ['vt']],
      [{ loss: { pairs: ['vt', 'va', 'ta'] } }, (l) => l.pairs, ['vt', 'va', 'ta']],
      [{ loss: { pairReduction: 'sum' } }, (l) => l.pairReduction, 'sum'],
      [{ loss: { normalization: 'reference' } }, (l) => l.normalization, 'reference'],
      [{ loss: { classWeights: 'inverse-frequency' } }, (l) => l.classWeights, [6 / 9, 6 / 3, 6 / 6]],
      [{ loss: { classWeights: [1, 2, 3] } }, (l) => l.classWeights, [1, 2, 3]],
      [{ contrastiveWeight: 0.1 }, (l) => l.contrastiveWeight, 0.1],
      [{ temperature: 0.07 }, (l) => l.temperature, 0.07],
    ];
    const keys = new Set([key({})]);
    for (const [params, pick, want] of options) {
      assert.deepEqual(pick(config(params).loss), want, JSON.stringify(params));
      keys.add(key(params));
    }
    assert.equal(keys.size, options.length + 1, 'each option gives its own key');
    assert.equal(key({ loss: {} }), key({}), 'an empty train.loss is the default');
  });

  test("inverse-frequency is scikit-learn's balanced n / (C n_c) on the fold's training labels", () => {
    const weights = config({ loss: { classWeights: 'inverse-frequency' } }).loss.classWeights!;
    const n = TRAIN_LABELS.length;
    const expected = CLASSES.map((_, c) => n / (CLASSES.length * TRAIN_LABELS.filter((y) => y === c).length));
    assert.deepEqual(weights, expected);
    // Other training labels (another fold) give other weights and so another key.
    const other = config({ loss: { classWeights: 'inverse-frequency' } }, [0, 1, 2, 2]).loss.classWeights!;
    assert.deepEqual(other, [4 / 3, 4 / 3, 4 / 6]);
  });

  test('an explicit weight list of the wrong length is ConfigInvalid naming the field, the count and the classes', () => {
    assert.throws(
      () => config({ loss: { classWeights: [1, 2] } }),
      (e: unknown) =>
        e instanceof MerError &&
        e.type === ErrorTypes.ConfigInvalid &&
        /train\.loss\.classWeights has 2 weight\(s\); the label set has 3 classes \(neu, hap, sad\)/.test(e.message) &&
        e.details.expected === 3,
    );
  });

  test('the schema refuses unknown keys and values, duplicate or no pairs, non-positive weights', () => {
    for (const bad of [
      { loss: { pairs: ['vt', 'vt'] } },
      { loss: { pairs: [] } },
      { loss: { pairs: ['tv'] } },
      { loss: { pairReduction: 'avg' } },
      { loss: { normalization: 'batch' } },
      { loss: { classWeights: 'balanced' } },
      { loss: { classWeights: [1, 0, 2] } },
      { loss: { classWeights: [1, Infinity, 2] } },
      { loss: { contrastiveWeight: 0.2 } },
      { loss: { weights: [1, 2] } },
    ])
      assert.equal(TrainParamsSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });
});

describe('results and failures', () => {
  test('result.json written before modalityVariance and warnings still parses', () => {
    const old = {
      trainKey: 'k',
      dataset: 'meld',
      variant: 'T',
      modalities: ['t'],
      vsc: true,
      contrastive: true,
      fold: 'official',
      foldIndex: 0,
      testGroup: 'test',
      classes: CLASSES,
      optimistic: false,
      bestEpoch: null,
      validation: null,
      test: { accuracy: 0, weightedF1: 0, macroF1: 0, n: 1 },
      epochs: 1,
      steps: 1,
      stoppedEarly: false,
      resumedFromStep: 0,
      seconds: 1,
      executionProvider: 'cpu',
      keys: { onnx: 'o', weights: 'w', final: 'f', history: 'h', predictions: 'p' },
    };
    const parsed = FoldTrainResultSchema.parse(old);
    assert.equal(parsed.warnings, undefined);
    assert.equal(parsed.modalityVariance, undefined);
  });

  test('trainingDivergedDetails finds the failure through a cause chain and ignores other errors', () => {
    const details = { trainKey: 'k', variant: 'T', fold: 'f', epoch: 0, step: 3, loss: 'NaN' };
    // The shape a workflow sees: ActivityFailure { cause: ApplicationFailure { type, details: [..] } }.
    const activityFailure = { message: 'activity failed', cause: { type: TRAINING_DIVERGED, details: [details] } };
    assert.deepEqual(trainingDivergedDetails(activityFailure), details);
    assert.deepEqual(trainingDivergedDetails(new MerError(ErrorTypes.TrainingDiverged, 'x', details)), details);
    assert.equal(trainingDivergedDetails({ cause: { type: ErrorTypes.ConfigInvalid, details: [{}] } }), undefined);
    assert.equal(trainingDivergedDetails(new Error('x')), undefined);
    assert.equal(trainingDivergedDetails(undefined), undefined);
  });
});
