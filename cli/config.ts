import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { contentKey, sha256Hex } from '../activities/common/hash.ts';
import { redactUrlForLog } from '../activities/common/redact.ts';
import { createStore, localRootRefusal } from '../activities/store/index.ts';
import { storeRootAdvice } from '../schemas/store.ts';
import { merHome } from '../activities/common/tools.ts';
import {
  DATASETS,
  MELD_PUBLIC_URL,
  RunConfigSchema,
  STAGES,
  type DatasetName,
  type DatasetPlan,
  type PipelineInput,
  type RunConfig,
  type SourceSpec,
  type StageName,
} from '../schemas/config.ts';
import { EXTRACT_MODALITIES, ExtractParamsSchema, type ExtractParams } from '../schemas/extract.ts';
import type { VscParams } from '../schemas/compress.ts';
import {
  DEFAULT_TRAIN_PARALLELISM,
  PROTOCOLS_BY_DATASET,
  resolveVariants,
  type ResolvedVariant,
} from '../schemas/train.ts';
import { describeZodError } from '../schemas/issues.ts';
import { storedVscParams } from '../activities/compress/key.ts';
import { secretUrlKey } from '../schemas/layout.ts';
import { sharedClasses } from '../schemas/cross-corpus.ts';
import type { LabelSetName } from '../schemas/manifest.ts';
import { checkEncoderFolder } from './model-type.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigDocument {
  raw: Record<string, unknown>;
  lineOfPath: (path: PropertyKey[]) => number | undefined;
}

