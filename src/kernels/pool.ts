/**
 * Pooling (shaders/pool.wgsl): max pooling (F.max_pool2d, ceil_mode False, -inf padding) and
 * global average pooling (F.adaptive_avg_pool2d(x, 1)) for ResNet's stem and head; 2x2 average
 * pooling (F.avg_pool2d(x, 2)) for the UNet's Downsample without conv.
 */
import { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

/** One invocation per element of `out`, for the entry point of shaders/pool.wgsl. */
function poolDispatch(x: Tensor, out: Tensor, entry: string, window: { ho: number; wo: number; k: number; stride: number; pad: number }, label: string): Tensor {
  if (!out.size) return out;
  const [, , h, w] = x.shape;
  const g = grid1d(out.size, WG, x.gpu.limits.maxComputeWorkgroupsPerDimension);
  x.gpu.dispatch({
    shader: 'pool',
    entry,
    overrides: { WG },
    params: { n: out.size, h, w, ...window, row: g.row },
    buffers: [x.binding, out.binding],
    workgroups: g.workgroups,
    label,
  });
  return out;
}

export interface MaxPoolOptions {
  /** Window side (default 3). */
  k?: number;
  /** Window step (default 2). */
  stride?: number;
  /** -inf rows/columns around the input (default 1), less than k. */
  pad?: number;
}

/** Output size along one axis: floor((size + 2 pad - k) / stride) + 1, as PyTorch (ceil_mode False). */
export function maxPoolSize(size: number, k: number, stride: number, pad: number): number {
  return Math.max(0, Math.floor((size + 2 * pad - k) / stride) + 1);
}

/** x [N, C, H, W] -> [N, C, Ho, Wo]; the defaults are torchvision ResNet's MaxPool2d(3, 2, 1). */
export function maxPool2d(x: Tensor, opts: MaxPoolOptions = {}): Tensor {
  const { k = 3, stride = 2, pad = 1 } = opts;
  if (x.shape.length !== 4) throw new Error(`maxPool2d needs [N, C, H, W], got [${x.shape}]`);
  if (!(k >= 1 && stride >= 1 && pad >= 0 && pad < k && 2 * pad <= k)) {
    throw new Error(`maxPool2d: unsupported window k ${k}, stride ${stride}, pad ${pad} (PyTorch needs pad <= k / 2)`);
  }
  const [n, c, h, w] = x.shape;
  const ho = maxPoolSize(h, k, stride, pad);
  const wo = maxPoolSize(w, k, stride, pad);
  const out = Tensor.empty(x.gpu, [n, c, ho, wo], 'maxpool');
  return poolDispatch(x, out, 'max_pool', { ho, wo, k, stride, pad }, `maxpool${k}s${stride}`);
}

/** x [N, C, H, W] -> [N, C]: the mean of each plane. */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`globalAvgPool needs [N, C, H, W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  if (h * w === 0) throw new Error(`globalAvgPool: empty planes in [${x.shape}]`);
  const out = Tensor.empty(x.gpu, [n, c], 'avgpool');
  return poolDispatch(x, out, 'avg_all', { ho: 1, wo: 1, k: 1, stride: 1, pad: 0 }, 'global_avgpool');
}

/** 2x2 average pooling with stride 2: x [N, C, H, W] -> [N, C, floor(H/2), floor(W/2)]. */
export function avgPool2d(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`avgPool2d needs [N, C, H, W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  const [ho, wo] = [Math.floor(h / 2), Math.floor(w / 2)];
  const out = Tensor.empty(x.gpu, [n, c, ho, wo], 'avgpool2x2');
  return poolDispatch(x, out, 'avg_2x2', { ho, wo, k: 2, stride: 2, pad: 0 }, 'avgpool2x2');
}
