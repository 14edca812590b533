import { Command, Option, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import {
  createMerWorkers,
  describeServed,
  runWorkers,
  servedQueues,
  shutdownOnSignals,
  type QueueKind,
} from '../workers/factory.ts';
import { startHealthServer } from '../workers/health.ts';
import { clusterFromEnv, connectWorker } from '../workers/connection.ts';
import { ConfigError } from './config.ts';
import {
  devAddress,
  devServerSettings,
  devUiUrl,
  ensureDevServer,
  runDevServerForeground,
  stopDevServer,
} from './devserver.ts';
import { listRuns, renderRuns, RUN_STATUS_FILTERS } from './runs.ts';
import { renderStatus, runStatus } from './status.ts';
import { openSession, uiListUrl, uiWorkflowUrl } from './session.ts';
import { executeManifest, type ManifestFlags } from './manifest-command.ts';
import { typedMessage } from './run-end.ts';
import { STAGES } from '../schemas/config.ts';
import { runDemo } from './demo.ts';
import { describeReportRun, fetchCrossCorpus, fetchReports, openFile } from './report.ts';
import { executeResume, executeRun, type FollowFlags, type RunFlags } from './run-command.ts';
import { installRuntime } from '../workers/runtime.ts';
import { synthesize } from './synth/index.ts';
import { executeSweep, type SweepFlags } from './sweep/command.ts';
import { isSweepId, renderSweepStatus, sweepStatus } from './sweep/status.ts';

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const portNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0: any free one)');
  return n;
};
const nonNegativeInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};
const positiveNum = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
};

const program = new Command('mer')
  .description('Durable IEMOCAP/MELD -> DeepMSI-MER pipelines on Temporal')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

program
  .command('dev')
  .description('Run the persistent local Temporal dev server (SQLite under .mer/, Web UI on port 8233)')
  .option('--detach', 'start it in the background and return')
  .option('--stop', 'stop a background dev server started by mer')
  .action(async (o: { detach?: boolean; stop?: boolean }) => {
    const s = devServerSettings();
    if (o.stop) {
      console.log(stopDevServer() ? 'dev server stopped' : 'no dev server started by mer is running');
      return;
    }
    if (o.detach) {
      const r = await ensureDevServer(s, (m) => console.error(m));
      console.log(`${r.started ? 'started' : 'already running'}: Temporal ${devAddress(s)}, UI ${devUiUrl(s)}`);
      return;
    }
    console.error(`Temporal dev server on ${devAddress(s)}, UI ${devUiUrl(s)}, database ${s.dbFile}`);
    process.exitCode = await runDevServerForeground(s);
  });

program
  .command('run')
  .description('Launch (or attach to) the pipeline for a config and wait for it, showing progress')
  .option('-c, --config <file>', 'run config (YAML or JSON), see cli/README.md')
  .option('--until <stage>', `last stage to run (built now: ${STAGES.join(', ')})`)
  .option('--iemocap <source>', 'IEMOCAP source: your licensed download URL, a local archive or an extracted folder')
  .option('--meld [source]', 'include MELD; source defaults to the public archive URL')
  .option('--iemocap-sha256 <hex>', 'expected sha256 of the IEMOCAP archive')
  .option('--meld-sha256 <hex>', 'expected sha256 of the MELD archive')
  .addOption(new Option('--labels <set>', 'IEMOCAP label set').choices(['6class', '4class']))
  .option('--store <dir|s3://bucket/prefix>', 'object store (default .mer/store)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style) for an s3:// store')
  .option('--chunk-mib <n>', 'download part size in MiB', positiveNum)
  .option(
    '--models <dir>',
    'encoder folders for extract: <dir>/text, <dir>/audio, <dir>/visual (or extract.*.model in the config)',
  )
  .option('--heartbeat-timeout <sec>', 'seconds without heartbeat before an activity is retried elsewhere', positiveNum)
  .option(
    '--protocol <name>',
    'train protocol: IEMOCAP loso|s5|paper, MELD official|paper (applies to the datasets that have it)',
  )
  .option('--preset <name>', 'fusion model size: compact (256 TCN channels) or paper (1024)')
  .option(
    '--ablations <set>',
    'also train ablations: none, modalities (T, A, V, T+A, T+V, A+V) or paper (modalities plus without VSC / contrastive loss)',
  )
  .option('--epochs <n>', 'at most this many training epochs (default 30)', positiveInt)
  .option('--seeds <n>', 'train every variant and fold with n seeds (train.seed .. train.seed+n-1)', positiveInt)
  .option('--workers', 'run workers in this process (the default without TEMPORAL_ADDRESS)')
  .option('--no-workers', 'run no workers here (a cluster has `mer worker` processes)')
  .option('--no-wait', 'start and return the workflow id')
  .option('--concurrency <n>', 'in-process cpu activities at once', positiveInt)
  .option('--json', 'progress as NDJSON events on stderr, the result as one JSON document on stdout')
  .action(async (o: RunFlags) => {
    await executeRun(o);
  });

