/**
 * The encoders' identity for the report's provenance (issue 17): each modality's family, model_type
 * and file hashes, read from the extract stage's report.json beside its features. A report written
 * before the stage recorded them (or unreadable as such) gives null for that modality: the folder
 * fingerprint in `provenance.encoders` still names the model.
 */
import { z } from 'zod';
import type { ModalityFeaturesResult } from '../../schemas/config.ts';
import type { Modality } from '../../schemas/extract.ts';
import { EncoderIdentitySchema, type EncoderIdentity } from '../../schemas/report.ts';
import type { ObjectStore } from '../store/types.ts';

const ExtractReportEncoderSchema = z.object({ encoder: EncoderIdentitySchema.nullable().optional() });

async function identity(store: ObjectStore, reportKey: string): Promise<EncoderIdentity | null> {
  const parsed = ExtractReportEncoderSchema.safeParse(JSON.parse((await store.get(reportKey)).toString('utf8')));
  return parsed.success ? (parsed.data.encoder ?? null) : null;
}

export async function encoderModels(
  store: ObjectStore,
  modalities: Record<Modality, Pick<ModalityFeaturesResult, 'reportKey'>>,
): Promise<Record<Modality, EncoderIdentity | null>> {
  return {
    text: await identity(store, modalities.text.reportKey),
    audio: await identity(store, modalities.audio.reportKey),
    visual: await identity(store, modalities.visual.reportKey),
  };
}

/** `RoBERTa (roberta)` for the report's provenance table, or `unknown` for an older extract output. */
export function encoderLabel(e: EncoderIdentity | null | undefined): string {
  return e ? `${e.family} (${e.modelType})` : 'unknown';
}

/** The provenance table's row naming the families; none for a report without them. */
export function encoderRows(models: Partial<Record<Modality, EncoderIdentity | null>> | undefined): [string, string][] {
  if (!models) return [];
  const m = (k: Modality) => `${k} ${encoderLabel(models[k])}`;
  return [['encoder families', `${m('text')}, ${m('audio')}, ${m('visual')}`]];
}
