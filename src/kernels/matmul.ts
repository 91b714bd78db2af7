/**
 * Batched matrix product C[b] = act(op(A[b]) @ op(B[b]) + bias) on row-major f32 tensors, where
 * op transposes when asked: transA reads A stored [..., K, M] as its transpose, transB reads B
 * stored [..., N, K] (PyTorch's Linear weight [out, in]: x @ W^T is the layer's forward, dY @ W
 * and dY^T @ X its backward), without copies. A or B without batch dimensions is shared by all
 * batches; bias: [N]. With `accumulate` the result is added to `out`'s contents.
 * The vec4 kernel (matmul.wgsl) serves untransposed K and N divisible by 4; every other case runs
 * matmul_any.wgsl, which reads both operands through strides. `sumRows` (column sums, the bias
 * gradient) is matmul_any's second entry.
 */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor, numel } from '../tensor.js';
import { ceilDiv, grid1d } from './grid.js';

/** Rows per invocation of matmul.wgsl (its `TM`). */
const TM_VEC4 = 16;

export type Activation = 'none' | 'swish';
const ACT = { none: 0, swish: 1 } as const;

export interface MatmulOptions {
  bias?: Tensor;
  act?: Activation;
  /** Where to write C (must not share a buffer with A, B or bias). */
  out?: Tensor;
  /** A is stored [..., K, M]: use its transpose. */
  transA?: boolean;
  /** B is stored [..., N, K]: use its transpose. */
  transB?: boolean;
  /** out += act(op(A) @ op(B) + bias) instead of out = ...; needs `out`. */
  accumulate?: boolean;
}

/** Kernel choice and tile geometry (exported for benchmarks and tests). */
export function matmulPlan(M: number, N: number, K: number, transposed = false) {
  if (!transposed && K % 4 === 0 && N % 4 === 0) {
    const WG = 64;
    return { shader: 'matmul' as const, WG, workgroups: [ceilDiv(N / 4, 2 * WG), ceilDiv(M, TM_VEC4)] as const };
  }
  const WG = 64;
  return { shader: 'matmul_any' as const, WG, workgroups: [ceilDiv(N, 4 * WG), ceilDiv(M, 4)] as const };
}

/** The element strides of op(X)'s rows and columns for X stored row-major with `cols` columns. */
function strides(cols: number, trans: boolean): { row: number; col: number } {
  return trans ? { row: 1, col: cols } : { row: cols, col: 1 };
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const gpu: Gpu = a.gpu;
  const what = () => `[${a.shape}]${opts.transA ? '^T' : ''} @ [${b.shape}]${opts.transB ? '^T' : ''}`;
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul needs matrices, got ${what()}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = opts.transA ? [ac, ar] : [ar, ac];
  const [K2, N] = opts.transB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error(`matmul inner dimensions differ: ${what()}`);
  const aBatch = numel(a.shape.slice(0, -2));
  const bBatch = numel(b.shape.slice(0, -2));
  const batch = Math.max(aBatch, bBatch);
  if ((aBatch !== 1 && aBatch !== batch) || (bBatch !== 1 && bBatch !== batch)) {
    throw new Error(`matmul batch sizes differ: ${what()}`);
  }
  const batchShape = (aBatch >= bBatch ? a.shape : b.shape).slice(0, -2);
  const bias = opts.bias;
  if (bias && bias.size !== N) throw new Error(`matmul bias has ${bias.size} values, expected ${N} for ${what()}`);
  if (opts.accumulate && !opts.out) throw new Error(`matmul: accumulate needs an out tensor (${what()})`);
  const out = opts.out ?? Tensor.empty(gpu, [...batchShape, M, N], 'matmul');
  if (out.size !== batch * M * N) throw new Error(`matmul output [${out.shape}] does not hold [${batch}, ${M}, ${N}] for ${what()}`);
  if ([a, b, bias].some((t) => t && t.buffer === out.buffer)) throw new Error(`matmul: the output must not share a buffer with an input (${what()})`);
  if (M === 0 || N === 0) return out;

  const transposed = !!(opts.transA || opts.transB);
  const plan = matmulPlan(M, N, K, transposed);
  const common = {
    M,
    N,
    K,
    a_batch: aBatch === 1 ? 0 : M * K,
    b_batch: bBatch === 1 ? 0 : K * N,
    has_bias: bias ? 1 : 0,
    act: ACT[opts.act ?? 'none'],
    accumulate: opts.accumulate ? 1 : 0,
  };
  const sa = strides(ac, !!opts.transA);
  const sb = strides(bc, !!opts.transB);
  gpu.dispatch({
    shader: plan.shader,
    overrides: { WG: plan.WG },
    params: plan.shader === 'matmul' ? common : { ...common, a_row: sa.row, a_col: sa.col, b_row: sb.row, b_col: sb.col },
    // Without a bias the kernel never reads binding 3; any buffer satisfies the layout.
    buffers: [a.binding, b.binding, (bias ?? b).binding, out.binding],
    workgroups: [plan.workgroups[0], plan.workgroups[1], batch],
    label: `${plan.shader}${opts.transA ? '.tA' : ''}${opts.transB ? '.tB' : ''}`,
  });
  return out;
}

/**
 * Column sums: x [..., N] (all leading dimensions as rows) -> [N], each summed from the first
 * row to the last (the bias gradient of a fully connected layer: dY [batch, out] -> [out]).
 * Writes into `out` when given (N values, not sharing x's buffer).
 */
export function sumRows(x: Tensor, out?: Tensor): Tensor {
  if (x.shape.length < 1) throw new Error(`sumRows needs [..., N], got [${x.shape}]`);
  const N = x.shape[x.shape.length - 1];
  const M = numel(x.shape.slice(0, -1));
  const dst = out ?? Tensor.empty(x.gpu, [N], 'sum_rows');
  if (dst.size !== N) throw new Error(`sumRows: output [${dst.shape}] does not hold the ${N} column sums of [${x.shape}]`);
  if (dst.buffer === x.buffer) throw new Error(`sumRows: the output must not share a buffer with x [${x.shape}]`);
  if (N === 0) return dst;
  const WG = 64;
  const grid = grid1d(N, WG, x.gpu.limits.maxComputeWorkgroupsPerDimension);
  x.gpu.dispatch({
    shader: 'matmul_any',
    entry: 'sum_rows',
    overrides: { WG },
    params: { M, N, K: 0, a_batch: 0, b_batch: 0, a_row: N, a_col: 1, b_row: 0, b_col: 0, has_bias: 0, act: 0, accumulate: 0 },
    buffers: [x.binding, x.binding, x.binding, dst.binding],
    workgroups: grid.workgroups,
    label: 'sum_rows',
  });
  return dst;
}