program
  .command('sweep')
  .description(
    "Run every setting of a config's sweep: section (a grid or a list) as one durable sweep, pick the best on validation",
  )
  .argument('<config>', 'run config (YAML or JSON) with a sweep: section, see cli/README.md#sweeps')
  .option('--store <dir|s3://bucket/prefix>', 'object store (default: the config’s, else .mer/store)')
  .option('--models <dir>', 'encoder folders for extract: <dir>/text, <dir>/audio, <dir>/visual')
  .option('--parallelism <n>', 'settings side by side (default: sweep.parallelism, else the cores)', positiveInt)
  .option('--workers', 'run workers in this process (the default without TEMPORAL_ADDRESS)')
  .option('--no-workers', 'run no workers here (a cluster has `mer worker` processes)')
  .option('--no-wait', 'start and return the workflow id')
  .option('--concurrency <n>', 'in-process cpu activities at once', positiveInt)
  .option('--json', "each setting's state as NDJSON on stderr, the result as JSON on stdout")
  .action(async (config: string, o: SweepFlags) => {
    await executeSweep(config, o);
  });

program
  .command('worker')
  .description('Run workers for a Temporal cluster (TEMPORAL_ADDRESS etc.) or the local dev server')
  .addOption(new Option('-q, --queue <kind...>', 'task queues to serve').choices(['cpu', 'gpu']).default(['cpu']))
  .option('--task-queue-prefix <name>', 'task queue names are <prefix>-cpu / <prefix>-gpu', 'mer')
  .option('--concurrency <n>', 'concurrent activities (default cpu 4, gpu 1 per GPU)', positiveInt)
  .option('--no-workflows', 'activities only (workflow tasks are cheap: a few workers serve them)')
  .option('--shutdown-grace <duration>', 'time running activities get to finish on SIGTERM', '30 seconds')
  .option('--identity <name>', 'worker identity shown in the UI')
  .addOption(
    new Option(
      '--device <ep>',
      'execution provider for the ONNX encoders (cuda needs ONNXRUNTIME_NODE_INSTALL=cuda12 at npm ci; falls back to CPU with a warning)',
    )
      .choices(['cpu', 'cuda'])
      .default('cpu'),
  )
  .option(
    '--threads <n>',
    'ONNX Runtime intra-op threads per session (default: one per physical core); trainings record it, and a bit-exact resume needs the same value',
    positiveInt,
  )
  .option(
    '--health-port <port>',
    'serve GET /healthz (liveness) and /readyz on this port: task queues served, worker states, activities in flight',
    portNumber,
  )
  .action(
    async (o: {
      queue: QueueKind[];
      taskQueuePrefix: string;
      concurrency?: number;
      workflows: boolean;
      shutdownGrace: string;
      identity?: string;
      device: 'cpu' | 'cuda';
      threads?: number;
      healthPort?: number;
    }) => {
      const s = devServerSettings();
      const cluster = clusterFromEnv() ?? { address: devAddress(s), namespace: s.namespace };
      const connection = await connectWorker(cluster);
      const concurrency: Partial<Record<QueueKind, number>> = {};
      if (o.concurrency) for (const q of o.queue) concurrency[q] = o.concurrency;
      const options = {
        connection,
        namespace: cluster.namespace,
        taskQueues: { cpu: `${o.taskQueuePrefix}-cpu`, gpu: `${o.taskQueuePrefix}-gpu` },
        queues: o.queue,
        workflows: o.workflows,
        concurrency,
        shutdownGraceTime: o.shutdownGrace,
        identity: o.identity,
        device: o.device,
        threads: o.threads,
      };
      const workers = await createMerWorkers(options);
      const served = servedQueues(options);
      shutdownOnSignals(workers);
      console.error(
        `worker on ${cluster.address} (${cluster.namespace}) serving ${describeServed(served)}${o.threads ? `, ${o.threads} ONNX Runtime thread(s) per session` : ''}`,
      );
      if (o.healthPort !== undefined) {
        const h = await startHealthServer(o.healthPort, workers, served);
        console.error(`health: http://0.0.0.0:${h.port}/healthz and /readyz`);
      }
      await runWorkers(workers);
      await connection.close();
    },
  );

