/**
 * Backward of conv2d (NCHW, f32) for training, and the GPU re-layouts of PyTorch-layout weights.
 *
 * Training keeps conv weights in PyTorch layout [Cout, Cin, k, k] (what Adam updates and
 * checkpoints store). `layoutConv2dWeights` turns them into the forward kernel's blocked layout and
 * `layoutConv2dGradWeights` into the flipped, transposed layout of the input gradient, both on the
 * GPU (conv2d_dgrad.wgsl `layout_fwd`, `layout_dgrad`), in place after every optimizer step.
 *
 * `conv2dBackwardData` (dx) is a convolution of dy with the flipped transposed kernel: for stride 1
 * and pad (k-1)/2 it is the forward kernel itself ('same' padding, so the forward's speed); every
 * other case runs conv2d_dgrad.wgsl `dgrad` (or `dgrad4` for few channels) once per parity class
 * of dx's pixels, so that no zero of the upsampled dy is read. `conv2dBackwardWeight` (dw) is a
 * GEMM with a reduction over N*Ho*Wo (conv2d_wgrad.wgsl): split-K slices of it, partial sums in
 * one buffer within the binding limit, then a reduction pass; `accumulate` adds to dw so that a
 * batch arriving in binding-sized chunks sums into one gradient.
 *
 * Supported: square odd kernels up to 7x7, stride 1 or 2, padding 0..(k-1)/2 (every conv of
 * torchvision's ResNets).
 */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor } from '../tensor.js';
import { ceilDiv, grid1d, workgroupFor } from './grid.js';
import { conv2dPixelGroups, conv2dTiled, type Conv2dWeights, type PixelGroups } from './conv2d.js';

/** Channels per weight block of the blocked layouts (one workgroup row of the kernels). */
const BLOCK = 16;
const MAX_K = 7;
const MAX_WORKGROUP = 64;
const LAYOUT_WG = 256;

/**
 * The input gradient's weights (`layoutConv2dGradWeights`): the transposed convolution dy -> dx as
 * Conv2dWeights, so `cin` is the forward's Cout and `cout` the forward's Cin.
 */
export type Conv2dGradWeights = Conv2dWeights;

export interface Conv2dGradOptions {
  stride: 1 | 2;
  /** Zero rows/columns added on every side of the input, at most (k-1)/2. */
  pad: number;
}

export interface Conv2dBackwardDataOptions extends Conv2dGradOptions {
  /** [h, w] of the forward's input: with stride 2 several input sizes give one output size. */
  inputSize: readonly [number, number];
  /** [N, Cin, h, w]: written instead of a new tensor. */
  out?: Tensor;
}

export interface Conv2dBackwardWeightOptions extends Conv2dGradOptions {
  k: number;
  /** Add to what dw holds (a batch split into chunks) instead of overwriting it. */
  accumulate?: boolean;
  /** The tile: wide from WGRAD_WIDE_MACS multiply-adds on (the default), or as given. */
  wide?: boolean;
}

function checkKernel(op: string, k: number, stride: number, pad: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_K || k % 2 === 0) throw new Error(`${op}: kernel size ${k} is not an odd size up to ${MAX_K}`);
  if (stride !== 1 && stride !== 2) throw new Error(`${op}: stride ${stride} is not 1 or 2`);
  if (!Number.isInteger(pad) || pad < 0 || pad > (k - 1) / 2) throw new Error(`${op}: padding ${pad} is not in 0..${(k - 1) / 2} for a ${k}x${k} kernel`);
}

/** Output size of the forward convolution along one axis. */
function outSize(size: number, k: number, stride: number, pad: number): number {
  const padded = size + 2 * pad;
  return padded < k ? 0 : Math.floor((padded - k) / stride) + 1;
}

/** The PyTorch weight's [cout, cin, k], checked. */
function weightShape(op: string, weight: Tensor): [number, number, number] {
  const [cout, cin, k, k2] = weight.shape;
  if (weight.shape.length !== 4 || k !== k2 || cout < 1 || cin < 1) throw new Error(`${op}: weight [${weight.shape}] is not [Cout, Cin, k, k]`);
  checkKernel(op, k, 1, 0);
  return [cout, cin, k];
}

