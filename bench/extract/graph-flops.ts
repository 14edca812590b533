/**
 * Multiply-add FLOPs (2 per MAC) of one forward pass, counted from the ONNX graph as onnxruntime ran it:
 * a profiling session (basic graph optimisations only, so matrix products stay MatMul, Gemm and Conv
 * nodes and are not fused into attention kernels) runs the feeds once, and every MatMul, Gemm and Conv
 * node's input and output shapes in the profile give its FLOPs. Works for every encoder family
 * without a per-architecture formula (flops.ts keeps the config formulas of the first three); softmax,
 * norms and activations are a few percent and not counted, as there.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ort } from '../../activities/engine/session.ts';

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: {
    op_name?: string;
    input_type_shape?: Array<Record<string, number[]>>;
    output_type_shape?: Array<Record<string, number[]>>;
  };
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const shapeOf = (s: Record<string, number[]> | undefined): number[] => (s ? (Object.values(s)[0] ?? []) : []);

/** FLOPs of one profiled node, or 0 for ops that are not matrix products or convolutions. */
export function nodeFlops(op: string, inputs: number[][], outputs: number[][]): number {
  const out = outputs[0] ?? [];
  switch (op) {
    case 'MatMul':
    case 'FusedMatMul': {
      const a = inputs[0] ?? [];
      return 2 * prod(out) * (a.at(-1) ?? 0);
    }
    case 'Gemm': {
      // A is [M, K] or, transposed, [K, M]; M is the output's first dimension either way
      const a = inputs[0] ?? [];
      return out.length ? 2 * prod(out) * (prod(a) / out[0]) : 0;
    }
    case 'Conv':
    case 'FusedConv': {
      const w = inputs[1] ?? [];
      return 2 * prod(out) * prod(w.slice(1));
    }
    default:
      return 0;
  }
}

/** FLOPs of one run of `modelPath` on `feeds`, from an onnxruntime profile of that run. */
export async function graphFlops(modelPath: string, feeds: Record<string, ort.Tensor>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mer-flops-'));
  try {
    const session = await ort.InferenceSession.create(modelPath, {
      enableProfiling: true,
      profileFilePrefix: join(dir, 'profile'),
      graphOptimizationLevel: 'basic',
      intraOpNumThreads: 1,
    });
    try {
      await session.run(feeds);
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = readdirSync(dir).find((n) => n.startsWith('profile') && n.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
    let total = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name) continue;
      total += nodeFlops(
        e.args.op_name,
        (e.args.input_type_shape ?? []).map(shapeOf),
        (e.args.output_type_shape ?? []).map(shapeOf),
      );
    }
    return total;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
