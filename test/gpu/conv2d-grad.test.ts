/**
 * conv2d backward against PyTorch (tools/golden/conv2d_grad.py). For each case the generator draws
 * x, w and dy and stores `torch.autograd.grad((F.conv2d(x, w, stride=s, padding=p) * dy).sum(),
 * (x, w))` in float32 (dx, dw) and in float64 (dx64, dw64); the kernels are compared to the
 * float64 gradients, relative to max(1, max |gradient|).
 * Tolerances, from the errors measured on llvmpipe and SwiftShader (the same on both), beside
 * PyTorch's own float32 error against float64 (recorded in the fixture's metadata):
 *   dx 1e-6: each value sums up to 272 products (stem_even: 17 channels x 16 taps of a parity
 *            class); measured <= 4.9e-7 over every case and tile (PyTorch <= 3.6e-7).
 *   dw 1e-6: each value sums N*Ho*Wo products, up to 1872 (k3s1_long), per slice in 4 partial
 *            sums and then across slices; measured <= 2.2e-7, the chunked sums included
 *            (PyTorch <= 1.4e-6).
 * The weight layouts are permutations (and zero padding) and must be exact.
 */
import { describe, expect, it } from 'vitest';
import { prepareConv2d } from '../../src/kernels/conv2d.js';
import {
  conv2dBackwardData,
  conv2dBackwardDataTiled,
  conv2dBackwardWeight,
  conv2dWgradSlices,
  layoutConv2dGradWeights,
  layoutConv2dWeights,
} from '../../src/kernels/conv2d-grad.js';
import { Tensor } from '../../src/tensor.js';
import { BufferUsage } from '../../src/gpu/usage.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { expectClose, loadGolden, sweepsEveryVariant, testGpu, type Golden } from './helpers.js';

const golden = loadGolden('conv2d_grad');
const DX_TOL = 1e-6;
const DW_TOL = 1e-6;
// The first dispatch of each variant compiles its pipeline (seconds on llvmpipe, more when busy).
const COMPILE_MS = 120_000;

const cases = ['stem_odd', 'stem_even', 'k3s1_odd', 'k3s1_even', 'k3s1_long', 'k3s2_odd', 'k3s2_even', 'k1s1', 'k1s1_wide', 'k1s2_odd', 'k1s2_even', 'k5s2p1', 'k3s1p0'];

/** k, stride and pad of a case, from the metadata ('k3 stride 2 pad 1'). */
function conv(g: Golden, name: string): { k: number; stride: 1 | 2; pad: number } {
  const m = /^k(\d+) stride (\d) pad (\d)$/.exec(g.metadata[`${name}.conv`]);
  if (!m) throw new Error(`no conv description for ${name}`);
  return { k: Number(m[1]), stride: Number(m[2]) as 1 | 2, pad: Number(m[3]) };
}

/** A buffer standing in for a parameter arena: `bytes` long, filled with `fill`. */
function arena(gpu: Gpu, bytes: number, fill: number): GPUBuffer {
  const buffer = gpu.device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label: 'arena' });
  gpu.write(buffer, 0, new Float32Array(bytes / 4).fill(fill));
  return buffer;
}

/** The values of rows [from, to) of an NCHW tensor's batch as a new tensor. */
function batchSlice(gpu: Gpu, g: Golden, name: string, from: number, to: number): Tensor {
  const shape = g.shape(name);
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  return Tensor.from(gpu, g.get(name).slice(from * per, to * per), [to - from, ...shape.slice(1)], `${name}[${from}:${to}]`);
}

