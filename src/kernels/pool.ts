/**
 * Pooling (shaders/pool.wgsl): max pooling (F.max_pool2d, ceil_mode False, -inf padding) and
 * global average pooling (F.adaptive_avg_pool2d(x, 1)) for ResNet's stem and head, with their
 * backward passes for training; 2x2 average pooling (F.avg_pool2d(x, 2)) for the UNet's
 * Downsample without conv. The backward passes equal PyTorch's CPU results bit for bit: max
 * pooling routes each dy to the element PyTorch's argmax picks and sums in its order, the
 * average's dy / (h*w) is one division, as PyTorch's.
 */
import { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;
/** Largest plane whose flat indices an f32 holds exactly (the argmax map of maxPool2dBackward). */
const MAX_PLANE = 2 ** 24;

interface Window {
  h: number;
  w: number;
  ho: number;
  wo: number;
  k: number;
  stride: number;
  pad: number;
}

/**
 * One invocation per element of `out`, for the entry point of shaders/pool.wgsl: x binds to the
 * shader's x (the pooled input, or max_pool_backward's argmax map), dy to its g (read by the
 * backward entries only).
 */
function poolDispatch(entry: string, x: Tensor, dy: Tensor | null, out: Tensor, window: Window, label: string): Tensor {
  if (!out.size) return out;
  const grid = grid1d(out.size, WG, out.gpu.limits.maxComputeWorkgroupsPerDimension);
  out.gpu.dispatch({
    shader: 'pool',
    entry,
    overrides: { WG },
    params: { n: out.size, ...window, row: grid.row },
    buffers: [x.binding, (dy ?? x).binding, out.binding],
    workgroups: grid.workgroups,
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

/** The window of a max pool over x [N, C, H, W], checked as PyTorch checks it. */
function maxPoolWindow(op: string, x: Tensor, opts: MaxPoolOptions): Window {
  const { k = 3, stride = 2, pad = 1 } = opts;
  if (x.shape.length !== 4) throw new Error(`${op} needs [N, C, H, W], got [${x.shape}]`);
  if (![k, stride, pad].every(Number.isInteger) || !(k >= 1 && stride >= 1 && pad >= 0 && pad < k && 2 * pad <= k)) {
    throw new Error(`${op}: unsupported window k ${k}, stride ${stride}, pad ${pad} (PyTorch needs pad <= k / 2)`);
  }
  const [, , h, w] = x.shape;
  if (h < 1 || w < 1) throw new Error(`${op}: empty planes in [${x.shape}]`);
  return { h, w, ho: maxPoolSize(h, k, stride, pad), wo: maxPoolSize(w, k, stride, pad), k, stride, pad };
}

/**
 * x [N, C, H, W] -> [N, C, Ho, Wo]; the defaults are torchvision ResNet's MaxPool2d(3, 2, 1).
 * Each output is the element PyTorch's CPU kernel picks: ties keep the first maximum in the
 * window's row-major order, NaN counts as the maximum.
 */
export function maxPool2d(x: Tensor, opts: MaxPoolOptions = {}): Tensor {
  const win = maxPoolWindow('maxPool2d', x, opts);
  const [n, c] = x.shape;
  const out = Tensor.empty(x.gpu, [n, c, win.ho, win.wo], 'maxpool');
  return poolDispatch('max_pool', x, null, out, win, `maxpool${win.k}s${win.stride}`);
}

/**
 * The gradient of maxPool2d: dy [N, C, Ho, Wo] and the saved input x [N, C, H, W] -> dx
 * [N, C, H, W]. Two dispatches: the argmax of every window, recomputed from x (a map shaped like
 * dy), then a gather: each dy goes to the element its window picked, and an element picked by
 * several windows gets their dy summed in row-major window order, as PyTorch does.
 */
export function maxPool2dBackward(dy: Tensor, x: Tensor, opts: MaxPoolOptions = {}): Tensor {
  const win = maxPoolWindow('maxPool2dBackward', x, opts);
  const [n, c] = x.shape;
  const want = [n, c, win.ho, win.wo];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`maxPool2dBackward: dy [${dy.shape}] is not the pooled shape [${want}] of x [${x.shape}]`);
  }
  if (win.h * win.w > MAX_PLANE) throw new Error(`maxPool2dBackward: planes of x [${x.shape}] exceed ${MAX_PLANE} elements (argmax indices are f32)`);
  const label = `maxpool${win.k}s${win.stride}`;
  const argmax = poolDispatch('max_pool_argmax', x, null, Tensor.empty(x.gpu, want, 'maxpool.argmax'), win, `${label}.argmax`);
  const out = poolDispatch('max_pool_backward', argmax, dy, Tensor.empty(x.gpu, x.shape, 'maxpool.grad'), win, `${label}.backward`);
  argmax.dispose();
  return out;
}

/** x [N, C, H, W] -> [N, C]: the mean of each plane. */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`globalAvgPool needs [N, C, H, W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  if (h * w === 0) throw new Error(`globalAvgPool: empty planes in [${x.shape}]`);
  const out = Tensor.empty(x.gpu, [n, c], 'avgpool');
  return poolDispatch('avg_all', x, null, out, { h, w, ho: 1, wo: 1, k: 1, stride: 1, pad: 0 }, 'global_avgpool');
}

/**
 * The gradient of globalAvgPool: dy [N, C] (or [N, C, 1, 1]) -> dx [N, C, h, w], every element
 * of a plane dy / (h*w). PyTorch computes adaptive_avg_pool2d(x, 1) as a mean, whose backward
 * divides by the element count (one rounding; not dy * (1 / (h*w)), which differs in the last bit
 * for some values).
 */
export function globalAvgPoolBackward(dy: Tensor, h: number, w: number): Tensor {
  const s = dy.shape;
  if (!(s.length === 2 || (s.length === 4 && s[2] === 1 && s[3] === 1))) {
    throw new Error(`globalAvgPoolBackward needs dy [N, C] or [N, C, 1, 1], got [${s}]`);
  }
  if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1)) {
    throw new Error(`globalAvgPoolBackward: bad plane size ${h}x${w} for dy [${s}]`);
  }
  const out = Tensor.empty(dy.gpu, [s[0], s[1], h, w], 'avgpool.grad');
  return poolDispatch('avg_all_backward', dy, dy, out, { h, w, ho: 1, wo: 1, k: 1, stride: 1, pad: 0 }, 'global_avgpool.backward');
}

/** 2x2 average pooling with stride 2: x [N, C, H, W] -> [N, C, floor(H/2), floor(W/2)]. */
export function avgPool2d(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`avgPool2d needs [N, C, H, W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  const [ho, wo] = [Math.floor(h / 2), Math.floor(w / 2)];
  const out = Tensor.empty(x.gpu, [n, c, ho, wo], 'avgpool2x2');
  return poolDispatch('avg_2x2', x, null, out, { h, w, ho, wo, k: 2, stride: 2, pad: 0 }, 'avgpool2x2');
}
