/**
 * Eval-mode BatchNorm2d folded into the convolution before it, once at load. For a conv
 * y = w * x + b followed by BatchNorm (gamma = weight, beta = bias, running mean mu and variance
 * var, eps 1e-5):
 *   BN(y) = (y - mu) * s + beta with s = gamma / sqrt(var + eps)
 *         = (w * s) * x + (b - mu) * s + beta,
 * so the folded conv has w'[co] = w[co] * s[co] and b'[co] = beta[co] + (b[co] - mu[co]) * s[co]
 * (b = 0 for the bias-free convs of torchvision's ResNet). The fold is evaluated in float64 and
 * rounded once to float32; it differs from PyTorch's conv-then-BN by float32 rounding only.
 */
import { DnfError } from '../errors.js';
import { prepareConv2d, type Conv2dWeights } from '../kernels/conv2d.js';
import type { VarBuilder } from '../weights/var-builder.js';

/** PyTorch's BatchNorm2d default. */
export const BN_EPS = 1e-5;

/** A BatchNorm2d's state (keys weight, bias, running_mean, running_var; num_batches_tracked is unused). */
export interface BatchNormStats {
  weight: Float32Array;
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

export async function loadBatchNorm(vb: VarBuilder, channels: number): Promise<BatchNormStats> {
  const shape = [channels];
  return {
    weight: await vb.get('weight', shape),
    bias: await vb.get('bias', shape),
    runningMean: await vb.get('running_mean', shape),
    runningVar: await vb.get('running_var', shape),
  };
}

/**
 * The conv weight [Cout, ...] and bias (null: none) with `bn` folded in; new arrays, inputs untouched.
 * Throws a DnfError when a running variance makes var + eps non-positive (a damaged checkpoint).
 */
export function foldBatchNorm(
  weight: Float32Array,
  bias: Float32Array | null,
  bn: BatchNormStats,
  eps = BN_EPS,
  what = 'batch norm',
): { weight: Float32Array; bias: Float32Array } {
  const cout = bn.weight.length;
  if (weight.length % cout !== 0 || (bias && bias.length !== cout)) {
    throw new Error(`${what}: ${cout} channels do not match a conv weight of ${weight.length} values`);
  }
  const per = weight.length / cout;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(cout);
  for (let co = 0; co < cout; co++) {
    const v = bn.runningVar[co] + eps;
    if (!(v > 0)) throw new DnfError(`${what}.running_var[${co}] is ${bn.runningVar[co]}, not a variance; the checkpoint is damaged`);
    const s = bn.weight[co] / Math.sqrt(v);
    for (let i = co * per; i < (co + 1) * per; i++) w[i] = weight[i] * s;
    b[co] = bn.bias[co] + ((bias ? bias[co] : 0) - bn.runningMean[co]) * s;
  }
  return { weight: w, bias: b };
}

/**
 * A bias-free conv (`conv.weight` [cout, cin, k, k]) and the BatchNorm after it, folded and laid
 * out for conv2d. Problems with either's keys are recorded by the VarBuilders.
 */
export async function loadConvBn(conv: VarBuilder, bn: VarBuilder, cin: number, cout: number, k: number): Promise<Conv2dWeights> {
  const shape = [cout, cin, k, k];
  const weight = await conv.get('weight', shape);
  const folded = foldBatchNorm(weight, null, await loadBatchNorm(bn, cout), BN_EPS, bn.prefix);
  return prepareConv2d(conv.gpu, folded.weight, shape, folded.bias, conv.prefix);
}
