/**
 * Conv2d layer (keys `weight` [Cout, Cin, k, k] and `bias` [Cout]); weights re-laid once at load.
 * Its weights never change, so a 3x3 'same' layer may run as Winograd F(4x4, 3x3) or F(6x6, 3x3)
 * where `winogradPays` says so for the adapter and the map size (`winogradTile` picks the tile);
 * the transformed weights are computed the first time and kept with the layer. That path also takes a GroupNorm on its input (applied
 * as the input is read) and a residual per image and channel; elsewhere they run as their own
 * kernels, with the same results.
 */
import { conv2d, conv2dGeometry, prepareConv2d, type Conv2dOptions, type Conv2dWeights } from '../kernels/conv2d.js';
import { conv2dWinograd, winogradPays, winogradTile, winogradWeights, type WinogradTile } from '../kernels/conv2d-winograd.js';
import { add } from '../kernels/elementwise.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';
import type { GroupNorm } from './group-norm.js';

export interface Conv2dLayerOptions extends Conv2dOptions {
  /** Convolve norm(x) (then swish if `swish`) instead of x. */
  norm?: { layer: GroupNorm; swish: boolean };
}

export class Conv2d {
  /** The transformed weights of each Winograd tile this layer has run with. */
  private readonly winograd = new Map<WinogradTile, Tensor>();

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
    const res = conv.residual;
    const perImage = !!res && res.shape[2] === 1 && res.shape[3] === 1 && !outputIs1x1(x, w.k, conv);
    // Added after the activation below; relu(conv + residual) needs the residual before it.
    if (perImage && conv.act === 'relu') throw new Error('conv2d: a residual per image and channel does not combine with relu');
    const same3x3 = w.k === 3 && (opts.stride ?? 1) === 1 && (opts.padding ?? 'same') === 'same';
    if (same3x3 && winogradPays(x.gpu, x.shape[2], x.shape[3], w.cin, w.cout)) {
      const tile = winogradTile(x.shape[2], x.shape[3]);
      let u = this.winograd.get(tile);
      if (!u) this.winograd.set(tile, (u = winogradWeights(w, tile)));
      const stats = norm?.layer.stats(x);
      const out = conv2dWinograd(x, w, u, { ...conv, norm: stats && { stats, swish: norm!.swish } });
      stats?.dispose();
      return out;
    }
    const input = norm ? norm.layer.forward(x, norm.swish) : x;
    let out = conv2d(input, w, perImage ? { ...conv, residual: undefined, out: undefined } : conv);
    if (perImage) {
      const sum = add(out, res!, conv.out);
      out.dispose();
      out = sum;
    }
    if (input !== x) input.dispose();
    return out;
  }

  dispose(): void {
    for (const u of this.winograd.values()) u.dispose();
    this.winograd.clear();
    this.weights.dispose();
  }
}

function outputIs1x1(x: Tensor, k: number, opts: Conv2dOptions): boolean {
  const padding = opts.padding ?? 'same';
  const stride = opts.stride ?? (padding === 'down' ? 2 : 1);
  return [x.shape[2], x.shape[3]].every((s) => conv2dGeometry(s, k, stride, padding).out === 1);
}
