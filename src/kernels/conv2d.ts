/**
 * 2-D convolution (NCHW, f32) with bias, activation and residual add fused into the output write.
 * Weights are re-laid out once by `prepareConv2d`; `conv2d` records one dispatch of conv2d.wgsl
 * (implicit GEMM, no im2col buffer): entry `conv3x3` for 3x3 stride 1 'same' (the UNet's hot
 * spot), `conv1x1` for 1x1 (any stride), `conv` for every other kernel size, stride and padding.
 * Shapes travel in Params, so one pipeline per (entry, pixel tile, workgroup size) serves every
 * size. Invocations run over the pixel tiles of the whole batch (small images share workgroups),
 * and the pixel tile shrinks to the output width (conv2dFitPixelGroups). With CPU tiles (PV 4) a
 * 3x3 'same' conv computes 4x4 output blocks (`conv3x3block`) or, on 2x2 images, four whole
 * images (`conv3x3quad`): fewer loads per FMA than a 16-pixel row, and no idle pixels on the
 * 8x8, 4x4 and 2x2 maps of ResNet's last stages (llvmpipe, per CPU second: 4x4 maps 0.93 -> 2.59
 * GFLOP/s, 2x2 0.44 -> 1.52, 256x256 unchanged or better); every tile gives the same bits.
 * Every entry also reads GroupNorm(x) (then swish) in place of x, normalised as it loads from
 * groupNormStats' statistics (`norm`: the same bits as convolving groupNorm's output, which is
 * then never written), and adds a residual per image and channel (the UNet's timestep
 * projection) in its output write.
 *
 * On CPU adapters (gemmReads: 'texels') every entry reads the weights from a texel mirror of
 * their buffer, copied just before the dispatch (W_TEXELS; src/gpu/texels.ts): a tap's 16
 * weights are the same for every invocation of a workgroup, and llvmpipe loads such a storage
 * address lane by lane, a texel as vector code. The same bits. Where the probe of
 * src/gpu/lane-reads.ts finds it faster (llvmpipe's AVX2 code), x too comes from a mirror, an
 * r32float one (X_TEXELS). Measured on llvmpipe, a 2-core Xeon, GFLOP/s per CPU second (`node
 * bench/run.mjs conv2d` with BENCH_CONV_SHAPES, one run each; before, weights from texels, and
 * x too with DNF_LANE_TEXELS=on): 3x3 at 128x128 with 128 channels 15.3, 24.1, 21.9; the stride-2 Downsample at 256x256
 * 9.5, 9.3, 7.5; the direct 1x1 at 64x64 (256 -> 512) 11.0, 11.4, 9.5; with llvmpipe's AVX2
 * code (GALLIUM_OVERRIDE_CPU_CAPS=avx, as on CPUs without AVX-512) 4.8, 12.1, 20.6; 3.0, 4.6,
 * 7.8; 3.1, 4.9, 9.9.
 */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor } from '../tensor.js';
import { conv1x1Gemm, conv1x1GemmServes } from './conv1x1-gemm.js';
import { laneMirror, type LaneReads } from '../gpu/lane-reads.js';
import { gemmReads, mirror, type GemmReads } from './gemm.js';
import { ceilDiv, grid1d, workgroupFor } from './grid.js';
import type { GroupNormStats } from './group-norm.js';

/** Output channels per weight block: one workgroup row computes one block (four vec4). */
const CO_BLOCK = 16;
const MAX_K = 7;

export type PixelGroups = 1 | 2 | 4;
export type Conv2dPadding = 'same' | 'down' | 0;

/**
 * Groups of 4 consecutive output pixels per invocation (the shader's PV), by adapter. CPU
 * adapters want the largest register tile: each storage load costs a per-lane loop there, FMAs
 * are cheap SIMD (llvmpipe 3x3: ~10 GFLOP/s per core with 16 pixels, ~6 with 8). GPUs want the
 * smallest: 16 pixels x 16 channels of accumulators spill on NVIDIA (H100 via Vulkan, 3x3 128ch
 * at 256x256: 22 TFLOP/s with 4 pixels, 20 with 8, 0.5 with 16).
 */
export function conv2dPixelGroups(gpu: Gpu): PixelGroups {
  const a = gpu.adapter;
  const cpu = a.isFallbackAdapter || /llvmpipe|lavapipe|softpipe|swiftshader/i.test(`${gpu.backend} ${a.architecture} ${a.device} ${a.description}`);
  return cpu ? 4 : 1;
}

/** How conv2d.wgsl reads its weights (from storage or a texel mirror) and its input. */
export interface Conv2dReads {
  weights: GemmReads;
  x: LaneReads;
}

