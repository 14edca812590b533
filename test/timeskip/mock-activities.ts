/**
 * Mock implementations of every activity the workflows call, typed against the real activity interfaces
 * (a signature change there breaks compilation here), answering for a SimulatedCorpus. Instant and
 * deterministic by default; hooks inject behaviour per call (fail retryably, fail with a Mer* type,
 * hang without heartbeating, wait on a gate) and every call is counted, in flight and in total.
 *
 * One MockActivities holds the shared state; `forWorker(label)` gives the activity object a worker
 * registers, so tests can tell which worker ran an attempt.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { MerActivities } from '../../activities/index.ts';
import type { DatasetName } from '../../schemas/config.ts';
import type { ErrorType } from '../../schemas/error-types.ts';
import { SimulatedCorpus, type ActivityInput, type CorpusSpec } from './mock-corpus.ts';

export type ActivityName = keyof MerActivities;

/** One attempt of one activity, as a hook sees it. */
export interface MockCall {
  activity: ActivityName;
  /** The label of the worker whose activity object runs the attempt. */
  worker: string;
  attempt: number;
  dataset: DatasetName;
  input: unknown;
  /** The workflow that scheduled the activity. */
  workflowId: string;
  /** When this attempt, and the first one, was scheduled (server time, as the attempt's info says). */
  scheduledMs: number;
  firstScheduledMs: number;
  /** Server time (skipped time included) when the attempt started; set when the mocks have a `clock`. */
  startedMs?: number;
  /** Aborted when the server cancels the attempt (or the worker shuts down). */
  signal: AbortSignal;
}

/** What happened to an attempt. */
export interface CallRecord extends Omit<MockCall, 'signal'> {
  outcome: 'running' | 'completed' | 'failed';
  error?: string;
}

/** Runs before an attempt's result is computed: it may throw (fail the attempt) or wait. */
export type Hook = (call: MockCall) => void | Promise<void>;

/** A transient fault: Temporal retries it (ffmpeg killed, S3 reset). */
export function retryable(message: string, type = 'MockTransientError'): never {
  throw ApplicationFailure.retryable(message, type);
}

/** What MerError becomes at the activity edge (activities/common/errors.ts toFailure): typed, never retried. */
export function nonRetryable(type: ErrorType, message: string, details: Record<string, unknown> = {}): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [details] });
}

/**
 * A latch a hook waits on: `entered` resolves at the first call that reaches it, `open()` lets all
 * pass. A waiting attempt fails when it is cancelled (a worker shutting down after a failed test).
 */
export interface Gate {
  readonly entered: Promise<MockCall>;
  wait: Hook;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  let enter!: (c: MockCall) => void;
  const opened = new Promise<void>((r) => (open = r));
  const entered = new Promise<MockCall>((r) => (enter = r));
  return {
    entered,
    wait: (call) => {
      enter(call);
      return new Promise<void>((resolve, reject) => {
        void opened.then(resolve);
        call.signal.addEventListener('abort', () => reject(new Error('gate: attempt cancelled')), { once: true });
      });
    },
    open,
  };
}

interface Counter {
  calls: number;
  inFlight: number;
  maxInFlight: number;
  failed: number;
}

export class MockActivities {
  readonly corpus: SimulatedCorpus;
  /** Every attempt in start order; `keepLog: false` (scale runs) keeps counters only. */
  readonly log: CallRecord[] = [];
  private readonly hooks = new Map<ActivityName, Hook[]>();
  private readonly counters = new Map<string, Counter>();
  private readonly hung: Array<() => void> = [];

  constructor(
    spec: CorpusSpec,
    private readonly opts: {
      /** false: counters only, no call log (scale runs). */
      keepLog?: boolean;
      /** The server's clock (TestWorkflowEnvironment.currentTimeMs): each attempt records its start on it. */
      clock?: () => Promise<number>;
    } = {},
  ) {
    this.corpus = new SimulatedCorpus(spec);
  }

  /** Adds a hook to every later attempt of `activity` (hooks run in the order added). */
  on(activity: ActivityName, hook: Hook): this {
    this.hooks.set(activity, [...(this.hooks.get(activity) ?? []), hook]);
    return this;
  }

  /** A hook that hangs the attempt without heartbeating, deaf to cancellation, until `releaseHung()`: a dead worker. */
  hang(): Hook {
    return () => new Promise<void>((resolve) => this.hung.push(resolve));
  }

  /** Lets hung attempts finish (their late results are refused by the server); call at teardown. */
  releaseHung(): void {
    for (const r of this.hung.splice(0)) r();
  }

  /** Counts of `activity`, over all datasets or one. */
  stats(activity: ActivityName, dataset?: DatasetName): Readonly<Counter> {
    return this.counters.get(dataset ? `${activity}/${dataset}` : activity) ?? this.counter('');
  }

  /** The records of `activity`'s attempts, optionally of one dataset. */
  calls(activity: ActivityName, dataset?: DatasetName): CallRecord[] {
    return this.log.filter((c) => c.activity === activity && (!dataset || c.dataset === dataset));
  }

