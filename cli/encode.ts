/**
 * `mer encode --model DIR (--text "..." | --audio FILE | --image FILE | --clip FILE)`: what the
 * extract stage would store for one input: the token ids (text) or the input's shape, the sequence
 * shape and the pooled vector. It is how a user checks an exported encoder before a run of hours.
 *
 * Decision: no second implementation. The input goes through the segment stage's code into a
 * throwaway store (cli/encode-input.ts), and the extract stage's ModalityRunner
 * (activities/extract/runners.ts) screens, plans and runs it as it does a shard: the pooled vector
 * printed is the one a run stores, bit for bit (test/cli/encode.test.ts compares them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ffmpegVersion } from '../activities/common/ffmpeg.ts';
import { isQuarantine } from '../activities/extract/encoder.ts';
import { readModelFolder } from '../activities/extract/model-folder.ts';
import { openRunner } from '../activities/extract/runners.ts';
import { releaseEncoderSessions } from '../activities/extract/sessions.ts';
import { TransformerTextEncoder } from '../activities/extract/text-encoder.ts';
import { SegmentTools } from '../activities/segment/tools.ts';
import { LocalStore } from '../activities/store/local.ts';
import { SegmentParamsSchema, type SegmentParams } from '../schemas/config.ts';
import { encoderFamily } from '../schemas/encoder-families.ts';
import { ExtractParamsSchema, type ExtractParams, type Modality } from '../schemas/extract.ts';
import type { FeatureRow } from '../schemas/features.ts';
import { OnnxRuntimeSettingsSchema } from '../schemas/runtime.ts';
import { ConfigError, loadConfigFile } from './config.ts';
import { prepareInput, UTTERANCE_ID, type EncodeSource, type PreparedInput } from './encode-input.ts';
import { article, modalityOfModelType, readFolderModelType, supportedList } from './model-type.ts';

export interface EncodeFlags {
  model: string;
  text?: string;
  audio?: string;
  image?: string;
  clip?: string;
  /** Previous utterances of the dialogue, oldest first (text). */
  context?: string[];
  /** A run config whose `segment` and `extract` settings apply (default: the defaults). */
  config?: string;
  device?: 'cpu' | 'cuda';
  threads?: number;
  json?: boolean;
}

export interface EncodeResult {
  family: string;
  modelType: string;
  modality: Modality;
  /** Absolute path of the model folder and its fingerprint (the extract cache key's model hash). */
  model: { dir: string; sha256: string };
  /** text: token ids and where the utterance starts; audio/visual: what the segment stage cut. */
  inputs: Record<string, unknown>;
  status: 'ok' | 'quarantined';
  reason: string | null;
  /** [steps, tokens, dim] of the stored sequence (float16), or null when quarantined. */
  sequenceShape: [number, number, number] | null;
  /** The stored pooled vector (float32), or null when quarantined. */
  pooled: number[] | null;
  flags: string[];
}

const ACCEPTS: Record<Modality, Array<EncodeSource['kind']>> = {
  text: ['text'],
  audio: ['audio', 'clip'],
  visual: ['image', 'clip'],
};

