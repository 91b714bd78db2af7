/** Conv2d layer (keys `weight` [Cout, Cin, k, k] and `bias` [Cout]); weights re-laid once at load. */
import { conv2d, prepareConv2d, type Conv2dOptions, type Conv2dWeights } from '../kernels/conv2d.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';

export class Conv2d {
  private constructor(readonly weights: Conv2dWeights) {}

  static async load(vb: VarBuilder, cin: number, cout: number, k: number): Promise<Conv2d> {
    const shape = [cout, cin, k, k];
    const weight = await vb.get('weight', shape);
    const bias = await vb.get('bias', [cout]);
    return new Conv2d(prepareConv2d(vb.gpu, weight, shape, bias, vb.prefix));
  }

  /** act(conv(x) + bias) + residual; 'same' padding unless told otherwise. */
  forward(x: Tensor, opts?: Conv2dOptions): Tensor {
    return conv2d(x, this.weights, opts);
  }

  dispose(): void {
    this.weights.dispose();
  }
}