/** This adapter's way: the weights as the GEMMs read their operands (gemmReads), x as gpu.laneReads. */
export function conv2dReads(gpu: Gpu): Conv2dReads {
  return { weights: gemmReads(gpu), x: gpu.laneReads };
}

export type Conv2dEntry = 'conv3x3' | 'conv3x3block' | 'conv3x3quad' | 'conv1x1' | 'conv';

/** The specialised entry point for 3x3 stride 1 'same' and for unpadded 1x1, else the general one. */
export function conv2dEntry(k: number, stride: number, padding: Conv2dPadding): Conv2dEntry {
  if (k === 3 && stride === 1 && padding === 'same') return 'conv3x3';
  // conv1x1 reads no padding: 'down' (a zero row and column past the input) takes the general path.
  if (k === 1 && padding !== 'down') return 'conv1x1';
  return 'conv';
}

/**
 * The pixel tile for an output row of `wo` pixels: the smallest of 1, 2, 4 groups whose 4*PV
 * pixels cover the row, at most `pv` (the adapter's, conv2dPixelGroups), so that a lane computes
 * no pixels past the row on small images (Wo <= 4: 1, Wo <= 8: 2). Each output's sum over ci, ky,
 * kx runs in the same order whatever PV is, so results do not change with it.
 */
export function conv2dFitPixelGroups(wo: number, pv: PixelGroups): PixelGroups {
  let fit = pv;
  while (fit > 1 && 2 * fit >= wo) fit = (fit / 2) as PixelGroups;
  return fit;
}

/**
 * Dispatch geometry for a batch of n outputs of ho x wo pixels with at most `pv` pixel groups
 * (exported for benchmarks and tests). Lanes run over the batch's n * ho * tilesX tiles, so small
 * images share workgroups; workgroups along x past `maxPerDim` continue along z.
 */
export function conv2dPlan(entry: Conv2dEntry, n: number, ho: number, wo: number, pv: PixelGroups, maxPerDim = 65535) {
  // CPU tiles on a 3x3 'same' conv: 4x4 blocks (lanes over n x block rows x block columns), or
  // four 2x2 images per lane.
  if (entry === 'conv3x3' && pv === 4) entry = ho === 2 && wo === 2 ? 'conv3x3quad' : 'conv3x3block';
  const block = entry === 'conv3x3block';
  const quad = entry === 'conv3x3quad';
  const fit = block || quad ? 4 : conv2dFitPixelGroups(wo, pv);
  const tilesX = ceilDiv(wo, block ? 4 : 4 * fit);
  const lanes = quad ? ceilDiv(n, 4) : n * (block ? ceilDiv(ho, 4) : ho) * tilesX;
  // Lanes past the last tile idle: small batches get smaller workgroups (powers of two, >= 8).
  const wg = workgroupFor(lanes);
  const groups = ceilDiv(lanes, wg);
  const z = ceilDiv(groups, maxPerDim);
  const x = ceilDiv(groups, z);
  if (z > maxPerDim) throw new Error(`conv2d: ${lanes} pixel tiles need more than ${maxPerDim}^2 workgroups; split the batch or the image`);
  return { entry, pv: fit, wg, tilesX, lanes, workgroups: [x, z] as const };
}

export interface Conv2dWeights {
  cout: number;
  cin: number;
  k: number;
  /** [ceil(cout/16), cin, k, k, 16]: the 16 output channels of one tap are contiguous (zero-padded). */
  weight: Tensor;
  /** [ceil(cout/16) * 16], zero-padded; null when the layer has no bias. */
  bias: Tensor | null;
  dispose(): void;
}

const ACT = { none: 0, swish: 1, relu: 2 } as const;

export interface Conv2dOptions {
  /** Defaults to 2 for padding 'down', else 1. */
  stride?: 1 | 2;
  /** 'same': pad (k-1)/2 on every side; 'down': zero-pad right and bottom by 1 (the DDPM Downsample); 0: none. */
  padding?: Conv2dPadding;
  /**
   * [N, Cout, Ho, Wo], or [N, Cout, 1, 1] added to every pixel of its image and channel: added
   * after swish (the UNet's order), before relu (ResNet's).
   */
  residual?: Tensor;
  /**
   * Convolve GroupNorm(x) (then swish if asked) instead of x, normalised as x is read from
   * `groupNormStats(x, ...)`: the same values as convolving groupNorm(x, ...), without writing them.
   */
  norm?: { stats: GroupNormStats; swish: boolean };
  /** 'swish': swish(conv + bias) + residual; 'relu': relu(conv + bias + residual). */
  act?: 'none' | 'swish' | 'relu';
  out?: Tensor;
}