/**
 * Records one layout dispatch into `out` (or new weights of `shape`, with the channel counts
 * `dims`): `entry` of conv2d_dgrad.wgsl reads the PyTorch weight and writes every laid-out value.
 */
function layout(op: string, entry: 'layout_fwd' | 'layout_dgrad', weight: Tensor, dims: { cout: number; cin: number; k: number }, shape: number[], out?: Conv2dWeights): Conv2dWeights {
  const gpu = weight.gpu;
  const [wCout, wCin, k] = weightShape(op, weight);
  if (out && (out.cout !== dims.cout || out.cin !== dims.cin || out.k !== dims.k || out.weight.shape.join() !== shape.join())) {
    throw new Error(`${op}: weights for [${out.cout}, ${out.cin}, ${out.k}, ${out.k}] cannot take weight [${weight.shape}]`);
  }
  const target = out?.weight ?? Tensor.empty(gpu, shape, `${op}.weight`);
  if (target.buffer === weight.buffer) throw new Error(`${op}: the laid-out weights must not alias weight [${weight.shape}]`);
  const count = target.size;
  const g = grid1d(count, LAYOUT_WG, gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    shader: 'conv2d_dgrad',
    entry,
    overrides: { WG: LAYOUT_WG },
    params: { cin: wCin, h: 0, w: 0, cout: wCout, ho: 0, wo: 0, k, stride: 1, pad: 0, py: 0, px: 0, rows: 0, tiles_x: 0, count, row: g.row, n: 0, groups_x: 0 },
    buffers: [weight.binding, weight.binding, target.binding],
    workgroups: g.workgroups,
    label: `conv2d.${entry}`,
  });
  if (out) return out;
  return { ...dims, weight: target, bias: null, dispose: () => target.dispose() };
}

/**
 * The forward kernel's weights ([ceil(Cout/16), Cin, k, k, 16], no bias) from a PyTorch weight
 * [Cout, Cin, k, k], laid out on the GPU; rewrites `out` in place when given.
 */
export function layoutConv2dWeights(weight: Tensor, out?: Conv2dWeights): Conv2dWeights {
  const [cout, cin, k] = weightShape('layoutConv2dWeights', weight);
  return layout('layoutConv2dWeights', 'layout_fwd', weight, { cout, cin, k }, [ceilDiv(cout, BLOCK), cin, k, k, BLOCK], out);
}

/**
 * The input gradient's weights from a PyTorch weight [Cout, Cin, k, k]: the transposed convolution
 * as Conv2dWeights (its `cin` is the forward's Cout, its `cout` the forward's Cin), laid out
 * [ceil(Cin/16), Cout, k, k, 16] with the taps flipped; rewrites `out` in place when given.
 */
export function layoutConv2dGradWeights(weight: Tensor, out?: Conv2dGradWeights): Conv2dGradWeights {
  const [cout, cin, k] = weightShape('layoutConv2dGradWeights', weight);
  return layout('layoutConv2dGradWeights', 'layout_dgrad', weight, { cout: cin, cin: cout, k }, [ceilDiv(cin, BLOCK), cout, k, k, BLOCK], out);
}


/**
 * dx [N, Cin, h, w] from dy [N, Cout, Ho, Wo] and `layoutConv2dGradWeights`' weights:
 * dx[n,ci,iy,ix] = sum over co, ky, kx with iy = oy*s + ky - pad, ix = ox*s + kx - pad of
 * dy[n,co,oy,ox] * w[co,ci,ky,kx].
 */
export function conv2dBackwardData(dy: Tensor, w: Conv2dGradWeights, opts: Conv2dBackwardDataOptions): Tensor {
  const out = dxFor(dy, w, opts);
  const { stride, pad } = opts;
  if (!out.size) return out;
  if (stride === 1 && pad === (w.k - 1) / 2) return conv2dTiled(dy, w, { padding: 'same', out }, conv2dPixelGroups(dy.gpu));
  return dgradClasses(dy, w, opts, out, dgradTile(dy.gpu, w.cout, ceilDiv(opts.inputSize[1], stride)));
}

