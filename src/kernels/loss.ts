/**
 * BCEWithLogitsLoss (mean reduction) for the classifier's single logit: the loss and its gradient
 * with respect to the logits, in one dispatch (shaders/loss.wgsl). Numerically stable for any
 * logit (ATen's max-shifted formula; see the shader), so saturated logits (|z| ~ 100) give a
 * finite loss and a gradient of +-1/n or 0.
 */
import { Tensor } from '../tensor.js';

export interface BceResult {
  /** The mean loss, a scalar tensor (shape []). */
  loss: Tensor;
  /** d loss / d logits = (sigmoid(z) - y) / n, shaped like the logits. */
  grad: Tensor;
}

/** logits [N] or [N, 1]; targets of the same shape, 0/1 floats (any value in [0, 1] works). */
export function bceWithLogits(logits: Tensor, targets: Tensor): BceResult {
  const s = logits.shape;
  if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) throw new Error(`bceWithLogits needs logits [N] or [N, 1], got [${s}]`);
  if (targets.shape.length !== s.length || targets.shape.some((d, i) => d !== s[i])) {
    throw new Error(`bceWithLogits: targets [${targets.shape}] do not match logits [${s}]`);
  }
  if (logits.size === 0) throw new Error(`bceWithLogits: no logits in [${s}]`);
  const gpu = logits.gpu;
  const loss = Tensor.empty(gpu, [], 'bce.loss');
  const grad = Tensor.empty(gpu, s, 'bce.grad');
  gpu.dispatch({
    shader: 'loss',
    entry: 'bce_with_logits',
    params: { n: logits.size },
    buffers: [logits.binding, targets.binding, loss.binding, grad.binding],
    workgroups: [1],
    label: 'bce_with_logits',
  });
  return { loss, grad };
}
