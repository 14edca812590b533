/**
 * A config file's `sweep:` section -> the MerSweep input: every setting applied to the config and
 * validated by the run config schema itself, each turned into the pipeline input `mer run` would
 * start, plus the runs through compress that prepare the settings' shared outputs.
 *
 * Decision record: settings are applied to the validated config (defaults filled in) and validated
 * again, so an invalid value is reported as the run config would report it, prefixed with the
 * setting and pointing at the value's line in the sweep section. Two settings that give the same run
 * (same config hash) are refused: they would be one run reported twice.
 */
import { contentKey } from '../../activities/common/hash.ts';
import { redactUrlForLog } from '../../activities/common/redact.ts';
import { storedVscParams } from '../../activities/compress/key.ts';
import { STAGES, RunConfigSchema, type PipelineInput, type RunConfig } from '../../schemas/config.ts';
import { describeZodError } from '../../schemas/issues.ts';
import {
  expandSweep,
  sweptKeys,
  type SweepInput,
  type SweepSetting,
  type SweepSettingRun,
  type SweepValue,
} from '../../schemas/sweep.ts';
import { buildRunConfig, ConfigError, readConfigDocument, toPipelineInput, type RunOverrides } from '../config.ts';

/** What MerSweep needs besides how many settings run at once and the server's search attributes. */
export type SweepPlan = Omit<SweepInput, 'parallelism' | 'searchAttributes'> & { parallelism?: number };

const COMPRESS_INDEX = STAGES.indexOf('compress');

/** Reads, validates and expands a sweep config file; errors name the file, line, setting and key. */
export function buildSweep(file: string, overrides: RunOverrides = {}): SweepPlan {
  const { config, baseDir } = buildRunConfig(file, overrides);
  const { sweep, ...base } = config;
  if (!sweep)
    throw new ConfigError(
      `${file}: no sweep: section; add one (grid or list of settings, cli/README.md#sweeps) or use mer run`,
    );
  const stages = STAGES.slice(0, STAGES.indexOf(base.until as (typeof STAGES)[number]) + 1);
  if (!stages.includes('train'))
    throw new ConfigError(
      `${file}: until: ${base.until}: a sweep selects its setting on the validation split, so its runs must reach train (until: train or evaluate)`,
    );
  const { lineOfPath } = readConfigDocument(file);
  const settings = expandSweep(sweep);
  const mode = sweep.grid ? 'grid' : 'list';
  const runs: SweepSettingRun[] = settings.map((s) => {
    const where = (key: string) => (mode === 'grid' ? ['sweep', 'grid', key] : ['sweep', 'list', s.index, key]);
    const prefix = `sweep setting ${s.index + 1} (${s.label})`;
    const parsed = RunConfigSchema.safeParse(applySetting(base, s));
    if (!parsed.success) {
      // A field the setting changed is reported at the value's line in the sweep section.
      const lineOf = (path: PropertyKey[]) => {
        const key = path.map(String).join('.');
        const swept = Object.keys(s.values).find((k) => key === k || key.startsWith(`${k}.`));
        return lineOfPath(swept ? where(swept) : path);
      };
      throw new ConfigError(
        describeZodError(file, parsed.error, lineOf)
          .split('\n')
          .map((l) => l.replace(/: field /, `: ${prefix}: field `))
          .join('\n'),
      );
    }
    let input: PipelineInput;
    try {
      input = toPipelineInput(parsed.data, baseDir, false);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${file}: ${prefix}: ${err.message}`);
      throw err;
    }
    return { ...s, input };
  });
  const byHash = new Map<string, SweepSetting>();
  for (const r of runs) {
    const same = byHash.get(r.input.configHash);
    if (same)
      throw new ConfigError(
        `${file}: sweep settings ${same.index + 1} (${same.label}) and ${r.index + 1} (${r.label}) are the same run (config ${r.input.configHash}); drop one`,
      );
    byHash.set(r.input.configHash, r);
  }
  return {
    sweepKey: contentKey({ mode, settings: runs.map((r) => ({ values: r.values, configHash: r.input.configHash })) }),
    ...(base.name ? { name: base.name } : {}),
    store: runs[0].input.store,
    mode,
    keys: sweptKeys(settings),
    settings: runs,
    ...prepareRuns(runs.map((r) => r.input)),
    ...(sweep.parallelism ? { parallelism: sweep.parallelism } : {}),
    temporal: runs[0].input.temporal,
  };
}

/** The config with one setting's values in place (dotted keys into nested sections). */
export function applySetting(config: Omit<RunConfig, 'sweep'>, setting: Pick<SweepSetting, 'values'>): unknown {
  const out = structuredClone(config) as Record<string, unknown>;
  for (const [key, value] of Object.entries(setting.values)) setPath(out, key.split('.'), value);
  return out;
}

function setPath(obj: Record<string, unknown>, path: string[], value: SweepValue): void {
  let node = obj;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    node = (node[part] = next && typeof next === 'object' ? next : {}) as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

/**
 * One run through compress per distinct input of the stages before train, in order of first use:
 * run one after the other before the settings, they compute every output settings share once
 * (a sweep over train.lr has one; over compress.topK, one per value, the later ones reusing the
 * first one's features).
 */
export function prepareRuns(inputs: readonly PipelineInput[]): { prepare: PipelineInput[]; prepareOf: number[] } {
  const out = new Map<string, PipelineInput>();
  const prepareOf: number[] = [];
  for (const input of inputs) {
    const stages = input.stages.filter((s) => STAGES.indexOf(s) <= COMPRESS_INDEX);
    const { train: _train, configHash: _hash, ...rest } = input;
    const upstream = {
      store: input.store,
      stages,
      // As the config hash does: the data, not a link's token.
      datasets: input.datasets.map((d) =>
        d.source.kind === 'url' ? { ...d, source: { ...d.source, url: redactUrlForLog(d.source.url) } } : d,
      ),
      acquire: input.acquire,
      segment: input.segment,
      extract: input.extract,
      compress: input.compress && { settings: input.compress.settings.map((p) => storedVscParams(p)) },
    };
    const configHash = contentKey({ prepare: upstream });
    if (!out.has(configHash)) out.set(configHash, { ...rest, stages, configHash });
    prepareOf.push([...out.keys()].indexOf(configHash));
  }
  return { prepare: [...out.values()], prepareOf };
}
