import type { Modality } from './extract.ts';

/**
 * The encoder families the extract stage supports, by the `model_type` of the model folder's
 * config.json: the one list that the config check (a model folder refused at config time), the model
 * folder reader (refused again on the worker, where the folder really is) and reports read. Pure data,
 * so the CLI and workflows may import it.
 *
 * Sentence-transformers exports of MiniLM are `bert`; a CLIPVisionModel export is `clip_vision_model`.
 */
export const ENCODER_FAMILIES = {
  text: {
    bert: 'BERT',
    mpnet: 'MPNet',
    roberta: 'RoBERTa',
    'xlm-roberta': 'XLM-R',
    'deberta-v2': 'DeBERTa-v2/v3',
    electra: 'ELECTRA',
  },
  audio: {
    wav2vec2: 'wav2vec2',
    hubert: 'HuBERT',
    wavlm: 'WavLM',
    'data2vec-audio': 'data2vec-audio',
    whisper: 'Whisper encoder',
  },
  visual: {
    swin: 'Swin',
    vit: 'ViT',
    clip_vision_model: 'CLIP vision tower',
    dinov2: 'DINOv2',
    dinov2_with_registers: 'DINOv2 with registers',
  },
} as const satisfies Record<Modality, Record<string, string>>;

export type TextModelType = keyof (typeof ENCODER_FAMILIES)['text'];
export type AudioModelType = keyof (typeof ENCODER_FAMILIES)['audio'];
export type VisualModelType = keyof (typeof ENCODER_FAMILIES)['visual'];

/** The model_type values supported for a modality, in the order above. */
export function supportedModelTypes(modality: Modality): string[] {
  return Object.keys(ENCODER_FAMILIES[modality]);
}

/** The family's display name, or undefined when the model_type is not supported for the modality. */
export function encoderFamily(modality: Modality, modelType: string): string | undefined {
  const families: Record<string, string> = ENCODER_FAMILIES[modality];
  return Object.hasOwn(families, modelType) ? families[modelType] : undefined;
}