/** Re-lays a PyTorch weight [Cout, Cin, k, k] (and bias [Cout]) once at load. */
export function prepareConv2d(gpu: Gpu, weight: Float32Array, shape: readonly number[], bias?: Float32Array | null, label = 'conv2d'): Conv2dWeights {
  const [cout, cin, k, k2] = shape;
  if (shape.length !== 4 || k !== k2 || k < 1 || k > MAX_K || k % 2 === 0 || cout < 1 || cin < 1) {
    throw new Error(`${label}: conv2d supports square odd kernels up to ${MAX_K}x${MAX_K}, got weight shape [${shape}]`);
  }
  if (weight.length !== cout * cin * k * k) throw new Error(`${label}: ${weight.length} weight values do not fill [${shape}]`);
  if (bias && bias.length !== cout) throw new Error(`${label}: bias has ${bias.length} values, expected ${cout}`);
  const blocks = ceilDiv(cout, CO_BLOCK);
  const taps = cin * k * k;
  const laid = new Float32Array(blocks * taps * CO_BLOCK);
  for (let co = 0; co < cout; co++) {
    const dst = Math.floor(co / CO_BLOCK) * taps * CO_BLOCK + (co % CO_BLOCK);
    const src = co * taps;
    for (let t = 0; t < taps; t++) laid[dst + t * CO_BLOCK] = weight[src + t];
  }
  let b: Tensor | null = null;
  if (bias) {
    const padded = new Float32Array(blocks * CO_BLOCK);
    padded.set(bias);
    b = Tensor.from(gpu, padded, [padded.length], `${label}.bias`);
  }
  const w = Tensor.from(gpu, laid, [blocks, cin, k, k, CO_BLOCK], `${label}.weight`);
  return {
    cout,
    cin,
    k,
    weight: w,
    bias: b,
    dispose() {
      w.dispose();
      b?.dispose();
    },
  };
}

/** Output size along one axis and the zero padding added before the first row/column. */
export function conv2dGeometry(size: number, k: number, stride: number, padding: Conv2dPadding): { out: number; pad: number } {
  const pad = padding === 'same' ? (k - 1) / 2 : 0;
  const padded = size + 2 * pad + (padding === 'down' ? 1 : 0);
  return { out: padded < k ? 0 : Math.floor((padded - k) / stride) + 1, pad };
}

/**
 * x [N, Cin, H, W] -> [N, Cout, Ho, Wo]. 'same': 3x3 pad 1 (1x1: pad 0). 'down': zero-pad right
 * and bottom by 1, then stride 2, padding 0 (the DDPM Downsample). out = swish(conv + bias) + residual
 * or relu(conv + bias + residual), as `act` says.
 */
export function conv2d(x: Tensor, w: Conv2dWeights, opts: Conv2dOptions = {}): Tensor {
  const pv = conv2dPixelGroups(x.gpu);
  // CPU adapters: unpadded 1x1 stride 1 by the batched GEMM's wider register tile (the same bits;
  // it reads x as it is and adds a full residual).
  if (pv === 4 && !opts.norm && !residualPerImage(opts.residual, outputShape(x, w, opts)) && conv1x1GemmServes(x, w, opts)) {
    const out = checkedOutput(x, w, opts);
    return out.size ? conv1x1Gemm(x, w, opts, out) : out;
  }
  const [, cin, h, wd] = x.shape;
  const same3x3 = conv2dEntry(w.k, opts.stride ?? (opts.padding === 'down' ? 2 : 1), opts.padding ?? 'same') === 'conv3x3';
  return conv2dTiled(x, w, opts, pv, undefined, same3x3 ? conv2dSplits(x.gpu, h, wd, cin, w.cout) : 1);
}

/**
 * Whether nn/Conv2d hands the direct kernel GroupNorm's statistics (`norm`) rather than the
 * output of a pass that writes GroupNorm(x): the Gpu's `fuseNorm` (default off). The fused kernel
 * normalises (and swishes) every value it loads, once per block of 16 output channels and with
 * its tile's halo, where the pass does each value once but writes and reads the activation
 * again. On llvmpipe (the LSUN UNet with DNF_CONV3X3=direct) the fused 3x3 convs took 0.51 s
 * more, the passes they replace 0.63 s, and the pool's peak fell by 217 MB; but each fused
 * variant is a pipeline of its own, which llvmpipe takes about 25 s to compile on a new machine
 * and SwiftShader in every process, while by default CPU adapters run the UNet's normalised
 * layers by Winograd (which always reads GroupNorm in its input transform). On GPUs the 3x3
 * taps' FMAs, not the loads, bound the direct kernel, so the recomputation may cost more than
 * the round trip saves: off until bench/gpu.sh, which runs the UNet both ways, measures it.
 */