/** Checks dy against the weights and the input size; the output tensor (given or new). */
function dxFor(dy: Tensor, w: Conv2dGradWeights, opts: Conv2dBackwardDataOptions): Tensor {
  const { stride, pad } = opts;
  const [h, wd] = opts.inputSize;
  checkKernel('conv2dBackwardData', w.k, stride, pad);
  const n = dy.shape[0];
  const expected = [n, w.cin, outSize(h, w.k, stride, pad), outSize(wd, w.k, stride, pad)];
  if (dy.shape.length !== 4 || expected.join() !== dy.shape.join()) {
    throw new Error(`conv2dBackwardData: dy [${dy.shape}] is not [${expected}] (the output of a ${w.k}x${w.k} stride ${stride} pad ${pad} conv of ${w.cout} channels at ${h}x${wd} to ${w.cin})`);
  }
  const outShape = [n, w.cout, h, wd];
  const out = opts.out ?? Tensor.empty(dy.gpu, outShape, 'conv2d.dx');
  if (out.shape.join() !== outShape.join()) throw new Error(`conv2dBackwardData: output [${out.shape}] is not [${outShape}]`);
  if (out.buffer === dy.buffer) throw new Error('conv2dBackwardData: the output must not alias dy');
  return out;
}

/** The class kernel's tile: 16 channels x 4*pv pixels (`dgrad`) or 4 channels x 16*pv pixels (`dgrad4`). */
export interface DgradTile {
  channels: 4 | 16;
  pv: PixelGroups;
}

/**
 * The tile for dx channels `cin` and parity classes `classWidth` pixels wide: few channels (the
 * stem's 3) take the 4-channel tile, which reads as many dy values per FMA as the 16-channel tile
 * wastes on padding; the adapter's pixel tile (conv2dPixelGroups), halved while a class row needs
 * less than half of it.
 */
export function dgradTile(gpu: Gpu, cin: number, classWidth: number): DgradTile {
  const channels = cin <= 8 ? 4 : 16;
  const perGroup = channels === 4 ? 16 : 4;
  let pv: PixelGroups = conv2dPixelGroups(gpu);
  while (pv > 1 && (pv / 2) * perGroup >= classWidth) pv = (pv / 2) as PixelGroups;
  return { channels, pv };
}

/**
 * conv2dBackwardData through the parity-class kernel with an explicit tile, whatever the stride
 * and padding (so that tests and benchmarks reach every variant on any adapter).
 */
export function conv2dBackwardDataTiled(dy: Tensor, w: Conv2dGradWeights, opts: Conv2dBackwardDataOptions, tile: DgradTile): Tensor {
  const out = dxFor(dy, w, opts);
  return out.size ? dgradClasses(dy, w, opts, out, tile) : out;
}

/** Taps of parity class q along one axis: flipped taps t with (q + t - (k-1-pad)) % s == 0. */
function classTaps(q: number, k: number, stride: number, pad: number): number {
  let taps = 0;
  for (let t = 0; t < k; t++) if ((((q + t - (k - 1 - pad)) % stride) + stride) % stride === 0) taps++;
  return taps;
}

