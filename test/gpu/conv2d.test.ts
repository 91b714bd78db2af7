/**
 * conv2d against PyTorch (tools/golden/conv2d.py). Expected values come from
 * `F.conv2d(x, weight, bias, stride, padding)` ('down': `F.conv2d(F.pad(x, (0, 1, 0, 1)), weight,
 * bias, stride=2)`), then `F.silu(.)` and `+ residual` where a case says so.
 * Tolerance 1e-5 of the output scale: each output is an f32 sum of at most Cin*k*k = 147 products
 * (weights scaled by 1/sqrt(fan-in), so partial sums stay O(1)) accumulated in another order than
 * torch's; the rounding error grows like sqrt(147) * 6e-8 ~ 1e-6, and silu and the residual add
 * one more rounding each.
 */
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dEntry, conv2dGeometry, conv2dPixelGroups, conv2dTiled, prepareConv2d, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { Tensor } from '../../src/tensor.js';
import { expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('conv2d');
const TOL = 1e-5;
// The first dispatch of each variant compiles its pipeline: the 16-pixel x 16-channel register
// tile takes llvmpipe several seconds (more on a busy machine).
const COMPILE_MS = 60_000;

const cases: Array<[string, Conv2dOptions]> = [
  ['same3_odd', {}],
  ['same3_vec', {}],
  ['same3_wide', {}],
  ['same3_nobias', {}],
  ['down_even', { padding: 'down' }],
  ['down_odd', { padding: 'down' }],
  ['down1', { padding: 'down' }],
  ['same1', {}],
  ['same3_swish_res', { act: 'swish' }],
  ['same1_res', {}],
  ['same7_s2', { stride: 2 }],
  ['same3_s2', { stride: 2 }],
  ['same1_s2', { stride: 2 }],
  ['valid3', { padding: 0 }],
  ['same1_relu_res', { act: 'relu' }],
  ['same7_s2_relu', { stride: 2, act: 'relu' }],
];

describe('conv2d', () => {
  // Every case with the adapter's own pixel tile (conv2d) and with each explicit one: CPU adapters
  // pick 4 pixel groups, GPUs 1, and every variant must agree with PyTorch everywhere.
  it.each(cases)('%s', async (name, opts) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, `${name}.x`);
    const wShape = g.shape(`${name}.weight`);
    const w = prepareConv2d(gpu, g.get(`${name}.weight`), wShape, g.has(`${name}.bias`) ? g.get(`${name}.bias`) : null, name);
    const residual = g.has(`${name}.residual`) ? g.tensor(gpu, `${name}.residual`) : undefined;
    const out = conv2d(x, w, { ...opts, residual });
    expect(out.shape).toEqual(g.shape(`${name}.out`));
    expectClose(await out.read(), g.get(`${name}.out`), TOL, name);
    for (const pv of ([1, 2, 4] as const).filter((v) => v !== conv2dPixelGroups(gpu))) {
      conv2dTiled(x, w, { ...opts, residual, out }, pv);
      expectClose(await out.read(), g.get(`${name}.out`), TOL, `${name} with ${pv} pixel groups`);
    }
    [x, residual, out].forEach((t) => t?.dispose());
    w.dispose();
  }, COMPILE_MS);

  it('writes into a given output tensor, reusing one pipeline across sizes', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const w = prepareConv2d(gpu, g.get('same3_odd.weight'), g.shape('same3_odd.weight'), g.get('same3_odd.bias'));
    const x = g.tensor(gpu, 'same3_odd.x');
    const out = Tensor.empty(gpu, g.shape('same3_odd.out'));
    expect(conv2d(x, w, { out })).toBe(out);
    expectClose(await out.read(), g.get('same3_odd.out'), TOL, 'same3_odd into out');
    [x, out].forEach((t) => t.dispose());
    w.dispose();
  });

  it('routes every golden case through the entry point it exercises', () => {
    // same3_*: conv3x3; same1*: conv1x1; down*, same7_s2, same3_s2, valid3: conv.
    expect(conv2dEntry(3, 1, 'same')).toBe('conv3x3');
    expect(conv2dEntry(1, 1, 'same')).toBe('conv1x1');
    expect(conv2dEntry(1, 2, 'same')).toBe('conv1x1');
    expect(conv2dEntry(3, 2, 'down')).toBe('conv');
    expect(conv2dEntry(1, 2, 'down')).toBe('conv');
    expect(conv2dEntry(7, 2, 'same')).toBe('conv');
    expect(conv2dEntry(3, 2, 'same')).toBe('conv');
    expect(conv2dEntry(3, 1, 0)).toBe('conv');
  });

  it('computes the output size of every padding mode', () => {
    expect(conv2dGeometry(256, 3, 1, 'same')).toEqual({ out: 256, pad: 1 });
    expect(conv2dGeometry(256, 3, 2, 'down')).toEqual({ out: 128, pad: 0 });
    expect(conv2dGeometry(9, 3, 2, 'down')).toEqual({ out: 4, pad: 0 });
    expect(conv2dGeometry(224, 7, 2, 'same')).toEqual({ out: 112, pad: 3 });
    expect(conv2dGeometry(56, 1, 2, 'same')).toEqual({ out: 28, pad: 0 });
    expect(conv2dGeometry(2, 3, 1, 0)).toEqual({ out: 0, pad: 0 });
  });

  it('refuses mismatched shapes, aliasing outputs and unsupported kernels', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const w = prepareConv2d(gpu, g.get('same1.weight'), g.shape('same1.weight'), null);
    const x = g.tensor(gpu, 'same3_odd.x'); // 5 channels, the weights expect 12
    expect(() => conv2d(x, w)).toThrow(/does not match weights/);
    const x12 = g.tensor(gpu, 'same1.x');
    expect(() => conv2d(x12, w, { padding: 'down', stride: 1 })).toThrow(/stride-2/);
    expect(() => conv2d(x12, w, { residual: x12 })).toThrow(/residual \[2,12,5,11\] is not \[2,20,5,11\]/);
    const badOut = Tensor.empty(gpu, [2, 20, 5, 11]);
    expect(() => conv2d(badOut, prepareConv2d(gpu, new Float32Array(20 * 20), [20, 20, 1, 1]), { out: badOut })).toThrow(/alias/);
    expect(() => prepareConv2d(gpu, new Float32Array(16), [1, 1, 4, 4])).toThrow(/square odd kernels/);
    expect(() => prepareConv2d(gpu, new Float32Array(9), [1, 1, 3, 3], new Float32Array(2))).toThrow(/bias has 2 values/);
    [x, x12, badOut].forEach((t) => t.dispose());
    w.dispose();
  });
});