export function conv2dReadsNorm(gpu: Gpu): boolean {
  return gpu.fuseNorm === 'on';
}

/** Most parts split-K cuts the input channels into, and the fewest channels per part. */
const MAX_SPLITS = 64;
const MIN_SPLIT_CHANNELS = 64;
/** Workgroups per image that split-K aims at (a GPU's worth of workgroups at batch 1). */
const SPLIT_TARGET_WORKGROUPS = 512;

/**
 * Parts of the input channels for a 3x3 'same' layer over h x w maps (the Gpu's `splitK`; 1: no
 * split): with 'auto' on GPUs, the largest power of two that keeps MIN_SPLIT_CHANNELS channels per
 * part and the workgroups of one image within SPLIT_TARGET_WORKGROUPS, so that the small maps
 * (the LSUN UNet's 512 channels at 16x16 and 8x8: 32 workgroups per image unsplit) fill the GPU.
 * From the layer and one image only, so a batch gives each image the bits it gets alone. CPU
 * adapters (their 4x4 block tiles) never split.
 */
export function conv2dSplits(gpu: Gpu, h: number, w: number, cin: number, cout: number): number {
  const pv = conv2dPixelGroups(gpu);
  if (gpu.splitK !== 'auto' || pv === 4) return 1;
  const plan = conv2dPlan('conv3x3', 1, h, w, pv);
  const perImage = plan.workgroups[0] * plan.workgroups[1] * ceilDiv(cout, CO_BLOCK);
  let splits = 1;
  while (2 * splits <= MAX_SPLITS && cin / (2 * splits) >= MIN_SPLIT_CHANNELS && 2 * splits * perImage <= SPLIT_TARGET_WORKGROUPS) splits *= 2;
  return splits;
}

/** The output shape of conv2d(x, w, opts). */
function outputShape(x: Tensor, w: Conv2dWeights, opts: Conv2dOptions): number[] {
  const padding = opts.padding ?? 'same';
  const stride = opts.stride ?? (padding === 'down' ? 2 : 1);
  if (padding === 'down' && stride !== 2) throw new Error(`conv2d: padding 'down' is the stride-2 Downsample, got stride ${stride}`);
  if (x.shape.length !== 4 || x.shape[1] !== w.cin) throw new Error(`conv2d: input [${x.shape}] does not match weights [${w.cout}, ${w.cin}, ${w.k}, ${w.k}]`);
  const [n, , h, wd] = x.shape;
  return [n, w.cout, conv2dGeometry(h, w.k, stride, padding).out, conv2dGeometry(wd, w.k, stride, padding).out];
}

/** Whether `res` is [N, Cout, 1, 1] for an output [N, Cout, Ho, Wo] of more than one pixel (added to every pixel). */
export function residualPerImage(res: Tensor | undefined, outShape: readonly number[]): boolean {
  const [n, cout, ho, wo] = outShape;
  return !!res && ho * wo > 1 && res.shape.join() === [n, cout, 1, 1].join();
}

/** The output tensor (opts.out or a new one) after checking the shapes and that nothing aliases it. */
function checkedOutput(x: Tensor, w: Conv2dWeights, opts: Conv2dOptions): Tensor {
  const outShape = outputShape(x, w, opts);
  const [n] = outShape;
  const out = opts.out ?? Tensor.empty(x.gpu, outShape, 'conv2d');
  if (out.shape.join() !== outShape.join()) throw new Error(`conv2d: output [${out.shape}] is not [${outShape}]`);
  const res = opts.residual;
  if (res && res.shape.join() !== outShape.join() && !residualPerImage(res, outShape)) throw new Error(`conv2d: residual [${res.shape}] is neither [${outShape}] nor [${n}, ${w.cout}, 1, 1]`);
  const norm = opts.norm;
  if (norm && norm.stats.size !== n * w.cin * 4) throw new Error(`conv2d: GroupNorm statistics [${norm.stats.shape}] are not those of [${x.shape}]`);
  // WebGPU forbids binding one buffer as read-only and writable storage in the same dispatch.
  if (out.buffer === x.buffer || out.buffer === res?.buffer) throw new Error('conv2d: the output must not alias the input or the residual');
  return out;
}