describe('conv2d backward', () => {
  it.each(cases)('layouts of %s equal prepareConv2d and its transpose', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const w = g.tensor(gpu, `${name}.w`);
    const [cout, cin, k] = g.shape(`${name}.w`);
    const fwd = layoutConv2dWeights(w);
    const cpu = prepareConv2d(gpu, g.get(`${name}.w`), [cout, cin, k, k]);
    expect(fwd.bias).toBeNull();
    expect(Array.from(await fwd.weight.read())).toEqual(Array.from(await cpu.weight.read()));
    // The dgrad layout is prepareConv2d's of the transposed, flipped kernel wf[ci,co,ky,kx] = w[co,ci,k-1-ky,k-1-kx].
    const src = g.get(`${name}.w`);
    const flipped = new Float32Array(src.length);
    for (let co = 0; co < cout; co++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let t = 0; t < k * k; t++) flipped[(ci * cout + co) * k * k + t] = src[(co * cin + ci) * k * k + k * k - 1 - t];
      }
    }
    const cpuT = prepareConv2d(gpu, flipped, [cin, cout, k, k]);
    const grad = layoutConv2dGradWeights(w);
    expect([grad.cout, grad.cin, grad.k]).toEqual([cin, cout, k]);
    expect(Array.from(await grad.weight.read())).toEqual(Array.from(await cpuT.weight.read()));
    [fwd, cpu, cpuT, grad].forEach((t) => t.dispose());
    w.dispose();
  });

  it('re-lays out weights in place from a view into an arena', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const shape = g.shape('k3s1_even.w');
    const buffer = arena(gpu, 512 + g.get('k3s1_even.w').length * 4 + 256, 7);
    gpu.write(buffer, 512, g.get('k3s1_even.w'));
    const view = Tensor.view(gpu, buffer, 512, shape, 'arena.w');
    const zeros = Tensor.from(gpu, new Float32Array(g.get('k3s1_even.w').length), shape);
    const fwd = layoutConv2dWeights(zeros);
    const grad = layoutConv2dGradWeights(zeros);
    expect(layoutConv2dWeights(view, fwd)).toBe(fwd);
    expect(layoutConv2dGradWeights(view, grad)).toBe(grad);
    const cpu = prepareConv2d(gpu, g.get('k3s1_even.w'), shape);
    expect(Array.from(await fwd.weight.read())).toEqual(Array.from(await cpu.weight.read()));
    const dx = conv2dBackwardData(g.tensor(gpu, 'k3s1_even.dy'), grad, { stride: 1, pad: 1, inputSize: [8, 10] });
    expectClose(await dx.read(), g.get('k3s1_even.dx64'), DX_TOL, 'dx through re-laid-out weights');
    expect(() => layoutConv2dWeights(g.tensor(gpu, 'k1s1.w'), fwd)).toThrow(/layoutConv2dWeights: weights for \[18, 20, 3, 3\] cannot take weight \[20,12,1,1\]/);
    [zeros, fwd, grad, cpu, dx].forEach((t) => t.dispose());
    buffer.destroy();
  });

  it.each(cases)('dx of %s', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const { k, stride, pad } = conv(g, name);
    const [, , h, w] = g.shape(`${name}.x`);
    const wt = g.tensor(gpu, `${name}.w`);
    const grad = layoutConv2dGradWeights(wt);
    const dy = g.tensor(gpu, `${name}.dy`);
    const dx = conv2dBackwardData(dy, grad, { stride, pad, inputSize: [h, w] });
    expect(dx.shape).toEqual(g.shape(`${name}.x`));
    expect(k).toBe(g.shape(`${name}.w`)[2]);
    const got = await dx.read();
    expectClose(got, g.get(`${name}.dx64`), DX_TOL, `${name} dx`);
    [wt, grad, dy, dx].forEach((t) => t.dispose());
  }, COMPILE_MS);

  // The parity-class kernel with every tile: 2 and 3 taps per class (k5s2p1; its six tiles take
  // llvmpipe 39 s to compile, see sweepsEveryVariant), classes without taps (k1s2_even), stride 1
  // where the forward kernel serves by default and several channel blocks (k1s1_wide).
  it.each(['k5s2p1', 'k1s2_even', 'k1s1_wide'].filter((c) => sweepsEveryVariant() || c !== 'k5s2p1'))('dx of %s with every tile', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const { stride, pad } = conv(g, name);
    const [, , h, w] = g.shape(`${name}.x`);
    const wt = g.tensor(gpu, `${name}.w`);
    const grad = layoutConv2dGradWeights(wt);
    const dy = g.tensor(gpu, `${name}.dy`);
    const dx = Tensor.empty(gpu, g.shape(`${name}.x`));
    for (const channels of [4, 16] as const) {
      for (const pv of [1, 2, 4] as const) {
        gpu.write(dx.buffer, 0, new Float32Array(dx.size).fill(NaN));
        conv2dBackwardDataTiled(dy, grad, { stride, pad, inputSize: [h, w], out: dx }, { channels, pv });
        const tiled = await dx.read();
        expectClose(tiled, g.get(`${name}.dx64`), DX_TOL, `${name} dx with ${channels} channels x ${pv} pixel groups`);
      }
    }
    [wt, grad, dy, dx].forEach((t) => t.dispose());
  }, COMPILE_MS);

  it.each(cases)('dw of %s, overwriting and accumulating over two chunks of the batch into an arena view', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const opts = conv(g, name);
    const shape = g.shape(`${name}.w`);
    const bytes = shape.reduce((a, b) => a * b, 4);
    // dw at a 256-byte offset of a buffer holding garbage: the first chunk must overwrite it.
    const buffer = arena(gpu, 256 + bytes + 256, 3.5);
    const dw = Tensor.view(gpu, buffer, 256, shape, 'arena.dw');
    const x = g.tensor(gpu, `${name}.x`);
    const dy = g.tensor(gpu, `${name}.dy`);
    conv2dBackwardWeight(x, dy, opts, dw);
    const whole = await dw.read();
    expectClose(whole, g.get(`${name}.dw64`), DW_TOL, `${name} dw`);

    const n = g.shape(`${name}.x`)[0];
    const split = Math.ceil(n / 2);
    const chunks = [[0, split], [split, n]].map(([a, b]) => [batchSlice(gpu, g, `${name}.x`, a, b), batchSlice(gpu, g, `${name}.dy`, a, b)]);
    gpu.write(buffer, 256, new Float32Array(bytes / 4).fill(-2));
    chunks.forEach(([cx, cdy], i) => conv2dBackwardWeight(cx, cdy, { ...opts, accumulate: i > 0 }, dw));
    const summed = await dw.read();
    expectClose(summed, g.get(`${name}.dw64`), DW_TOL, `${name} dw from two chunks`);
    // The bytes around the view are untouched.
    const around = new Float32Array(await gpu.read(buffer, 0, buffer.size));
    expect(around.subarray(0, 64).every((v) => v === 3.5) && around.subarray(64 + bytes / 4).every((v) => v === 3.5)).toBe(true);
    [x, dy, ...chunks.flat()].forEach((t) => t.dispose());
    buffer.destroy();
  }, COMPILE_MS);

  // Real training sizes take the wide tile, the fixtures' small convs the narrow one: both sum
  // every accumulator in the same order. Each case's wide tile is a pipeline of its own (entry,
  // stride, kernel width) that llvmpipe takes 14 .. 54 s to compile: there, 3x3 stride 1 only.
  it.each(cases.filter((c) => sweepsEveryVariant() || c === 'k3s1_odd'))('dw of %s: the wide and the narrow tile give the same bits', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const opts = conv(g, name);
    const x = g.tensor(gpu, `${name}.x`);
    const dy = g.tensor(gpu, `${name}.dy`);
    const dw = Tensor.empty(gpu, g.shape(`${name}.w`));
    const got: Float32Array[] = [];
    for (const w of [true, false]) {
      conv2dBackwardWeight(x, dy, { ...opts, wide: w }, dw);
      got.push(await dw.read());
    }
    expectClose(got[0], g.get(`${name}.dw64`), DW_TOL, `${name} dw, wide tile`);
    expect(Array.from(got[0])).toEqual(Array.from(got[1]));
    [x, dy, dw].forEach((t) => t.dispose());
  }, COMPILE_MS);

  it('splits the reduction into slices within the binding limit', () => {
    // 3 images x 24 rows x 7 groups of 4 pixels (k3s1_long), 8 invocations per slice: the floor of
    // 64 steps per slice allows 7 slices.
    expect(conv2dWgradSlices(504, 8, 4 * 432, 4096, 1 << 27)).toEqual({ stepsPerSlice: 72, slices: 7 });
    // A GPU-sized target (2 x 64 x 16 steps, 256 invocations per slice) is capped by the floor;
    // the binding limit caps the partial sums.
    expect(conv2dWgradSlices(2048, 256, 4 * 36864, 1 << 17, 1 << 27)).toEqual({ stepsPerSlice: 64, slices: 32 });
    expect(conv2dWgradSlices(2048, 256, 4 * 36864, 1 << 17, 20 * 4 * 36864)).toEqual({ stepsPerSlice: 103, slices: 20 });
    // Enough invocations without splitting: one slice, written directly.
    expect(conv2dWgradSlices(32, 16384, 4 * 2359296, 4096, 1 << 27)).toEqual({ stepsPerSlice: 32, slices: 1 });
  });

  it('refuses mismatched shapes, unsupported convolutions and aliasing', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, 'k3s2_odd.x'); // [2, 6, 9, 11]
    const dy = g.tensor(gpu, 'k3s2_odd.dy'); // [2, 5, 5, 6]
    const w = g.tensor(gpu, 'k3s2_odd.w');
    const grad = layoutConv2dGradWeights(w);
    const dw = Tensor.empty(gpu, [5, 6, 3, 3]);
    expect(() => conv2dBackwardData(dy, grad, { stride: 2, pad: 1, inputSize: [9, 13] })).toThrow(/conv2dBackwardData: dy \[2,5,5,6\] is not \[2,5,5,7\]/);
    expect(() => conv2dBackwardData(dy, grad, { stride: 2, pad: 2, inputSize: [9, 11] })).toThrow(/conv2dBackwardData: padding 2 is not in 0..1/);
    expect(() => conv2dBackwardData(dy, grad, { stride: 2, pad: 1, inputSize: [9, 11], out: dy })).toThrow(/conv2dBackwardData: output \[2,5,5,6\] is not \[2,6,9,11\]/);
    expect(() => conv2dBackwardWeight(x, dy, { k: 3, stride: 1, pad: 1 }, dw)).toThrow(/conv2dBackwardWeight: dy \[2,5,5,6\] is not \[2, Cout, 9, 11\]/);
    expect(() => conv2dBackwardWeight(x, dy, { k: 4, stride: 2, pad: 1 }, dw)).toThrow(/kernel size 4/);
    expect(() => conv2dBackwardWeight(x, dy, { k: 3, stride: 3 as 2, pad: 1 }, dw)).toThrow(/stride 3/);
    expect(() => conv2dBackwardWeight(x, dy, { k: 3, stride: 2, pad: 1 }, Tensor.empty(gpu, [5, 6, 1, 1]))).toThrow(/dw \[5,6,1,1\] is not \[5,6,3,3\]/);
    expect(() => conv2dBackwardWeight(x, dy, { k: 3, stride: 2, pad: 1 }, Tensor.view(gpu, x.buffer, 0, [5, 6, 3, 3]))).toThrow(/dw must not share a buffer with x or dy/);
    expect(() => layoutConv2dWeights(x)).toThrow(/layoutConv2dWeights: weight \[2,6,9,11\] is not \[Cout, Cin, k, k\]/);
    [x, dy, w, grad, dw].forEach((t) => t.dispose());
  });
});