program
  .command('resume')
  .description(
    'Continue a failed, terminated or cancelled run: a new run of the same config (default) or a Temporal reset (--reset)',
  )
  .argument('<run>', 'workflow id (mer-<hash>) or config hash')
  .option('--reset', 'reset the failed run to just before the failed stage instead of starting a new run')
  .option('--workers', 'run workers in this process (the default without TEMPORAL_ADDRESS)')
  .option('--no-workers', 'run no workers here (a cluster has `mer worker` processes)')
  .option('--no-wait', 'resume and return the workflow id')
  .option('--concurrency <n>', 'in-process cpu activities at once', positiveInt)
  .option('--json', 'progress as NDJSON on stderr, the result as JSON on stdout')
  .action(async (run: string, o: FollowFlags & { reset?: boolean }) => {
    await executeResume(run, o);
  });

program
  .command('status')
  .description('Show a run: per-stage state and counts, quarantined items, failure, UI link')
  .argument('<run>', 'workflow id (mer-<hash>; a sweep: mer-sweep-<key>) or config hash')
  .option('--run-id <id>', 'a particular run of that workflow id (default: the latest)')
  .option('--json', 'machine-readable')
  .action(async (run: string, o: { json?: boolean; runId?: string }) => {
    const session = await openSession({ startDevServer: false });
    try {
      if (isSweepId(run)) {
        // A sweep: its settings and their states (cli/sweep/status.ts).
        const st = await sweepStatus(session.client, run);
        if (o.json) console.log(JSON.stringify(st, null, 2));
        else for (const l of renderSweepStatus(st)) console.log(l);
        return;
      }
      const base = session.uiBase;
      const st = await runStatus(session.client, run, {
        runId: o.runId,
        maxItems: o.json ? 200 : 10,
        ui: base ? (id, runId) => uiWorkflowUrl(base, session.namespace, id, runId) : undefined,
      });
      if (o.json) console.log(JSON.stringify(st, null, 2));
      else for (const l of renderStatus(st)) console.log(l);
    } finally {
      await session.close();
    }
  });

program
  .command('report')
  .description(
    'Fetch the evaluation report of a run (report.html, report.md, metrics.json, figures, predictions) from its store',
  )
  .argument('<run>', 'workflow id (mer-<hash>) or config hash')
  .option('--run-id <id>', 'a particular run of that workflow id (default: the latest)')
  .option('--out <dir>', 'where to put it (default ./mer-reports/<workflow id>); one folder per dataset')
  .option('--open', 'open report.html in the default browser')
  .option('--json', 'machine-readable list of the fetched files')
  .action(async (run: string, o: { runId?: string; out?: string; open?: boolean; json?: boolean }) => {
    const session = await openSession({ startDevServer: false });
    try {
      const reports = await fetchReports(session.client, run, o.out, o.runId);
      if (o.json) console.log(JSON.stringify(reports, null, 2));
      else {
        for (const r of reports) {
          const h = r.headline;
          console.log(
            `${r.dataset}: ${h.variant} accuracy ${(h.accuracy * 100).toFixed(1)}%, weighted F1 ${(h.weightedF1 * 100).toFixed(1)}% over ${h.folds} fold(s)`,
          );
          console.log(`  ${r.html}`);
          console.log(`  ${r.markdown}`);
          console.log(`  ${r.metrics} (${r.files} files)`);
          if (r.run) console.log(`  ${describeReportRun(r.run)}`);
        }
        // evaluate.crossCorpus: each dataset's models on the other's test split.
        const cross = await fetchCrossCorpus(session.client, run, o.out, o.runId);
        if (cross) console.log(`cross-corpus: ${cross.html}\n  ${cross.report}`);
      }
      if (o.open) openFile(reports[0].html);
    } finally {
      await session.close();
    }
  });

program
  .command('compare')
  .description(
    'Compare runs or fetched reports: headline metrics side by side, paired tests where the test utterances coincide, what differs in how they were made',
  )
  .argument('<reports...>', 'runs (workflow id or config hash) or report folders / metrics.json fetched by mer report')
  .option('--json', 'machine-readable comparison (schemas/compare.ts)')
  .option('--out <dir>', 'also write compare.html (self-contained) and compare.json there')
  .option('--reports <dir>', "where runs' reports are fetched (default ./mer-reports/<workflow id>)")
  .option('--rounds <n>', 'paired test rounds', positiveInt, 10_000)
  .option('--seed <n>', 'paired test seed', nonNegativeInt, 0)
  .action(async (reports: string[], o: import('./compare.ts').CompareFlags) => {
    if (reports.length < 2) throw new Error('mer compare needs at least two runs or reports');
    const { executeCompare } = await import('./compare.ts');
    await executeCompare(reports, o);
  });

