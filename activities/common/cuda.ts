import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The CUDA provider libraries that `ONNXRUNTIME_NODE_INSTALL=cuda12` puts beside the binding. Without
 * them onnxruntime would fail anyway, after printing a native error; checking first keeps the
 * fallback to one clear warning.
 */
export function cudaLibrariesMissing(): string | null {
  if (process.platform !== 'linux') return null;
  const bin = join(
    dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  const missing = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'].filter(
    (f) => !existsSync(join(bin, f)),
  );
  return missing.length ? `${missing.join(' and ')} not installed in ${bin}` : null;
}