/** Parses YAML or JSON keeping positions, so later validation can name lines; syntax errors name line:col. */
export function readConfigDocument(file: string): ConfigDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read config: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    // linePos is only filled in with prettyErrors, which would also reformat the message.
    const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
    throw new ConfigError(
      `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML/JSON: ${e.message.split('\n')[0]}`,
    );
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${file}:1: the config must be a mapping of settings`);
  return { raw: raw as Record<string, unknown>, lineOfPath: (path) => lineOf(doc, lineCounter, path) };
}

/** Reads and validates a YAML or JSON run config; errors name the file, line and field. */
export function loadConfigFile(file: string): RunConfig {
  const { raw, lineOfPath } = readConfigDocument(file);
  return parseConfigObject(raw, file, lineOfPath);
}

export function parseConfigObject(
  raw: unknown,
  file: string,
  lineOfPath?: (p: PropertyKey[]) => number | undefined,
): RunConfig {
  const r = RunConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(describeZodError(file, r.error, lineOfPath));
  return r.data;
}

function lineOf(doc: Document, lc: LineCounter, path: PropertyKey[]): number | undefined {
  // Walk up until a node exists: a missing field is reported at its parent's line.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as Array<string | number>, true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

export interface RunOverrides {
  until?: string;
  iemocap?: string;
  meld?: string | boolean;
  iemocapSha256?: string;
  meldSha256?: string;
  labels?: string;
  store?: string;
  s3Endpoint?: string;
  chunkMiB?: number;
  heartbeatTimeoutSec?: number;
  taskQueuePrefix?: string;
  /** A folder with text/, audio/ and visual/ encoder folders (`--models`). */
  models?: string;
  /** train.ablations */
  ablations?: string;
  /** train.preset */
  preset?: string;
  /** train.splits.<dataset>.protocol for each dataset that has this protocol. */
  protocol?: string;
  /** train.maxEpochs */
  epochs?: number;
  /** train.seeds (a count) */
  seeds?: number;
}

/** Config file (optional) + command-line flags -> a validated RunConfig. */
export function buildRunConfig(file: string | undefined, o: RunOverrides): { config: RunConfig; baseDir: string } {
  const baseDir = file ? dirname(resolve(file)) : process.cwd();
  // Flags are merged into the file's raw content before validation, so a file may leave out what the
  // flags give (e.g. a store-only config plus --iemocap); errors still name the file's lines.
  const docu = file ? readConfigDocument(file) : undefined;
  const raw: Record<string, unknown> = docu ? structuredClone(docu.raw) : {};
  const datasets = { ...((raw.datasets as Record<string, unknown>) ?? {}) } as Record<
    string,
    Record<string, unknown> | undefined
  >;
  // Paths typed on the command line are relative to where the command runs, not to the config file.
  const fromCwd = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) || isAbsolute(p) ? p : resolve(p));
  if (o.iemocap) datasets.iemocap = { ...(datasets.iemocap ?? {}), source: fromCwd(o.iemocap) };
  if (o.iemocapSha256 && datasets.iemocap) datasets.iemocap.sha256 = o.iemocapSha256;
  if (o.meld === true) datasets.meld = { ...(datasets.meld ?? {}), source: MELD_PUBLIC_URL };
  else if (typeof o.meld === 'string') datasets.meld = { ...(datasets.meld ?? {}), source: fromCwd(o.meld) };
  if (o.meldSha256 && datasets.meld) datasets.meld.sha256 = o.meldSha256;
  // --labels names an IEMOCAP label set: given for a run without IEMOCAP it would change nothing, silently.
  if (o.labels && !datasets.iemocap)
    throw new ConfigError(
      `--labels ${o.labels}: sets the IEMOCAP label set, but this run has no IEMOCAP; add --iemocap <source> or drop --labels`,
    );
  if (o.labels && datasets.iemocap) datasets.iemocap.labels = o.labels;
  raw.datasets = datasets;
  if (o.until) raw.until = o.until;
  if (o.store) {
    const store = parseStoreFlag(o.store, o.s3Endpoint);
    raw.store = store.kind === 'local' ? { ...store, root: fromCwd(String(store.root)) } : store;
  }
  if (o.chunkMiB) raw.acquire = { ...(raw.acquire ?? {}), chunkMiB: o.chunkMiB };
  const temporal = { ...((raw.temporal as Record<string, unknown>) ?? {}) };
  if (o.heartbeatTimeoutSec) temporal.heartbeatTimeoutSec = o.heartbeatTimeoutSec;
  if (o.taskQueuePrefix) temporal.taskQueues = { cpu: `${o.taskQueuePrefix}-cpu`, gpu: `${o.taskQueuePrefix}-gpu` };
  raw.temporal = temporal;
  if (o.models) {
    const extract = { ...((raw.extract as Record<string, Record<string, unknown> | undefined>) ?? {}) };
    for (const m of EXTRACT_MODALITIES) extract[m] = { ...(extract[m] ?? {}), model: fromCwd(resolve(o.models, m)) };
    raw.extract = extract;
  }
  const train = { ...((raw.train as Record<string, unknown>) ?? {}) };
  if (o.ablations) train.ablations = o.ablations;
  if (o.preset) train.preset = o.preset;
  if (o.epochs) train.maxEpochs = o.epochs;
  if (o.seeds) train.seeds = o.seeds;
  if (o.protocol) {
    const splits = { ...((train.splits as Record<string, Record<string, unknown> | undefined>) ?? {}) };
    const fits = (Object.keys(PROTOCOLS_BY_DATASET) as (keyof typeof PROTOCOLS_BY_DATASET)[]).filter((d) =>
      (PROTOCOLS_BY_DATASET[d] as readonly string[]).includes(o.protocol!),
    );
    if (!fits.length)
      throw new ConfigError(
        `--protocol: "${o.protocol}" is not a protocol (IEMOCAP: loso, s5, paper; MELD: official, paper)`,
      );
    for (const d of fits) splits[d] = { ...(splits[d] ?? {}), protocol: o.protocol };
    train.splits = splits;
  }
  if (Object.keys(train).length) raw.train = train;
  if (!datasets.iemocap && !datasets.meld) {
    throw new ConfigError(
      'no dataset to run: pass --meld (public archive) and/or --iemocap <url|archive|folder>, or a --config file naming datasets',
    );
  }
  return { config: parseConfigObject(raw, file ?? 'command line', docu?.lineOfPath), baseDir };
}

/** `--store DIR` or `--store s3://bucket/prefix`. */
export function parseStoreFlag(value: string, endpoint?: string): Record<string, unknown> {
  if (value.startsWith('s3://')) {
    const rest = value.slice(5);
    const [bucket, ...prefix] = rest.split('/');
    return {
      kind: 's3',
      bucket,
      ...(prefix.join('/') ? { prefix: prefix.join('/') } : {}),
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    };
  }
  return { kind: 'local', root: value };
}

const ARCHIVE_RE = /\.(tar\.gz|tgz|tar|zip)$/i;

export function resolveSource(
  dataset: DatasetName,
  source: string,
  sha256: string | undefined,
  baseDir: string,
): SourceSpec {
  if (/^https?:\/\//i.test(source)) return { kind: 'url', url: source, ...(sha256 ? { sha256 } : {}) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new ConfigError(
      `datasets.${dataset}.source: unsupported URL scheme in ${source.split('?')[0]} (use http(s), a local archive or a folder)`,
    );
  }
  const path = isAbsolute(source) ? source : resolve(baseDir, source);
  if (!existsSync(path)) throw new ConfigError(`datasets.${dataset}.source: ${path} does not exist`);
  if (statSync(path).isDirectory()) return { kind: 'folder', path };
  if (!ARCHIVE_RE.test(path))
    throw new ConfigError(
      `datasets.${dataset}.source: ${path} is neither a folder nor a .tar.gz/.tgz/.tar/.zip archive`,
    );
  return { kind: 'archive', path, ...(sha256 ? { sha256 } : {}) };
}

