import { z } from 'zod';

/**
 * Parameters of the extract stage: which encoder folders to run and how to prepare their inputs.
 * Everything here that changes the features is part of their cache key; how they are computed
 * (execution provider, threads) is a worker setting (schemas/runtime.ts) and is not.
 */
export const EXTRACT_MODALITIES = ['text', 'audio', 'visual'] as const;
export type Modality = (typeof EXTRACT_MODALITIES)[number];
export const ModalitySchema = z.enum(EXTRACT_MODALITIES);

/** An encoder in the Hugging Face folder layout: config.json, tokenizer or preprocessor config, onnx/model.onnx. */
const modelFolder = z
  .string({ error: 'model must be the path of a model folder on the worker' })
  .min(1, 'model must name a folder');
const onnxFile = z
  .string()
  .min(1)
  .refine((s) => !s.startsWith('/') && !s.split('/').includes('..'), {
    message: 'file is relative to the model folder',
  })
  .default('onnx/model.onnx');

export const TEXT_POOLINGS = ['mean', 'first'] as const;
export type TextPooling = (typeof TEXT_POOLINGS)[number];

export const TextEncoderParamsSchema = z.strictObject({
  model: modelFolder.default('.mer/models/bert-base-uncased'),
  file: onnxFile,
  /** Utterances per batch; padded to the longest in the batch (BERT attends only to real tokens). */
  batchSize: z.int().min(1).max(1024).default(16),
  /** Previous utterances of the dialogue prepended as context (sequence A). */
  contextUtterances: z.int().min(0).max(32).default(0),
  maxTokens: z.int().min(8).max(512).default(128),
  /** The pooled vector: mean over the utterance's own tokens, or the first token (CLS / <s>). */
  pooling: z.enum(TEXT_POOLINGS).default('mean'),
});

export const AudioEncoderParamsSchema = z.strictObject({
  model: modelFolder.default('.mer/models/wav2vec2-base'),
  file: onnxFile,
  /** Utterances per batch; padded only where the family masks padding exactly, else equal lengths (extract README). */
  batchSize: z.int().min(1).max(256).default(4),
  /** Longer utterances are cut to their first maxSeconds and flagged `audio_truncated`. */
  maxSeconds: z.number().positive().max(120).default(15),
});

export const VisualEncoderParamsSchema = z.strictObject({
  model: modelFolder.default('.mer/models/swin-tiny-patch4-window7-224'),
  file: onnxFile,
  /** Frames per inference call; whole utterances are grouped up to this many frames. */
  batchFrames: z.int().min(1).max(1024).default(32),
  /**
   * The pooled vector: 'mean' (absent) over frames and patch tokens, or 'cls', the mean over frames of
   * the CLS token (ViT, CLIP, DINOv2; Swin has none and is refused). Optional without a default, so
   * configs that leave it out keep their config hash and features key.
   */
  pooling: z.enum(['mean', 'cls']).optional(),
  /** Average-pool each frame's patch grid to poolGrid x poolGrid tokens before caching (absent: the family's grid). */
  poolGrid: z.int().min(1).max(64).optional(),
});

export const ExtractParamsSchema = z.strictObject({
  text: TextEncoderParamsSchema.default(TextEncoderParamsSchema.parse({})),
  audio: AudioEncoderParamsSchema.default(AudioEncoderParamsSchema.parse({})),
  visual: VisualEncoderParamsSchema.default(VisualEncoderParamsSchema.parse({})),
});

export type TextEncoderParams = z.infer<typeof TextEncoderParamsSchema>;
export type AudioEncoderParams = z.infer<typeof AudioEncoderParamsSchema>;
export type VisualEncoderParams = z.infer<typeof VisualEncoderParamsSchema>;
export type ExtractParams = z.infer<typeof ExtractParamsSchema>;
