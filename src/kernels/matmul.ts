/**
 * Batched matrix product C[b] = act(A[b] @ B[b] + bias) on row-major f32 tensors.
 * A: [..., M, K] (or [M, K], shared by all batches), B: [..., K, N] (or [K, N]), bias: [N].
 * The vec4 kernel (matmul.wgsl) serves K and N divisible by 4; any other shape runs matmul_any.wgsl.
 */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor, numel } from '../tensor.js';
import { ceilDiv } from './grid.js';

/** Rows per invocation of matmul.wgsl (its `TM`). */
const TM_VEC4 = 16;

export type Activation = 'none' | 'swish' | 'sigmoid';
const ACT = { none: 0, swish: 1, sigmoid: 2 } as const;

export interface MatmulOptions {
  bias?: Tensor;
  act?: Activation;
  out?: Tensor;
}

/** Kernel choice and tile geometry (exported for benchmarks and tests). */
export function matmulPlan(M: number, N: number, K: number) {
  if (K % 4 === 0 && N % 4 === 0) {
    const WG = 64;
    return { shader: 'matmul' as const, WG, workgroups: [ceilDiv(N / 4, 2 * WG), ceilDiv(M, TM_VEC4)] as const };
  }
  const WG = 64;
  return { shader: 'matmul_any' as const, WG, workgroups: [ceilDiv(N, 4 * WG), ceilDiv(M, 4)] as const };
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const gpu: Gpu = a.gpu;
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul needs matrices, got [${a.shape}] @ [${b.shape}]`);
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2) throw new Error(`matmul inner dimensions differ: [${a.shape}] @ [${b.shape}]`);
  const aBatch = numel(a.shape.slice(0, -2));
  const bBatch = numel(b.shape.slice(0, -2));
  const batch = Math.max(aBatch, bBatch);
  if ((aBatch !== 1 && aBatch !== batch) || (bBatch !== 1 && bBatch !== batch)) {
    throw new Error(`matmul batch sizes differ: [${a.shape}] @ [${b.shape}]`);
  }
  const batchShape = (aBatch >= bBatch ? a.shape : b.shape).slice(0, -2);
  const bias = opts.bias;
  if (bias && bias.size !== N) throw new Error(`matmul bias has ${bias.size} values, expected ${N}`);
  const out = opts.out ?? Tensor.empty(gpu, [...batchShape, M, N], 'matmul');
  if (out.size !== batch * M * N) throw new Error(`matmul output [${out.shape}] does not hold [${batch}, ${M}, ${N}]`);
  if (M === 0 || N === 0) return out;

  const plan = matmulPlan(M, N, K);
  gpu.dispatch({
    shader: plan.shader,
    overrides: { WG: plan.WG },
    params: {
      M,
      N,
      K,
      a_batch: aBatch === 1 ? 0 : M * K,
      b_batch: bBatch === 1 ? 0 : K * N,
      has_bias: bias ? 1 : 0,
      act: ACT[opts.act ?? 'none'],
    },
    // Without a bias the kernel never reads binding 3; any buffer satisfies the layout.
    buffers: [a.binding, b.binding, (bias ?? b).binding, out.binding],
    workgroups: [plan.workgroups[0], plan.workgroups[1], batch],
    label: `${plan.shader}`,
  });
  return out;
}