/** The one input flag given, as a source; paths absolute. */
function sourceOf(o: EncodeFlags): EncodeSource {
  const given = (['text', 'audio', 'image', 'clip'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1)
    throw new ConfigError(
      `give exactly one input: --text "<words>", --audio FILE.wav, --image FILE or --clip FILE.mp4${given.length ? ` (got ${given.map((g) => `--${g}`).join(', ')})` : ''}`,
    );
  if (o.context?.length && given[0] !== 'text') throw new ConfigError('--context is dialogue context for --text');
  const kind = given[0];
  if (kind === 'text') return { kind, text: o.text!, context: o.context ?? [] };
  return { kind, path: resolve(o[kind]!) };
}

/** `--config`: the segment and extract settings of a run config, or the defaults. */
function settings(o: EncodeFlags): { segment: SegmentParams; extract: ExtractParams } {
  if (!o.config) return { segment: SegmentParamsSchema.parse({}), extract: ExtractParamsSchema.parse({}) };
  const c = loadConfigFile(resolve(o.config));
  return { segment: c.segment, extract: c.extract };
}

/** Encodes one input with the extract stage's runner; nothing is kept. */
export async function encodeOne(o: EncodeFlags): Promise<EncodeResult> {
  const dir = resolve(o.model);
  const found = readFolderModelType(dir, '--model');
  if (!found) throw new ConfigError(`--model: ${dir} does not exist`);
  const modality = modalityOfModelType(found.modelType);
  if (!modality)
    throw new ConfigError(
      `--model: ${found.file}: model_type '${found.modelType}' is not an encoder family the extract stage supports (${supportedList()})`,
    );
  const source = sourceOf(o);
  if (!ACCEPTS[modality].includes(source.kind))
    throw new ConfigError(
      `--${source.kind}: ${dir} is ${article(modality)} encoder (${encoderFamily(modality, found.modelType)}); it takes ${ACCEPTS[modality].map((k) => `--${k}`).join(' or ')}`,
    );
  const { segment, extract } = settings(o);
  // what the worker reads: the folder with the run's onnx file name, and its text settings
  const folder = await readModelFolder(modality, dir, extract[modality].file);
  const text =
    source.kind === 'text' ? { ...extract.text, contextUtterances: source.context.length } : { ...extract.text };
  const runtime = OnnxRuntimeSettingsSchema.parse({
    device: o.device ?? 'cpu',
    ...(o.threads ? { threads: o.threads } : {}),
  });

  const root = await mkdtemp(join(tmpdir(), 'mer-encode-'));
  try {
    const store = new LocalStore(root);
    const tools = await SegmentTools.create(await ffmpegVersion());
    const prepared = await prepareInput(source, modality, segment, tools, store);
    const runner = await openRunner({
      modality,
      folder,
      runtime,
      store,
      text,
      audio: extract.audio,
      visual: extract.visual,
      ...(source.kind === 'text'
        ? {
            manifestKey: 'mer encode --text',
            texts: {
              text: (id) => (id === UTTERANCE_ID ? source.text : undefined),
              context: (_id, k) => (k > 0 ? source.context.slice(-k) : []),
            },
          }
        : {}),
    });
    const reason = runner.screen(prepared.row);
    let row: FeatureRow | null = null;
    if (reason === null) row = (await runner.run(runner.plan([prepared.row])[0]))[0];
    const inputs =
      source.kind === 'text' ? await textInputs(folder, runtime, source, text) : mediaInputs(source, prepared);
    const ok = row?.status === 'ok';
    return {
      family: encoderFamily(modality, found.modelType)!,
      modelType: found.modelType,
      modality,
      model: { dir: folder.dir, sha256: folder.sha256 },
      inputs,
      status: ok ? 'ok' : 'quarantined',
      reason: ok ? null : (row?.reason ?? reason),
      sequenceShape: ok ? [row!.seqSteps!, row!.seqTokens!, row!.seqDim!] : null,
      pooled: ok ? Array.from(row!.pooled!) : null,
      flags: [...new Set([...prepared.media.flags, ...(row?.flags ?? [])])].sort(),
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The token ids the runner feeds: the text encoder's own preparation, with the run's token limit. */
async function textInputs(
  folder: Awaited<ReturnType<typeof readModelFolder>>,
  runtime: ReturnType<typeof OnnxRuntimeSettingsSchema.parse>,
  source: Extract<EncodeSource, { kind: 'text' }>,
  text: ExtractParams['text'],
): Promise<Record<string, unknown>> {
  const enc = await TransformerTextEncoder.open(folder, runtime);
  const p = enc.prepare(source.text, source.context.slice(-text.contextUtterances), text.maxTokens);
  if (isQuarantine(p)) return { text: source.text, context: source.context, tokenIds: [] };
  return {
    text: source.text,
    context: source.context,
    tokenIds: p.ids,
    utteranceTokenStart: p.utteranceStart,
    maxTokens: text.maxTokens,
  };
}

function mediaInputs(source: Exclude<EncodeSource, { kind: 'text' }>, p: PreparedInput): Record<string, unknown> {
  const out: Record<string, unknown> = { [source.kind]: source.path };
  if (p.row.samples !== null && p.row.audioKey)
    Object.assign(out, { sampleRate: p.row.sampleRate, samples: p.row.samples, shape: [p.row.samples] });
  if (p.row.frameCount !== null && p.row.framesKey)
    Object.assign(out, { frames: p.row.frameCount, shape: [p.row.frameCount, p.row.frameHeight, p.row.frameWidth, 3] });
  return out;
}

/** Human-readable lines; the pooled vector in full, six significant digits. */
export function renderEncode(r: EncodeResult): string[] {
  const lines = [
    `model     ${r.model.dir}`,
    `family    ${r.family} (model_type ${r.modelType}, ${r.modality} encoder)`,
  ];
  const i = r.inputs;
  if (r.modality === 'text') {
    const ids = i.tokenIds as number[];
    const start = i.utteranceTokenStart as number | undefined;
    lines.push(`tokens    ${ids.length} ids, the utterance from position ${start ?? '-'}`);
    lines.push(`token ids ${ids.join(' ')}`);
  } else
    lines.push(
      `input     ${JSON.stringify(i.shape ?? null)} (${typeof i.sampleRate === 'number' ? `${i.sampleRate} Hz samples` : 'frames x 224 x 224 x RGB'})`,
    );
  if (r.flags.length) lines.push(`flags     ${r.flags.join(', ')}`);
  if (r.status !== 'ok') {
    lines.push(`quarantined: ${r.reason}`);
    return lines;
  }
  const [steps, tokens, dim] = r.sequenceShape!;
  lines.push(`sequence  ${steps} x ${tokens} x ${dim} (steps x tokens x dim, stored as float16)`);
  lines.push(`pooled    ${r.pooled!.length} values (float32):`);
  const vals = r.pooled!.map((v) => v.toPrecision(6));
  for (let k = 0; k < vals.length; k += 8) lines.push(`  ${vals.slice(k, k + 8).join(' ')}`);
  return lines;
}

export async function runEncode(o: EncodeFlags): Promise<void> {
  try {
    const r = await encodeOne(o);
    if (o.json) {
      const { family, modelType, modality, model, inputs, status, reason, sequenceShape, pooled, flags } = r;
      console.log(
        JSON.stringify({ family, modelType, modality, model, inputs, status, reason, sequenceShape, flags, pooled }),
      );
    } else for (const l of renderEncode(r)) console.log(l);
    if (r.status !== 'ok') process.exitCode = 1;
  } finally {
    await releaseEncoderSessions();
  }
}