program
  .command('runs')
  .description('List recent pipeline runs (Temporal visibility: workflow type MerPipeline), newest first')
  .option('-n, --limit <n>', 'how many', positiveInt, 20)
  .addOption(new Option('--status <status>', 'only runs in this state').choices(RUN_STATUS_FILTERS))
  .option('--dataset <name>', 'only runs that include this dataset (needs the MerDataset search attribute)')
  .option('--json', 'machine-readable')
  .action(async (o: { limit: number; status?: string; dataset?: string; json?: boolean }) => {
    const session = await openSession({ startDevServer: false });
    try {
      const runs = await listRuns(session.client, { limit: o.limit, status: o.status, dataset: o.dataset });
      if (o.json) console.log(JSON.stringify(runs, null, 2));
      else {
        for (const l of renderRuns(runs)) console.log(l);
        if (session.uiBase && runs.length)
          console.log(`UI: ${uiListUrl(session.uiBase, session.namespace, 'WorkflowType="MerPipeline"')}`);
      }
    } finally {
      await session.close();
    }
  });

program
  .command('manifest')
  .description('Acquire one dataset in this process (no Temporal) and print its manifest summary')
  .addOption(new Option('--dataset <name>', 'dataset').choices(['iemocap', 'meld']).makeOptionMandatory())
  .requiredOption('--source <dir|archive|url>', 'extracted folder, archive (.tar.gz/.tgz/.tar/.zip) or URL')
  .addOption(new Option('--labels <set>', 'label set').choices(['6class', '4class', 'meld7', 'sentiment3']))
  .option('--sha256 <hex>', 'expected sha256 of the archive')
  .option('--store <dir|s3://bucket/prefix>', 'object store (default .mer/store)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint for an s3:// store')
  .option('--out <file>', 'also write the manifest: Parquet, or JSON Lines if it ends in .jsonl')
  .option('--json', 'print the summary as JSON (rows, per split, per label, issues with reasons)')
  .action(async (o: ManifestFlags) => {
    await executeManifest(o);
  });

program
  .command('gc')
  .description(
    'Report the garbage a store holds (temp files of killed writers, incomplete S3 uploads); --delete removes it',
  )
  .option('--store <dir|s3://bucket/prefix>', 'object store (default .mer/store)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint for an s3:// store')
  .option('--min-age <minutes>', 'only leftovers not written to for this long are stale (default 60)', positiveNum)
  .option('--delete', 'remove the stale leftovers')
  .option('--json', 'machine-readable report')
  .action(async (o: import('./gc.ts').GcFlags) => {
    const { executeGc } = await import('./gc.ts');
    await executeGc(o);
  });

program
  .command('synth')
  .description('Generate a small synthetic corpus in the exact IEMOCAP or MELD layout (media made with ffmpeg)')
  .addOption(new Option('--dataset <name>', 'layout').choices(['iemocap', 'meld']).makeOptionMandatory())
  .requiredOption('--out <dir>', 'output folder')
  .option('--archive', 'also pack it as the real archive (IEMOCAP_full_release.tar.gz / MELD.Raw.tar.gz)')
  .option('--seed <n>', 'random seed', positiveInt, 1)
  .addOption(new Option('--scale <size>', 'corpus size').choices(['tiny', 'small']).default('tiny'))
  .option(
    '--cue',
    'each label leaves a learnable trace per modality (a word, a pitch, a colour patch), each in only part of the utterances',
  )
  .option('--cue-presence <p>', 'probability that a modality carries the cue in an utterance (default 0.6)', parseFloat)
  .action(
    async (o: {
      dataset: 'iemocap' | 'meld';
      out: string;
      archive?: boolean;
      seed: number;
      scale: 'tiny' | 'small';
      cue?: boolean;
      cuePresence?: number;
    }) => {
      const cue =
        o.cue || o.cuePresence !== undefined
          ? o.cuePresence !== undefined
            ? { presence: o.cuePresence }
            : true
          : undefined;
      const r = await synthesize({
        dataset: o.dataset,
        out: resolve(o.out),
        archive: o.archive ?? false,
        seed: o.seed,
        scale: o.scale,
        ...(cue ? { cue } : {}),
      });
      console.log(`corpus: ${r.root}`);
      if (r.archive) console.log(`archive: ${r.archive}`);
    },
  );

