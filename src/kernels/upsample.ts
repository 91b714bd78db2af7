/** Nearest-neighbour upsampling by 2 (the DDPM UNet's Upsample before its conv), resample.wgsl. */
import { Tensor } from '../tensor.js';
import { ceilDiv, grid1d } from './grid.js';

const WG = 64;

/** [N, C, H, W] -> [N, C, 2H, 2W], out[n, c, y, x] = x[n, c, floor(y / 2), floor(x / 2)]. */
export function upsampleNearest2x(x: Tensor): Tensor {
  const gpu = x.gpu;
  if (x.shape.length !== 4) throw new Error(`upsampleNearest2x needs [N, C, H, W], got [${x.shape}]`);
  const [N, C, H, W] = x.shape;
  const out = Tensor.empty(gpu, [N, C, 2 * H, 2 * W], 'upsample');
  if (x.size === 0) return out;
  // nearest2x_any reads x as vec2s; pool buffers are padded to 16 bytes.
  if (x.buffer.size % 16) throw new Error('upsampleNearest2x: tensor buffers must be padded to 16 bytes');
  const rows = N * C * H;
  const even = W % 2 === 0;
  const g = grid1d(rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    shader: 'resample',
    entry: even ? 'nearest2x' : 'nearest2x_any',
    overrides: { WG },
    params: { w: W, rows, grid_y: g.row },
    buffers: [x.binding, out.binding],
    workgroups: [ceilDiv(even ? W / 2 : W, WG), g.workgroups[0], g.workgroups[1]],
    label: even ? 'resample.nearest2x' : 'resample.nearest2x_any',
  });
  return out;
}