/**
 * conv2d with an explicit largest pixel tile (PV, lowered on narrow outputs by
 * conv2dFitPixelGroups), so that tests and benchmarks reach every variant on any adapter;
 * `maxPerDim` (default: the adapter's limit) lets tests exercise the split of the pixel tiles'
 * workgroups over x and z.
 */
export function conv2dTiled(x: Tensor, w: Conv2dWeights, opts: Conv2dOptions, pv: PixelGroups, maxPerDim?: number, splits = 1, reads: Conv2dReads = conv2dReads(x.gpu)): Tensor {
  const gpu = x.gpu;
  const out = checkedOutput(x, w, opts);
  if (!out.size) return out;
  const padding = opts.padding ?? 'same';
  const stride = opts.stride ?? (padding === 'down' ? 2 : 1);
  const [n, cin, h, wd] = x.shape;
  const gy = conv2dGeometry(h, w.k, stride, padding);
  const gx = conv2dGeometry(wd, w.k, stride, padding);
  const res = opts.residual;
  const hasResidual = !res ? 0 : residualPerImage(res, out.shape) ? 2 : 1;
  const norm = opts.norm;

  const blocks = ceilDiv(w.cout, CO_BLOCK);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (blocks > maxWg) throw new Error(`conv2d: ${w.cout} output channels need more than ${maxWg} workgroups per dimension`);
  const plan = conv2dPlan(conv2dEntry(w.k, stride, padding), n, gy.out, gx.out, pv, Math.min(maxWg, maxPerDim ?? maxWg));
  const [groupsX, groupsZ] = plan.workgroups;
  if (!Number.isInteger(splits) || splits < 1 || splits > cin) throw new Error(`conv2d: split-K needs 1 .. ${cin} parts, got ${splits}`);
  if (splits > 1 && plan.entry !== 'conv3x3') throw new Error(`conv2d: split-K serves the conv3x3 row tiles, not ${plan.entry}`);
  if (blocks * splits > maxWg) throw new Error(`conv2d: ${splits} parts of ${blocks} channel blocks exceed ${maxWg} workgroups per dimension`);
  // Split-K: the parts' raw sums into one plane each, then conv2d_splitk.wgsl adds them and applies the epilogue.
  const parts = splits > 1 ? Tensor.empty(gpu, [splits, ...out.shape], 'conv2d.parts') : null;
  // The weights' and the input's texel mirrors, where they are read so and fit (else from storage).
  const wt = reads.weights === 'texels' ? mirror(w.weight, 'conv2d.Wt') : null;
  const xt = laneMirror(x, reads.x, 'conv2d.Xt');
  gpu.dispatch({
    shader: 'conv2d',
    entry: plan.entry,
    overrides: { WG: plan.wg, PV: plan.pv, NORM: norm ? (norm.swish ? 2 : 1) : 0, W_TEXELS: wt ? 1 : 0, X_TEXELS: xt ? 1 : 0 },
    params: {
      cin,
      h,
      w: wd,
      cout: w.cout,
      ho: gy.out,
      wo: gx.out,
      k: w.k,
      stride,
      pad: gy.pad,
      tiles_x: plan.tilesX,
      has_bias: w.bias && !parts ? 1 : 0,
      has_residual: parts ? 0 : hasResidual,
      act: parts ? 0 : ACT[opts.act ?? 'none'],
      n,
      groups_x: groupsX,
      blocks,
      splits,
      split_plane: out.size,
    },
    // Bindings the kernel does not read (no bias, no residual, no statistics) are filled with buffers already bound.
    buffers: [x.binding, w.weight.binding, (w.bias ?? w.weight).binding, (res ?? x).binding, (parts ?? out).binding, (norm?.stats ?? x).binding, wt ?? gpu.texturePlaceholder, xt ?? gpu.texturePlaceholder],
    workgroups: [groupsX, blocks * splits, groupsZ],
    label: `conv2d${w.k}x${w.k}s${stride}`,
  });
  wt?.release();
  xt?.release();
  if (parts) {
    const g = grid1d(out.size, SPLITK_WG, maxWg);
    gpu.dispatch({
      shader: 'conv2d_splitk',
      overrides: { WG: SPLITK_WG },
      params: { count: out.size, splits, pixels: gy.out * gx.out, cout: w.cout, has_bias: w.bias ? 1 : 0, has_residual: hasResidual, act: ACT[opts.act ?? 'none'], row: g.row },
      buffers: [parts.binding, (w.bias ?? parts).binding, (res ?? parts).binding, out.binding],
      workgroups: g.workgroups,
      label: 'conv2d.splitk',
    });
    parts.dispose();
  }
  return out;
}

const SPLITK_WG = 64;