  private counter(key: string): Counter {
    let c = this.counters.get(key);
    if (!c) {
      c = { calls: 0, inFlight: 0, maxInFlight: 0, failed: 0 };
      if (key) this.counters.set(key, c);
    }
    return c;
  }

  private async run<K extends ActivityName>(
    activity: K,
    worker: string,
    input: ActivityInput<K>,
    dataset: DatasetName,
    produce: () => Awaited<ReturnType<MerActivities[K]>>,
  ): Promise<Awaited<ReturnType<MerActivities[K]>>> {
    const ctx = Context.current();
    const { info } = ctx;
    const call: MockCall = {
      activity,
      worker,
      attempt: info.attempt,
      dataset,
      input,
      workflowId: info.workflowExecution?.workflowId ?? '',
      scheduledMs: info.currentAttemptScheduledTimestampMs,
      firstScheduledMs: info.scheduledTimestampMs,
      signal: ctx.cancellationSignal,
      ...(this.opts.clock ? { startedMs: await this.opts.clock() } : {}),
    };
    const counters = [this.counter(activity), this.counter(`${activity}/${dataset}`)];
    const record: CallRecord = {
      activity,
      worker,
      attempt: call.attempt,
      dataset,
      input,
      workflowId: call.workflowId,
      scheduledMs: call.scheduledMs,
      firstScheduledMs: call.firstScheduledMs,
      ...(call.startedMs === undefined ? {} : { startedMs: call.startedMs }),
      outcome: 'running',
    };
    if (this.opts.keepLog !== false) this.log.push(record);
    for (const c of counters) {
      c.calls++;
      c.maxInFlight = Math.max(c.maxInFlight, ++c.inFlight);
    }
    try {
      for (const hook of this.hooks.get(activity) ?? []) await hook(call);
      const result = produce();
      record.outcome = 'completed';
      return result;
    } catch (err) {
      record.outcome = 'failed';
      record.error = err instanceof Error ? err.message : String(err);
      for (const c of counters) c.failed++;
      throw err;
    } finally {
      for (const c of counters) c.inFlight--;
    }
  }

  /** The activities a worker registers; `worker` labels its attempts in the log. */
  forWorker(worker = 'worker'): MerActivities {
    const c = this.corpus;
    const of = (key: string) => c.infoOf(key).dataset;
    return {
      planAcquire: (i) => this.run('planAcquire', worker, i, i.plan.dataset, () => c.planAcquire(i.plan)),
      downloadSource: (i) =>
        this.run('downloadSource', worker, i, i.plan.dataset, () => c.download(i.plan.dataset, i.acquire.chunkMiB)),
      extractSource: (i) => this.run('extractSource', worker, i, i.plan.dataset, () => c.unpack(i.plan.dataset)),
      buildManifest: (i) => this.run('buildManifest', worker, i, i.plan.dataset, () => c.manifest(i.manifestPrefix)),
      readManifestSummary: (i) =>
        this.run('readManifestSummary', worker, i, of(i.manifestPrefix), () => c.manifest(i.manifestPrefix)),
      planSegment: (i) => this.run('planSegment', worker, i, i.dataset, () => c.planSegment(i)),
      segmentShard: (i) => this.run('segmentShard', worker, i, i.dataset, () => c.segmentShard(i)),
      finalizeSegment: (i) => this.run('finalizeSegment', worker, i, i.dataset, () => c.finalizeSegment(i)),
      planExtract: (i) => this.run('planExtract', worker, i, of(i.segmentPrefix), () => c.planExtract(i)),
      extractShard: (i) => this.run('extractShard', worker, i, of(i.shardKey), () => c.extractShard(i)),
      finalizeExtract: (i) => this.run('finalizeExtract', worker, i, of(i.featuresPrefix), () => c.finalizeExtract(i)),
      planCompress: (i) => this.run('planCompress', worker, i, of(i.visual.prefix), () => c.planCompress(i)),
      compressVisualShard: (i) => this.run('compressVisualShard', worker, i, of(i.vscKey), () => c.compressShard(i)),
      finalizeCompress: (i) => this.run('finalizeCompress', worker, i, of(i.vscKey), () => c.finalizeCompress(i)),
      planSplits: (i) => this.run('planSplits', worker, i, of(i.manifest), () => c.planSplits(i)),
      trainFold: (i) => this.run('trainFold', worker, i, i.dataset, () => c.trainFold(i)),
      evaluateDataset: (i) => this.run('evaluateDataset', worker, i, i.acquired.dataset, () => c.evaluate(i)),
      // evaluate.crossCorpus: a summary naming no real report (the time-skipping tests do not enable it).
      crossCorpus: (i) =>
        this.run('crossCorpus', worker, i, i.datasets[0].dataset, () => ({
          key: 'cross',
          prefix: 'cross-corpus/cross',
          reportKey: 'cross-corpus/cross/cross-corpus.json',
          htmlKey: 'cross-corpus/cross/report.html',
          markdownKey: 'cross-corpus/cross/report.md',
          headline: [],
          skipped: false,
        })),
      // The time-skipping tests start no sweep (MerSweep is tested on a real server: test/workflow/sweep.test.ts).
      sweepReport: () => Promise.reject(new Error('mock activities: no sweep report in the time-skipping tests')),
    };
  }
}
