import { availableParallelism } from 'node:os';
import type { PipelineInput, TemporalSettings } from '../schemas/config.ts';

/**
 * Decision record: embedded runs get task queues of their own.
 *
 * Problem: two embedded `mer run` commands on one machine share the local dev server. With the shared
 * `mer-cpu` / `mer-gpu` queues, each process's in-process workers also took the other run's tasks;
 * when the shorter run finished, its process shut its workers down while one of them held the other
 * run's training, and that attempt was lost ("Worker is shutting down and this activity did not
 * complete in time"), to resume from a checkpoint on a retry.
 *
 * Options considered:
 * - Drain: a finishing `mer run` keeps its workers until every activity they hold has completed.
 *   Nothing is lost, but the short run's command then waits for the other run's training (hours),
 *   and its work was still done by a process whose user may Ctrl-C it at any time.
 * - Run-scoped queues (chosen): in embedded mode, when this process runs the workers, the run's
 *   `temporal.taskQueues` become `<queue>@<workflowId>`, so its workers serve that run and nothing
 *   else, and a finishing process holds no one else's work. The queues travel in the run's input
 *   (child workflows and activities take theirs from it), so `mer resume`, a Temporal reset and a
 *   second `mer run` of the same config (which attaches) serve the same queues. The settings are not
 *   part of the config hash: scoping changes no key and no workflow id.
 *
 * Unchanged: cluster mode (TEMPORAL_ADDRESS), where worker fleets poll the configured names, and an
 * embedded run that leaves the work to others (`--no-workers`, `--no-wait`): `mer worker` processes on
 * the dev server poll the configured names too.
 */
export function runScopedQueues(queues: TemporalSettings['taskQueues'], workflowId: string) {
  const scoped = (q: string) => (q.endsWith(`@${workflowId}`) ? q : `${q}@${workflowId}`);
  return { cpu: scoped(queues.cpu), gpu: scoped(queues.gpu) };
}

/** Whether this command's run gets run-scoped queues: embedded, workers in this process, waiting for the end. */
export function scopesQueues(o: { cluster: boolean; workers: boolean; wait: boolean }): boolean {
  return !o.cluster && o.workers && o.wait;
}

export function withRunScopedQueues(input: PipelineInput, workflowId: string): PipelineInput {
  return {
    ...input,
    temporal: { ...input.temporal, taskQueues: runScopedQueues(input.temporal.taskQueues, workflowId) },
  };
}

/**
 * Decision record: the embedded run trains as many models side by side as the machine has cores.
 * `train.parallelism` unset, an embedded run's input gets os.availableParallelism() (the cluster
 * default stays 16, bounded there by the GPU workers' slots), and its in-process gpu worker takes that
 * many trainings at once, each with cores / parallelism ONNX Runtime threads (at least 1) so that N
 * trainings do not each start a thread per core. Neither value is in a cache key or the config hash
 * (the hash takes an unset parallelism as 16): trainings are the same keys whatever the machine.
 */
export function withEmbeddedParallelism(input: PipelineInput, cores = availableParallelism()): PipelineInput {
  if (!input.train || input.train.params.parallelism !== undefined) return input;
  return { ...input, train: { ...input.train, params: { ...input.train.params, parallelism: Math.max(1, cores) } } };
}

/** The embedded gpu worker's slots and ONNX Runtime threads per training (see withEmbeddedParallelism). */
export function embeddedTrainSlots(
  input: Pick<PipelineInput, 'train'>,
  cores = availableParallelism(),
): { concurrency: number; threads: number | undefined } {
  const concurrency = Math.max(1, input.train?.params.parallelism ?? cores);
  // One training: ONNX Runtime's own choice (a thread per physical core), as before.
  return { concurrency, threads: concurrency > 1 ? Math.max(1, Math.floor(cores / concurrency)) : undefined };
}