const DEFAULT_LABELS: Record<DatasetName, string> = { iemocap: '6class', meld: 'meld7' };
const ALLOWED_LABELS: Record<DatasetName, string[]> = { iemocap: ['6class', '4class'], meld: ['meld7', 'sentiment3'] };

export function stagesUntil(until: string): StageName[] {
  const i = (STAGES as readonly string[]).indexOf(until);
  if (i >= 0) return STAGES.slice(0, i + 1);
  throw new ConfigError(`until: unknown stage "${until}"; stages: ${STAGES.join(', ')}`);
}

const DEFAULT_EXTRACT = ExtractParamsSchema.parse({});

/**
 * Model folders resolve against the config file's folder. A folder given explicitly is taken as is
 * (it is a path on the worker machines, which need not be this one); a modality left at its default
 * folder must have that folder here, else the run would only fail once it reached a worker. A folder
 * that is here must be an encoder of its modality by config.json's model_type (cli/model-type.ts).
 */
export function resolveExtract(params: ExtractParams, baseDir: string): ExtractParams {
  const out = structuredClone(params);
  const missing: string[] = [];
  for (const m of EXTRACT_MODALITIES) {
    const path = isAbsolute(params[m].model) ? params[m].model : resolve(baseDir, params[m].model);
    if (params[m].model === DEFAULT_EXTRACT[m].model && !existsSync(path))
      missing.push(`extract.${m}.model (default ${path})`);
    out[m].model = path;
    // a folder that is here must hold an encoder of this modality (model_type); one that is not is a worker path
    checkEncoderFolder(m, path, `extract.${m}.model`);
  }
  if (missing.length) {
    throw new ConfigError(
      `until: the extract stage needs an encoder folder per modality; not found: ${missing.join(', ')}. ` +
        'Set extract.text.model, extract.audio.model and extract.visual.model in the config, or pass --models <dir> holding text/, audio/ and visual/ (activities/extract/README.md)',
    );
  }
  return out;
}

/**
 * The variants a run trains, named by what they read. With `compress.enabled: false` every variant
 * reads frames without VSC, so its derived name says so (`T+A+V-noVSC`). `guidance: fixed` selects
 * tokens with text and audio: a VSC variant that leaves either out would see it through the visual
 * features, so the combination is refused.
 */
export function trainVariants(train: RunConfig['train'], compress: VscParams): ResolvedVariant[] {
  const variants = resolveVariants(
    compress.enabled
      ? train
      : {
          ...train,
          variants: (train.variants ?? resolveVariants(train)).map(({ name, ...v }) => ({
            ...v,
            ...(train.variants && name !== undefined ? { name } : {}),
            vsc: false,
          })),
        },
  );
  if (compress.enabled && compress.guidance === 'fixed') {
    const leaky = variants.filter(
      (v) => v.vsc && v.modalities.includes('v') && !(v.modalities.includes('t') && v.modalities.includes('a')),
    );
    if (leaky.length)
      throw new ConfigError(
        `compress.guidance: "fixed" guides the visual token selection with text and audio, so variant(s) ${leaky.map((v) => v.name).join(', ')} would see a modality they leave out; use guidance "none", or train those variants with vsc: false`,
      );
  }
  return variants;
}

/** The run's VSC configuration, plus VSC off when a variant that reads the video trains without it. */
export function vscSettings(params: VscParams, variants: readonly ResolvedVariant[] = []): VscParams[] {
  const off = variants.some((v) => v.modalities.includes('v') && !v.vsc);
  return off && params.enabled ? [params, { ...params, enabled: false }] : [params];
}

/**
 * `evaluate.crossCorpus: true` as the workflow input carries it: only when the run evaluates, so
 * that runs without it keep their hashes. It needs both datasets and label sets sharing classes.
 */
function crossCorpusSetting(
  config: RunConfig,
  stages: StageName[],
  datasets: DatasetPlan[],
): { crossCorpus: true } | undefined {
  if (!config.evaluate.crossCorpus || !stages.includes('evaluate')) return undefined;
  if (datasets.length !== 2)
    throw new ConfigError(
      `evaluate.crossCorpus: tests each dataset's models on the other dataset, so the run needs both iemocap and meld (it has ${datasets.map((d) => d.dataset).join(', ')})`,
    );
  const shared = sharedClasses(datasets[0].labels as LabelSetName, datasets[1].labels as LabelSetName);
  if (shared.length < 2)
    throw new ConfigError(
      `evaluate.crossCorpus: label sets ${datasets.map((d) => d.labels).join(' and ')} share no emotion classes; use an emotion label set for both (iemocap 6class or 4class, meld meld7)`,
    );
  return { crossCorpus: true };
}

