/** Sum, min and max over the last axis, or over all elements (in chunks, then over the partials). */
import { Tensor } from '../tensor.js';

export type ReduceOp = 'sum' | 'min' | 'max';
const ENTRY = { sum: 'sum', min: 'min_op', max: 'max_op' } as const;
const CHUNK = 4096;

function reduceRows(x: Tensor, op: ReduceOp, n: number, out: Tensor): Tensor {
  const rows = Math.ceil(x.size / n);
  const maxDim = x.gpu.limits.maxComputeWorkgroupsPerDimension;
  const gy = Math.ceil(rows / maxDim);
  const gx = Math.ceil(rows / gy);
  x.gpu.dispatch({
    shader: 'reduce',
    entry: ENTRY[op],
    params: { n, rows, total: x.size, grid_x: gx },
    buffers: [x.binding, out.binding],
    workgroups: [gx, gy],
  });
  return out;
}

/** op over the last axis: [..., n] -> [...]. */
export function reduceLast(x: Tensor, op: ReduceOp): Tensor {
  const n = x.shape[x.shape.length - 1] ?? 1;
  if (n === 0 || x.size === 0) throw new Error(`${op} over an empty axis`);
  return reduceRows(x, op, n, Tensor.empty(x.gpu, x.shape.slice(0, -1), op));
}

/** op over every element: a tensor of shape []. */
export function reduceAll(x: Tensor, op: ReduceOp): Tensor {
  if (x.size === 0) throw new Error(`${op} of an empty tensor`);
  if (x.size <= CHUNK) return reduceRows(x, op, x.size, Tensor.empty(x.gpu, [], op));
  const partial = reduceRows(x, op, CHUNK, Tensor.empty(x.gpu, [Math.ceil(x.size / CHUNK)], `${op}.partial`));
  const r = reduceAll(partial, op);
  partial.dispose();
  return r;
}
