/**
 * Slices of a report's variants from the store: the manifest (for speaker, gender, interaction,
 * dialogue and times) and each variant's pooled predictions, which evaluateVariant has just written
 * under the report (read back rather than carried, so the variant step's shape is unchanged).
 */
import { arrowTableToRows } from '../../../schemas/manifest.ts';
import type { Slices } from '../../../schemas/slices.ts';
import { ErrorTypes, MerError } from '../../common/errors.ts';
import { parquetToTable } from '../../common/parquet.ts';
import type { ObjectStore } from '../../store/types.ts';
import { parquetToPredictions } from '../../train/predictions.ts';
import { computeSlices, type Modality, type SliceOptions } from './compute.ts';

export async function storedSlices(
  store: ObjectStore,
  manifestKey: string,
  variants: readonly { name: string; modalities: readonly Modality[]; predictionsKey: string }[],
  classes: readonly string[],
  opts: SliceOptions = {},
): Promise<Slices> {
  const manifest = arrowTableToRows(parquetToTable(await store.get(manifestKey)));
  const inputs = [];
  for (const v of variants) {
    const p = parquetToPredictions(await store.get(v.predictionsKey), v.predictionsKey);
    inputs.push({
      name: v.name,
      modalities: v.modalities,
      utteranceIds: p.utteranceIds,
      labels: p.labels,
      predicted: p.predicted,
    });
  }
  try {
    return computeSlices({ classes, manifest, variants: inputs }, opts);
  } catch (err) {
    // The predictions and the manifest are the pipeline's own outputs: a mismatch reads the same on a retry.
    throw new MerError(ErrorTypes.OutputInvalid, `evaluate: slices of ${manifestKey}: ${(err as Error).message}`, {
      manifestKey,
    });
  }
}