/** Everything the workflow needs, paths absolute; the hash covers what determines the outputs. */
export function toPipelineInput(config: RunConfig, baseDir: string, searchAttributes: boolean): PipelineInput {
  const stages = stagesUntil(config.until);
  const datasets: DatasetPlan[] = [];
  for (const name of DATASETS) {
    const d = config.datasets[name];
    if (!d) continue;
    const labels = d.labels ?? DEFAULT_LABELS[name];
    if (!ALLOWED_LABELS[name].includes(labels)) {
      throw new ConfigError(
        `datasets.${name}.labels: "${labels}" is not a label set of ${name} (use ${ALLOWED_LABELS[name].join(' or ')})`,
      );
    }
    datasets.push({ dataset: name, source: resolveSource(name, d.source, d.sha256, baseDir), labels });
  }
  const store =
    config.store.kind === 'local'
      ? {
          kind: 'local' as const,
          root: isAbsolute(config.store.root) ? config.store.root : resolve(baseDir, config.store.root),
        }
      : config.store;
  // Resolved (symlinks, `..`, the home folder): the schema could only check the path as written.
  const unsafeRoot = store.kind === 'local' ? localRootRefusal(store.root) : null;
  if (unsafeRoot) throw new ConfigError(`store.root: ${storeRootAdvice(unsafeRoot)}`);
  // A stage's parameters join the hash only when the run includes that stage: adding a stage to the
  // pipeline must not change the identity (workflow id) of runs that never reach it.
  const segment = stages.includes('segment') ? config.segment : undefined;
  const extract = stages.includes('extract') ? resolveExtract(config.extract, baseDir) : undefined;
  const train = stages.includes('train')
    ? { params: config.train, variants: trainVariants(config.train, config.compress) }
    : undefined;
  const compress = stages.includes('compress')
    ? { settings: vscSettings(config.compress, train?.variants) }
    : undefined;
  const evaluate = crossCorpusSetting(config, stages, datasets);
  // The hash names the data, not the credentials: a fresh link for the same file is the same run.
  const hashed = datasets.map((d) =>
    d.source.kind === 'url' ? { ...d, source: { ...d.source, url: redactUrlForLog(d.source.url) } } : d,
  );
  const configHash = contentKey({
    store,
    stages,
    datasets: hashed,
    acquire: config.acquire,
    ...(segment ? { segment } : {}),
    ...(extract ? { extract } : {}),
    // compress.chunkUtterances decides checkpointing, not outputs: the same run whatever its value.
    ...(compress ? { compress: { settings: compress.settings.map((p) => storedVscParams(p)) } } : {}),
    // parallelism is unset unless configured (the embedded run then takes the cores); hashed as its old
    // default so configs without it keep their run identity.
    ...(train
      ? {
          train: {
            ...train,
            params: { ...train.params, parallelism: train.params.parallelism ?? DEFAULT_TRAIN_PARALLELISM },
          },
        }
      : {}),
    ...(evaluate ? { evaluate } : {}),
  });
  return {
    configHash,
    name: config.name,
    store,
    stages,
    datasets,
    acquire: config.acquire,
    ...(segment ? { segment } : {}),
    ...(extract ? { extract } : {}),
    ...(compress ? { compress } : {}),
    ...(train ? { train } : {}),
    ...(evaluate ? { evaluate } : {}),
    temporal: config.temporal,
    searchAttributes,
  };
}

/**
 * Moves each URL source's query string and user info (IEMOCAP links carry an expiring token) out of
 * the workflow input: the full URL is written to the run's store under a content-addressed key and
 * the input keeps the bare URL plus that key. Only the download activity reads it, and deletes it
 * once the download is committed.
 */
export async function sealUrlSecrets(input: PipelineInput): Promise<PipelineInput> {
  const datasets: DatasetPlan[] = [];
  for (const d of input.datasets) {
    const s = d.source;
    if (s.kind !== 'url' || s.secretRef || redactUrlForLog(s.url) === s.url) {
      datasets.push(d);
      continue;
    }
    const secretRef = secretUrlKey(sha256Hex(s.url));
    await createStore(input.store).put(secretRef, JSON.stringify({ url: s.url }));
    datasets.push({ ...d, source: { ...s, url: redactUrlForLog(s.url), secretRef } });
  }
  return { ...input, datasets };
}

export function defaultStoreRoot(): string {
  return resolve(merHome(), 'store');
}

export { z };
