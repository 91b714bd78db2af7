/**
 * The unit torchvision's ResNet is built of, in train and eval mode:
 *   y = conv(x)                      (bias-free, stride s, padding (k - 1) / 2)
 *   z = act(BN(y) + residual)        (act: ReLU or none; the residual only on a block's last BN)
 * BatchNorm is a real layer here: batch statistics over the whole batch (all chunks) in train
 * mode, with the running-statistics update, or the running statistics in eval mode. Its weight and
 * bias and the conv's weight live in the parameter arena (PyTorch layout); the forward and
 * input-gradient kernels read re-laid-out copies made on the GPU after every optimizer step.
 *
 * Saved for backward: x (the conv's input, which is the previous unit's output anyway), y (the
 * BN's input, xhat is recomputed from it) and z (the ReLU mask). Backward, from d loss / d z:
 *   g = dz * (z > 0);  d residual += g;  dy, d gamma, d beta = BN backward(g, y);
 *   d W = sum over the batch of x (*) dy;  dx = conv_transpose(dy, W).
 */
import { batchNormApply, batchNormBackward, batchNormEvalStats, batchNormTrainStats, reluBackward } from '../kernels/batch-norm.js';
import { conv2d, type Conv2dWeights } from '../kernels/conv2d.js';
import { conv2dBackwardData, conv2dBackwardWeight, layoutConv2dGradWeights, layoutConv2dWeights, type Conv2dGradWeights } from '../kernels/conv2d-grad.js';
import { BN_EPS } from '../nn/batch-norm.js';
import { Tensor } from '../tensor.js';
import type { ParamArena } from './arena.js';
import { disposeBatch, type Batch, type Scope, type Tape } from './tape.js';

export const BN_MOMENTUM = 0.1;

/** Where a unit's tensors are in the state dict, and its shape. */
export interface ConvBnSpec {
  /** State-dict prefix of the conv ('layer1.0.conv1', 'layer1.0.downsample.0'). */
  conv: string;
  /** State-dict prefix of the BatchNorm ('layer1.0.bn1', 'layer1.0.downsample.1'). */
  bn: string;
  cin: number;
  cout: number;
  k: number;
  stride: 1 | 2;
}

/** Train mode records backward closures on `tape` and keeps activations in `scope`; eval mode has neither. */
export interface ForwardContext {
  tape: Tape | null;
  scope: Scope | null;
}

export interface ConvBnOptions {
  relu: boolean;
  residual?: Batch;
  /** False for the stem: nothing upstream needs d loss / d x. */
  inputGrad?: boolean;
}

export class ConvBn {
  private w: Conv2dWeights;
  private wGrad: Conv2dGradWeights;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(readonly spec: ConvBnSpec, private readonly arena: ParamArena) {
    const gpu = arena.gpu;
    const w = arena.view(`${spec.conv}.weight`);
    this.w = layoutConv2dWeights(w);
    this.wGrad = layoutConv2dGradWeights(w);
    this.runningMean = Tensor.from(gpu, new Float32Array(spec.cout), [spec.cout], `${spec.bn}.running_mean`);
    this.runningVar = Tensor.from(gpu, new Float32Array(spec.cout).fill(1), [spec.cout], `${spec.bn}.running_var`);
  }

  /** The state-dict names of the unit's parameters, with their shapes. */
  static parameters(s: ConvBnSpec): Array<[string, number[]]> {
    return [
      [`${s.conv}.weight`, [s.cout, s.cin, s.k, s.k]],
      [`${s.bn}.weight`, [s.cout]],
      [`${s.bn}.bias`, [s.cout]],
    ];
  }

  /** Re-lays out the conv weight for the kernels after the arena's values changed. */
  refresh(): void {
    const w = this.arena.view(`${this.spec.conv}.weight`);
    this.w = layoutConv2dWeights(w, this.w);
    this.wGrad = layoutConv2dGradWeights(w, this.wGrad);
  }

  forward(x: Batch, ctx: ForwardContext, opts: ConvBnOptions): Batch {
    const { k, stride } = this.spec;
    const gamma = this.arena.view(`${this.spec.bn}.weight`);
    const beta = this.arena.view(`${this.spec.bn}.bias`);
    const y = x.map((c) => conv2d(c, this.w, { stride }));
    const { tape, scope } = ctx;
    const stats = tape
      ? batchNormTrainStats(y, { eps: BN_EPS, running: { mean: this.runningMean, var: this.runningVar, momentum: BN_MOMENTUM } })
      : batchNormEvalStats(this.runningMean, this.runningVar, BN_EPS);
    const z = y.map((c, i) => batchNormApply(c, stats, gamma, beta, { residual: opts.residual?.[i], relu: opts.relu }));
    if (!tape || !scope) {
      disposeBatch(y);
      stats.dispose();
      return z;
    }
    scope.keep(y);
    scope.keep(z);
    const [h, w] = x[0].shape.slice(2);
    tape.record(() => {
      let g = tape.takeGrad(z);
      if (opts.relu) {
        const masked = g.map((gi, i) => reluBackward(gi, z[i]));
        disposeBatch(g);
        g = masked;
      }
      const grads = { weight: this.arena.view(`${this.spec.bn}.weight`, 'grad'), bias: this.arena.view(`${this.spec.bn}.bias`, 'grad') };
      const dy = batchNormBackward(g, y, stats, gamma, grads);
      stats.dispose();
      if (opts.residual) tape.addGrad(opts.residual, g);
      else disposeBatch(g);
      const dw = this.arena.view(`${this.spec.conv}.weight`, 'grad');
      const pad = (k - 1) / 2;
      dy.forEach((d, i) => conv2dBackwardWeight(x[i], d, { k, stride, pad, accumulate: i > 0 }, dw));
      if (opts.inputGrad !== false) tape.addGrad(x, dy.map((d) => conv2dBackwardData(d, this.wGrad, { stride, pad, inputSize: [h, w] })));
      disposeBatch(dy);
    });
    return z;
  }

  dispose(): void {
    this.w.dispose();
    this.wGrad.dispose();
    this.runningMean.dispose();
    this.runningVar.dispose();
  }
}
