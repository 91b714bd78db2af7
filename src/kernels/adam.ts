/**
 * Adam (torch.optim.Adam, amsgrad off) over a flat arena: param, grad and the moments m, v are
 * four separate buffers (or views of four buffers) of equal size, each within one binding, updated
 * in place by ONE dispatch (shaders/adam.wgsl), however many parameter tensors the arena holds.
 * The result equals PyTorch's CPU step bit for bit (see the shader for the roundings). Padding
 * between the tensors, zero in all four buffers, stays zero.
 *
 * The step's scalars are computed here in float64, as PyTorch computes them in Python, and reach
 * the shader as f32 uniforms, as PyTorch hands Python floats to its float32 kernels:
 * step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t), 1 - beta1, 1 - beta2.
 * (JavaScript's ** may differ from Python's in a double's last bit; after the rounding to f32 that
 * shows only when the double sits next to the midpoint of two floats.)
 */
import { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

export interface AdamOptions {
  /** The step number t, 1-based (PyTorch's state['step'] after its increment). */
  step: number;
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay, not AdamW's); default 0. */
  weightDecay?: number;
}

const WG = 256;

/** One Adam step: updates param, m and v in place from grad. */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamOptions): void {
  const { step, lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = opts;
  const shapes = () => `param [${param.shape}], grad [${grad.shape}], m [${m.shape}], v [${v.shape}]`;
  if ([grad, m, v].some((t) => t.size !== param.size)) throw new Error(`adamStep: sizes differ: ${shapes()}`);
  const buffers = new Set([param, grad, m, v].map((t) => t.buffer));
  if (buffers.size !== 4) throw new Error(`adamStep: param, grad, m and v must live in four separate buffers (${shapes()})`);
  if (param.byteLength > param.gpu.maxBinding) {
    throw new Error(`adamStep: ${param.size} values exceed one binding (${param.gpu.maxBinding} bytes); split the arena (${shapes()})`);
  }
  if (!(Number.isInteger(step) && step >= 1)) throw new Error(`adamStep: step ${step} is not a positive integer (${shapes()})`);
  if (!(lr >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0 && weightDecay >= 0)) {
    throw new Error(`adamStep: invalid lr ${lr}, betas (${beta1}, ${beta2}), eps ${eps} or weight decay ${weightDecay} (${shapes()})`);
  }
  if (param.size === 0) return;
  const stepSize = lr / (1 - beta1 ** step);
  const bc2 = Math.sqrt(1 - beta2 ** step);
  const grid = grid1d(param.size, WG, param.gpu.limits.maxComputeWorkgroupsPerDimension);
  param.gpu.dispatch({
    shader: 'adam',
    overrides: { WG },
    params: {
      n: param.size,
      row: grid.row,
      opaque: 0,
      wd: weightDecay,
      b1: beta1,
      b2: beta2,
      c1: 1 - beta1,
      c2: 1 - beta2,
      neg_step: -stepSize,
      bc2,
      eps,
    },
    buffers: [param.binding, grad.binding, m.binding, v.binding],
    workgroups: grid.workgroups,
    label: 'adam',
  });
}
