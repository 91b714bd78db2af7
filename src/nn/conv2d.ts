/**
 * Conv2d layer (keys `weight` [Cout, Cin, k, k] and `bias` [Cout]); weights re-laid once at load.
 * Its weights never change, so a 3x3 'same' layer may run as Winograd F(4x4, 3x3) where
 * `winogradPays` says so for the adapter and the map size; the transformed weights are computed
 * the first time and kept with the layer.
 */
import { conv2d, prepareConv2d, type Conv2dOptions, type Conv2dWeights } from '../kernels/conv2d.js';
import { conv2dWinograd, winogradPays, winogradWeights } from '../kernels/conv2d-winograd.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';

export class Conv2d {
  private winograd: Tensor | null = null;

  private constructor(readonly weights: Conv2dWeights) {}

  static async load(vb: VarBuilder, cin: number, cout: number, k: number): Promise<Conv2d> {
    const shape = [cout, cin, k, k];
    const weight = await vb.get('weight', shape);
    const bias = await vb.get('bias', [cout]);
    return new Conv2d(prepareConv2d(vb.gpu, weight, shape, bias, vb.prefix));
  }

  /** act(conv(x) + bias) + residual; 'same' padding unless told otherwise. */
  forward(x: Tensor, opts: Conv2dOptions = {}): Tensor {
    const w = this.weights;
    const same3x3 = w.k === 3 && (opts.stride ?? 1) === 1 && (opts.padding ?? 'same') === 'same';
    if (!same3x3 || !winogradPays(x.gpu, x.shape[2], x.shape[3], w.cin, w.cout)) return conv2d(x, w, opts);
    this.winograd ??= winogradWeights(w);
    return conv2dWinograd(x, w, this.winograd, opts);
  }

  dispose(): void {
    this.winograd?.dispose();
    this.weights.dispose();
  }
}
