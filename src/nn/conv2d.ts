/**
 * Conv2d layer (keys `weight` [Cout, Cin, k, k] and `bias` [Cout]); weights re-laid once at load.
 * Its weights never change, so a 3x3 'same' layer may run as Winograd F(4x4, 3x3) or F(6x6, 3x3)
 * where `winogradPays` says so for the adapter and the map size (`winogradTile` picks the tile);
 * the transformed weights are computed the first time and kept with the layer (on CPU adapters
 * as the texel mirror the GEMMs read, keepWinogradWeights). A residual per
 * image and channel is added as the output is written, and a GroupNorm (then swish) on the input
 * applied as the input is read, by Winograd always, by the direct kernel where conv2dReadsNorm
 * says so (else by a pass of its own first).
 */
import { conv2d, conv2dReadsNorm, prepareConv2d, type Conv2dOptions, type Conv2dWeights } from '../kernels/conv2d.js';
import { conv2dWinograd, keepWinogradWeights, winogradPays, winogradTile, type KeptWinogradWeights, type WinogradTile } from '../kernels/conv2d-winograd.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';
import type { GroupNorm } from './group-norm.js';

export interface Conv2dLayerOptions extends Omit<Conv2dOptions, 'norm'> {
  /** Convolve norm(x) (then swish if `swish`) instead of x. */
  norm?: { layer: GroupNorm; swish: boolean };
}

export class Conv2d {
  /** The transformed weights of each Winograd tile this layer has run with. */
  private readonly winograd = new Map<WinogradTile, KeptWinogradWeights>();

  private constructor(readonly weights: Conv2dWeights) {}

  static async load(vb: VarBuilder, cin: number, cout: number, k: number): Promise<Conv2d> {
    const shape = [cout, cin, k, k];
    const weight = await vb.get('weight', shape);
    const bias = await vb.get('bias', [cout]);
    return new Conv2d(prepareConv2d(vb.gpu, weight, shape, bias, vb.prefix));
  }

  /**
   * act(conv(x) + bias) + residual; 'same' padding unless told otherwise. The residual is
   * [N, Cout, Ho, Wo], or [N, Cout, 1, 1] added to every pixel. x is not consumed.
   */
  forward(x: Tensor, opts: Conv2dLayerOptions = {}): Tensor {
    const w = this.weights;
    const { norm, ...conv } = opts;
    const same3x3 = w.k === 3 && (opts.stride ?? 1) === 1 && (opts.padding ?? 'same') === 'same';
    const winograd = same3x3 && winogradPays(x.gpu, x.shape[2], x.shape[3], w.cin, w.cout);
    if (norm && !winograd && !conv2dReadsNorm(x.gpu)) {
      const input = norm.layer.forward(x, norm.swish);
      const out = conv2d(input, w, conv);
      input.dispose();
      return out;
    }
    const stats = norm?.layer.stats(x);
    const fused = { ...conv, norm: stats && { stats, swish: norm!.swish } };
    let out: Tensor;
    if (winograd) {
      const tile = winogradTile(x.shape[2], x.shape[3]);
      let u = this.winograd.get(tile);
      if (!u) this.winograd.set(tile, (u = keepWinogradWeights(w, tile)));
      out = conv2dWinograd(x, w, u, fused);
    } else {
      out = conv2d(x, w, fused);
    }
    stats?.dispose();
    return out;
  }

  dispose(): void {
    for (const u of this.winograd.values()) u.dispose();
    this.winograd.clear();
    this.weights.dispose();
  }
}
