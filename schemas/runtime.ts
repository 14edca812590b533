import { z } from 'zod';

/**
 * How a worker runs onnxruntime sessions (from `mer worker --device`): the encoders of extract and
 * `mer predict`, and training. It decides where a graph runs, never what it computes, so it is never
 * part of a cache key.
 */
export const OnnxRuntimeSettingsSchema = z.strictObject({
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  deviceId: z.int().min(0).default(0),
  /** Intra-op threads per session; 0 = onnxruntime's default (one per physical core). */
  threads: z.int().min(0).default(0),
  graphOptimization: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
});
export type OnnxRuntimeSettings = z.infer<typeof OnnxRuntimeSettingsSchema>;
