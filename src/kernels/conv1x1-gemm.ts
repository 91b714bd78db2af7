/**
 * The 1x1 stride-1 convolution on CPU adapters as winograd_gemm.wgsl's batched GEMM, one per
 * image: y[n] [Cout][H*W] = W [Cout][Cin] x[n] [Cin][H*W], the NCHW tensors being the GEMM's
 * V and M as they are and conv2d's laid-out weights its U. Bias, activation and residual are
 * applied as the products are stored, as conv2d.wgsl's conv1x1 does. Each output is the same
 * sum, in the same order, with the same operations, so the two give the same bits (tested);
 * this one's register tile is up to 64 pixels x 16 channels per invocation against conv1x1's 16
 * x 16, and it reads V as vec4. Measured on llvmpipe (bench/conv2d, 2-core Xeon, per CPU second):
 * see the README's Speed section.
 */
import type { Tensor } from '../tensor.js';
import type { Conv2dOptions, Conv2dWeights } from './conv2d.js';
import { gemmReads, recordGemm, type GemmReads } from './gemm.js';

const ACT = { none: 0, swish: 1, relu: 2 } as const;
/** Pixels per invocation (4 * winograd_gemm.wgsl's TG), most first. */
const PIXEL_CHOICES = [64, 32, 16, 8] as const;
/** Invocations per workgroup row to keep busy (llvmpipe's SIMD width). */
const MIN_LANES = 8;

/**
 * Pixels per invocation for maps of `pixels` pixels: the most that divides them and leaves
 * MIN_LANES invocations per image; 0 when none does (the direct kernel then serves).
 */
export function conv1x1PixelsPerLane(pixels: number): number {
  return PIXEL_CHOICES.find((t) => pixels % t === 0 && pixels / t >= MIN_LANES) ?? 0;
}

/** Whether conv1x1Gemm serves this layer: 1x1, stride 1, no padding, Cout a multiple of 16, a tile that fits the map. */
export function conv1x1GemmServes(x: Tensor, w: Conv2dWeights, opts: Conv2dOptions): boolean {
  const padding = opts.padding ?? 'same';
  const stride = opts.stride ?? (padding === 'down' ? 2 : 1);
  return w.k === 1 && stride === 1 && padding !== 'down' && w.cout % 16 === 0 && x.shape.length === 4 && conv1x1PixelsPerLane(x.shape[2] * x.shape[3]) > 0;
}

/**
 * conv2d of a layer conv1x1GemmServes accepts (checked by the caller, kernels/conv2d.ts); shapes
 * and aliasing as conv2d checks them.
 */
export function conv1x1Gemm(x: Tensor, w: Conv2dWeights, opts: Conv2dOptions, out: Tensor, pixelsPerLane?: number, reads: GemmReads = gemmReads(x.gpu)): Tensor {
  const gpu = x.gpu;
  const [n, cin, h, wd] = x.shape;
  const pixels = h * wd;
  const perLane = pixelsPerLane ?? conv1x1PixelsPerLane(pixels);
  if (!(PIXEL_CHOICES as readonly number[]).includes(perLane) || pixels % perLane) throw new Error(`conv2d (1x1 GEMM): ${perLane} pixels per invocation do not tile ${h}x${wd} maps`);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (n > maxWg) throw new Error(`conv2d (1x1 GEMM): a batch of ${n} needs more than ${maxWg} workgroups per dimension`);
  const lanes = pixels / perLane;
  const res = opts.residual;
  recordGemm(gpu, {
    v: x,
    u: w.weight,
    m: out,
    cin,
    tpad: pixels,
    coPad: w.cout,
    qs: n,
    uBlock: cin * 4,
    uPos: 0,
    uCi: 4,
    tg: perLane / 4,
    lanes,
    epilogue: { bias: w.bias ?? undefined, residual: res, act: ACT[opts.act ?? 'none'] },
    reads,
    label: 'conv2d1x1.gemm',
  });
  return out;
}
