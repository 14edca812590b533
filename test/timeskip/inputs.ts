/**
 * Workflow inputs for the time-skipping tests, built as `mer run` builds them (cli/config.ts
 * toPipelineInput): the run config schema's defaults, the resolved variants, the VSC settings the
 * variants need. Sources never exist: the mocked activities never open them.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MELD_PUBLIC_URL,
  RunConfigSchema,
  STAGES,
  type DatasetName,
  type DatasetPlan,
  type PipelineInput,
  type SegmentParams,
  type StageName,
  type TemporalSettings,
} from '../../schemas/config.ts';
import { resolveVariants, type TrainParamsInput } from '../../schemas/train.ts';
import type { ChildInput } from '../../workflows/stage.ts';
import { fakeKey } from './mock-corpus.ts';

export type TaskQueues = TemporalSettings['taskQueues'];

export interface InputOptions {
  queues: TaskQueues;
  /** Default both. */
  datasets?: DatasetName[];
  /** Last stage; default evaluate. */
  until?: StageName;
  /** Shard size and parallelism may go below the config file's minimum (neither is part of a key). */
  segment?: Partial<SegmentParams>;
  train?: TrainParamsInput;
  temporal?: Partial<Omit<TemporalSettings, 'taskQueues'>>;
  storeRoot?: string;
}

const SOURCES: Record<DatasetName, DatasetPlan> = {
  iemocap: {
    dataset: 'iemocap',
    source: { kind: 'archive', path: '/corpora/IEMOCAP_full_release.tar.gz' },
    labels: '6class',
  },
  meld: { dataset: 'meld', source: { kind: 'url', url: MELD_PUBLIC_URL }, labels: 'meld7' },
};

let runs = 0;

/** A MerPipeline input for the simulated corpora, with a config hash of its own (so a workflow id of its own). */
export function pipelineInput(o: InputOptions): PipelineInput {
  const datasets = o.datasets ?? ['iemocap', 'meld'];
  const until = o.until ?? 'evaluate';
  const stages = STAGES.slice(0, STAGES.indexOf(until) + 1);
  const config = RunConfigSchema.parse({
    until,
    datasets: Object.fromEntries(datasets.map((d) => [d, { source: 'unused' }])),
    ...(o.train ? { train: o.train } : {}),
    temporal: { ...o.temporal, taskQueues: o.queues },
  });
  const has = (s: StageName) => stages.includes(s);
  const variants = resolveVariants(config.train);
  const noVsc = variants.some((v) => v.modalities.includes('v') && !v.vsc);
  const input: PipelineInput = {
    configHash: fakeKey('timeskip run', process.pid, ++runs).slice(0, 16),
    name: 'timeskip',
    store: { kind: 'local', root: o.storeRoot ?? join(tmpdir(), 'mer-timeskip-store') },
    stages,
    datasets: datasets.map((d) => SOURCES[d]),
    acquire: config.acquire,
    ...(has('segment') ? { segment: { ...config.segment, ...o.segment } } : {}),
    ...(has('extract') ? { extract: config.extract } : {}),
    ...(has('compress')
      ? {
          compress: { settings: noVsc ? [config.compress, { ...config.compress, enabled: false }] : [config.compress] },
        }
      : {}),
    ...(has('train') ? { train: { params: config.train, variants } } : {}),
    temporal: config.temporal,
    // The time-skipping server has no custom search attributes.
    searchAttributes: false,
  };
  return input;
}

/** The fields every stage child takes besides its own, for a child started on its own (no parent to signal). */
export function childBase(input: PipelineInput): Required<Omit<ChildInput, 'parentWorkflowId'>> {
  return { temporal: input.temporal, searchAttributes: false };
}
