/** Elementwise ops: add and mul, with repetition broadcasting of the second operand. */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor, type Shape } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

/**
 * How `b` repeats over `a`: b's shape must equal a trailing-aligned sub-shape of a's, where it
 * matches a contiguous run of a's dimensions and is 1 (or absent) elsewhere: a scalar, equal
 * shapes, or a per-channel [C, 1, 1] against [N, C, H, W].
 */
export function repetition(a: Shape, b: Shape): { inner: number; size: number } {
  const bs = [...b];
  while (bs.length < a.length) bs.unshift(1);
  if (bs.length > a.length) throw new Error(`cannot broadcast [${b}] to [${a}]`);
  const nonOne = bs.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  if (!nonOne.length) return { inner: 1, size: 1 };
  const first = nonOne[0];
  const last = nonOne[nonOne.length - 1];
  for (let i = first; i <= last; i++) {
    if (bs[i] !== a[i]) throw new Error(`cannot broadcast [${b}] to [${a}]`);
  }
  const inner = a.slice(last + 1).reduce((x, y) => x * y, 1);
  const size = a.slice(first, last + 1).reduce((x, y) => x * y, 1);
  return { inner, size };
}

function run(gpu: Gpu, entry: string, a: Tensor, b: Tensor, inner: number, size: number, out?: Tensor): Tensor {
  const y = out ?? Tensor.empty(gpu, a.shape, entry);
  if (y.size !== a.size) throw new Error(`${entry}: output [${y.shape}] does not match [${a.shape}]`);
  // WebGPU forbids binding one buffer as read-only and writable storage in the same dispatch.
  if (y.buffer === a.buffer || y.buffer === b.buffer) throw new Error(`${entry}: the output must not alias an input`);
  const g = grid1d(a.size, WG, gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    shader: 'elementwise',
    entry,
    params: { n: a.size, b_inner: inner, b_size: size, row: g.row },
    buffers: [a.binding, b.binding, y.binding],
    workgroups: g.workgroups,
  });
  return y;
}

export function add(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  const r = repetition(a.shape, b.shape);
  return run(a.gpu, 'add', a, b, r.inner, r.size, out);
}

export function mul(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  const r = repetition(a.shape, b.shape);
  return run(a.gpu, 'mul', a, b, r.inner, r.size, out);
}