program
  .command('demo')
  .description(
    'Synthesize both corpora (with learnable cues) and run the whole pipeline on them with tiny encoders through the local Temporal dev server',
  )
  .option('--fresh', 'use a new store so every stage runs instead of being reused')
  .option('--until <stage>', `stop after this stage (${STAGES.join(', ')}; default evaluate)`)
  .option(
    '--seeds <n>',
    'train every variant and fold with n seeds: intervals and paired tests (IEMOCAP: 2 random folds)',
    positiveInt,
  )
  .option('--ablations <set>', 'also train ablations: none, modalities or paper')
  .action(async (o: { fresh?: boolean; until?: string; seeds?: number; ablations?: string }) => {
    await runDemo({ fresh: o.fresh ?? false, until: o.until, seeds: o.seeds, ablations: o.ablations });
  });

program
  .command('predict')
  .description(
    'Run a trained model on new clips: segment -> extract -> compress as at training, then its exported graph; prints per-clip class probabilities',
  )
  .requiredOption(
    '--model <key|file>',
    'exported model: a model.onnx file, or a training key (models/<key>/model.onnx in the store; a unique prefix will do)',
  )
  .requiredOption(
    '--input <video|folder>',
    'a video file, or a folder of them (.mp4 .avi .mkv .mov .webm; not searched recursively)',
  )
  .option('--text <words>', 'transcript of a single clip (otherwise <name>.txt next to each video)')
  .option(
    '--context <utterance...>',
    'for a model trained with dialogue context: the previous utterances of a single clip, oldest first (otherwise <name>.context.txt next to each video, one per line)',
  )
  .option('--no-context', 'encode each clip without dialogue context even though the model was trained with it')
  .option(
    '--models <dir>',
    'encoder folders <dir>/text, <dir>/audio, <dir>/visual (default: the folders the model was trained with)',
  )
  .option(
    '--allow-encoder-mismatch',
    'warn instead of failing when an encoder folder is not the one the model was trained with',
  )
  .option('--store <dir|s3://bucket/prefix>', 'object store holding models/<key>/model.onnx (default .mer/store)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint for an s3:// store')
  .addOption(
    new Option('--device <ep>', 'execution provider for the encoders and the model')
      .choices(['cpu', 'cuda'])
      .default('cpu'),
  )
  .option('--threads <n>', 'onnxruntime intra-op threads (default: one per physical core)', positiveInt)
  .option('--json', 'print a JSON array of {clip, predicted, probabilities: {class: p}, flags}')
  .action(async (o: import('./predict.ts').PredictFlags) => {
    const { runPredict } = await import('./predict.ts');
    await runPredict(o);
  });

program
  .command('encode')
  .description(
    'Print what the extract stage would store for one input: token ids or input shape, sequence shape, pooled vector',
  )
  .requiredOption('--model <dir>', 'an encoder folder (config.json, tokenizer or preprocessor config, onnx/model.onnx)')
  .option('--text <words>', 'an utterance (text encoders)')
  .option('--context <utterance...>', 'with --text: the previous utterances of the dialogue, oldest first')
  .option('--audio <file>', 'an audio file, cut as the segment stage cuts it to 16 kHz mono (audio encoders)')
  .option('--image <file>', 'a picture, scaled as the segment stage scales frames to 224x224 (visual encoders)')
  .option('--clip <file>', 'a video clip, prepared as `mer predict` prepares one (audio or visual encoders)')
  .option('--config <file>', 'a run config whose segment and extract settings apply (default: the defaults)')
  .addOption(new Option('--device <ep>', 'execution provider').choices(['cpu', 'cuda']).default('cpu'))
  .option('--threads <n>', 'onnxruntime intra-op threads (default: one per physical core)', positiveInt)
  .option('--json', 'print {family, modelType, inputs, sequenceShape, pooled, ...} as one JSON object')
  .action(async (o: import('./encode.ts').EncodeFlags) => {
    const { runEncode } = await import('./encode.ts');
    await runEncode(o);
  });

export async function main(argv: string[]): Promise<void> {
  installRuntime();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // Errors that carry a Mer* type (MerError in this process, ApplicationFailure from a run) say it,
    // as pipeline failures do: `mer: MerChecksumMismatch: ...`.
    const msg = err instanceof ConfigError ? err.message : typedMessage(err);
    console.error(`mer: ${msg}`);
    process.exitCode = process.exitCode || 1;
  }
}

await main(process.argv);