/** Records the parity-class kernel: one dispatch of conv2d_dgrad.wgsl `dgrad` or `dgrad4` per class. */
function dgradClasses(dy: Tensor, w: Conv2dGradWeights, opts: Conv2dBackwardDataOptions, out: Tensor, tile: DgradTile): Tensor {
  const gpu = dy.gpu;
  const { stride, pad } = opts;
  const [h, wd] = opts.inputSize;
  const [n, cout, ho, wo] = dy.shape;
  // One parity class of dx: ceil(h/s) x ceil(w/s) pixels.
  const rows = ceilDiv(h, stride);
  const tilesX = ceilDiv(ceilDiv(wd, stride), (tile.channels === 4 ? 16 : 4) * tile.pv);
  // Lanes over the class tiles of the whole batch (small images share workgroups), continued
  // along z past the adapter's workgroups per dimension.
  const lanes = n * rows * tilesX;
  const wg = workgroupFor(lanes);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const flat = ceilDiv(lanes, wg);
  const z = ceilDiv(flat, maxWg);
  const groupsX = ceilDiv(flat, z);
  const groups = [groupsX, ceilDiv(w.cout, tile.channels), z] as const;
  if (groups.some((g) => g > maxWg)) throw new Error(`conv2dBackwardData: dx [${out.shape}] needs more than ${maxWg} workgroups per dimension; split the batch`);
  for (let py = 0; py < stride; py++) {
    for (let px = 0; px < stride; px++) {
      const [nky, nkx] = [classTaps(py, w.k, stride, pad), classTaps(px, w.k, stride, pad)];
      const params = { cin: w.cout, h, w: wd, cout, ho, wo, k: w.k, stride, pad, py, px, rows, tiles_x: tilesX, count: 0, row: 0, n, groups_x: groupsX };
      if (!nky || !nkx) {
        const count = n * w.cout * ceilDiv(h - py, stride) * ceilDiv(wd - px, stride);
        const z = grid1d(count, LAYOUT_WG, maxWg);
        gpu.dispatch({
          shader: 'conv2d_dgrad',
          entry: 'dgrad_zero',
          overrides: { WG: LAYOUT_WG },
          params: { ...params, count, row: z.row },
          buffers: [dy.binding, w.weight.binding, out.binding],
          workgroups: z.workgroups,
          label: 'conv2d_dgrad_zero',
        });
        continue;
      }
      gpu.dispatch({
        shader: 'conv2d_dgrad',
        entry: tile.channels === 4 ? 'dgrad4' : 'dgrad',
        overrides: { WG: wg, PV: tile.pv, NKY: nky, NKX: nkx },
        params,
        buffers: [dy.binding, w.weight.binding, out.binding],
        workgroups: groups,
        label: `conv2d_dgrad${tile.channels === 4 ? '4' : ''}${w.k}x${w.k}s${stride}`,
      });
    }
  }
  return out;
}

type WgradEntry = 'wgrad3x3' | 'wgrad1x1' | 'wgrad';

/**
 * Entry and invocations per (slice, block of 16 output channels) for the wide or narrow tile
 * (conv2d_wgrad.wgsl's WIDE: twice the input channels, or kernel rows, per invocation).
 */
function wgradEntry(k: number, cin: number, wide: boolean): { entry: WgradEntry; lanes: number } {
  const f = wide ? 2 : 1;
  if (k === 3) return { entry: 'wgrad3x3', lanes: ceilDiv(cin, 2 * f) };
  if (k === 1) return { entry: 'wgrad1x1', lanes: ceilDiv(cin, 16 * f) };
  return { entry: 'wgrad', lanes: cin * ceilDiv(k, 2 * f) };
}

/**
 * Multiply-adds from which a weight gradient takes the wide tile: it runs up to 1.5x faster on
 * llvmpipe, but llvmpipe takes about 30 s to compile it (once per machine; Mesa caches it), which
 * only real training repays. Every conv of a ResNet at 256x256 is past this from batch 1 (the
 * smallest, layer4's 1x1, does 6.7e7 per image); toy images and narrow test nets stay narrow.
 */
export const WGRAD_WIDE_MACS = 2 ** 26;

/**
 * Invocations the split-K grid aims at: on CPU adapters (the forward's large pixel tile) 64
 * workgroups of 64, plenty for their threads, where further slices only add partial sums; enough
 * to fill a GPU elsewhere.
 */
function targetInvocations(gpu: Gpu): number {
  return conv2dPixelGroups(gpu) > 1 ? 4096 : 1 << 17;
}

/** Fewest steps (groups of 4 dy pixels) one slice reduces, so that its partial sums cost little beside its FMAs. */
const MIN_SLICE_STEPS = 64;

/**
 * Steps of the reduction (groups of 4 pixels of a dy row) per slice, and the number of slices:
 * enough slices for `target` invocations, at least MIN_SLICE_STEPS steps each, partial sums
 * (slices x `sizeBytes`) within one binding.
 */
export function conv2dWgradSlices(steps: number, perSlice: number, sizeBytes: number, target: number, maxBinding: number): { stepsPerSlice: number; slices: number } {
  const byWork = Math.ceil(target / perSlice);
  const bySteps = Math.floor(steps / MIN_SLICE_STEPS);
  const byBinding = Math.floor(maxBinding / sizeBytes);
  const wanted = Math.max(1, Math.min(byWork, bySteps, byBinding));
  const stepsPerSlice = Math.ceil(steps / wanted);
  return { stepsPerSlice, slices: Math.ceil(steps / stepsPerSlice) };
}

