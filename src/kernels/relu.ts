/** In-place ReLU (shaders/relu.wgsl). */
import type { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

/** x = max(x, 0), in place; returns x. */
export function reluInPlace(x: Tensor): Tensor {
  if (!x.size) return x;
  const g = grid1d(x.size, WG, x.gpu.limits.maxComputeWorkgroupsPerDimension);
  x.gpu.dispatch({
    shader: 'relu',
    overrides: { WG },
    params: { n: x.size, row: g.row },
    buffers: [x.buffer],
    workgroups: g.workgroups,
  });
  return x;
}