/**
 * dw [Cout, Cin, k, k] (PyTorch layout; may be a view into an arena) (+)= the weight gradient of
 * the convolution of x [N, Cin, h, w] that produced dy [N, Cout, Ho, Wo]:
 * dw[co,ci,ky,kx] = sum over n, oy, ox of dy[n,co,oy,ox] * x[n,ci,oy*s+ky-pad,ox*s+kx-pad].
 */
export function conv2dBackwardWeight(x: Tensor, dy: Tensor, opts: Conv2dBackwardWeightOptions, dw: Tensor): void {
  const gpu = x.gpu;
  const { k, stride, pad } = opts;
  checkKernel('conv2dBackwardWeight', k, stride, pad);
  if (x.shape.length !== 4) throw new Error(`conv2dBackwardWeight: x [${x.shape}] is not [N, Cin, h, w]`);
  const [n, cin, h, wd] = x.shape;
  const cout = dy.shape[1];
  const [ho, wo] = [outSize(h, k, stride, pad), outSize(wd, k, stride, pad)];
  if (dy.shape.length !== 4 || [n, cout, ho, wo].join() !== dy.shape.join() || cout < 1) {
    throw new Error(`conv2dBackwardWeight: dy [${dy.shape}] is not [${n}, Cout, ${ho}, ${wo}] (the output of a ${k}x${k} stride ${stride} pad ${pad} conv of x [${x.shape}])`);
  }
  const dwShape = [cout, cin, k, k];
  if (dw.shape.join() !== dwShape.join()) throw new Error(`conv2dBackwardWeight: dw [${dw.shape}] is not [${dwShape}]`);
  // WebGPU forbids binding one buffer as read-only and writable storage in the same dispatch.
  if (dw.buffer === x.buffer || dw.buffer === dy.buffer) throw new Error('conv2dBackwardWeight: dw must not share a buffer with x or dy');
  const add = opts.accumulate ? 1 : 0;
  const groupsX = ceilDiv(wo, 4);
  const steps = n * ho * groupsX;
  if (!steps) {
    if (!add) zeroWeights(dw);
    return;
  }

  const wide = opts.wide ?? n * cout * cin * k * k * ho * wo >= WGRAD_WIDE_MACS;
  const { entry, lanes } = wgradEntry(k, cin, wide);
  const coBlocks = ceilDiv(cout, BLOCK);
  const size = dw.size;
  const { stepsPerSlice, slices } = conv2dWgradSlices(steps, coBlocks * lanes, size * 4, targetInvocations(gpu), gpu.maxBinding);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const part = slices > 1 ? Tensor.empty(gpu, [slices, size], 'conv2d.dw_partials') : null;
  const g = grid1d(slices * coBlocks * lanes, MAX_WORKGROUP, maxWg);
  const params = { cin, h, w: wd, cout, ho, wo, k, stride, pad, lanes, co_blocks: coBlocks, groups_x: groupsX, steps, steps_per_slice: stepsPerSlice, size, slices };
  gpu.dispatch({
    shader: 'conv2d_wgrad',
    entry,
    overrides: { WG: MAX_WORKGROUP, S: stride, WIDE: Number(wide), ...(entry === 'wgrad' ? { KW: k } : {}) },
    params: { ...params, add: part ? 0 : add, row: g.row },
    // Part (binding 3) is only read by `reduce`: x stands in.
    buffers: [x.binding, dy.binding, x.binding, (part ?? dw).binding],
    workgroups: g.workgroups,
    label: `conv2d_wgrad${k}x${k}s${stride}`,
  });
  if (!part) return;
  const r = grid1d(size, LAYOUT_WG, maxWg);
  gpu.dispatch({
    shader: 'conv2d_wgrad',
    entry: 'reduce',
    overrides: { WG: LAYOUT_WG },
    params: { ...params, add, row: r.row },
    buffers: [part.binding, part.binding, part.binding, dw.binding],
    workgroups: r.workgroups,
    label: 'conv2d_wgrad.reduce',
  });
  part.dispose();
}

/** dw = 0 (the gradient of a convolution whose output is empty). */
function zeroWeights(dw: Tensor): void {
  dw.gpu.write(dw.buffer, dw.offset, new Float32Array(dw.size));
}
