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
import { conv2d, conv2dEntry, conv2dFitPixelGroups, conv2dGeometry, conv2dPixelGroups, conv2dPlan, conv2dSplits, conv2dTiled, prepareConv2d, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { conv1x1Gemm, conv1x1GemmServes, conv1x1PixelsPerLane } from '../../src/kernels/conv1x1-gemm.js';
import { gemmWorkgroup } from '../../src/kernels/gemm.js';
import { randomValues } from '../../src/selftest.js';
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
  // Odd batches of small images: a workgroup's lanes span images, PV shrinks to the width.
  ['batch3_2x2', {}],
  ['batch3_4x4', { act: 'swish' }],
  ['batch3_8x8', { act: 'relu' }],
  ['batch1_4x4', { act: 'relu' }],
  ['batch1_s2_8x8', { stride: 2 }],
  ['batch3_s2_8x8', { stride: 2 }],
  ['batch3_s2_4x4', { stride: 2, act: 'relu' }],
];

describe('conv2d', () => {
  // Every case with the adapter's own pixel tile (conv2d) and with each explicit one: CPU adapters
  // pick 4 pixel groups, GPUs 1, and every variant must agree with PyTorch everywhere (an explicit
  // PV is an upper bound: narrow outputs take fewer, conv2dFitPixelGroups).
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
    const byTile = new Map<number, Float32Array>([[conv2dPixelGroups(gpu), await out.read()]]);
    for (const pv of ([1, 2, 4] as const).filter((v) => v !== conv2dPixelGroups(gpu))) {
      conv2dTiled(x, w, { ...opts, residual, out }, pv);
      byTile.set(pv, await out.read());
      expectClose(byTile.get(pv)!, g.get(`${name}.out`), TOL, `${name} with ${pv} pixel groups`);
    }
    // Every tile (rows of 4, 8, 16 pixels; 4x4 blocks and 2x2 images for 3x3 at PV 4) sums each
    // output over ci, ky, kx in one order: the same bits.
    expect(Buffer.from(byTile.get(4)!.buffer).equals(Buffer.from(byTile.get(1)!.buffer)), `${name}: PV 4 and PV 1 differ`).toBe(true);
    expect(Buffer.from(byTile.get(2)!.buffer).equals(Buffer.from(byTile.get(1)!.buffer)), `${name}: PV 2 and PV 1 differ`).toBe(true);
    // The weights and the input read from storage or from texel mirrors (CPU adapters: the
    // weights always, x where the probe of src/gpu/lane-reads.ts says so): the same bits.
    for (const weights of ['storage', 'texels'] as const) {
      for (const xr of ['storage', 'texels'] as const) {
        conv2dTiled(x, w, { ...opts, residual, out }, 4, undefined, 1, { weights, x: xr });
        const got = Buffer.from((await out.read()).buffer);
        expect(got.equals(Buffer.from(byTile.get(4)!.buffer)), `${name}: weights from ${weights}, x from ${xr} differ from the default`).toBe(true);
      }
    }
    [x, residual, out].forEach((t) => t?.dispose());
    w.dispose();
  }, COMPILE_MS);

  // CPU adapters run unpadded 1x1 stride-1 layers with Cout a multiple of 16 by the batched GEMM
  // (winograd_gemm.wgsl): the same sums in the same order as conv1x1, so the same bits.
  it.each([
    ['2 images 16x16, 24 -> 32 channels', [2, 24, 16, 16], 32, true, { act: 'swish' as const }, true],
    ['1 image 8x8, 7 -> 16 channels, no bias', [1, 7, 8, 8], 16, false, { act: 'relu' as const }, true],
    ['3 images 32x32, 16 -> 48 channels', [3, 16, 32, 32], 48, true, {}, false],
    ['1 image 12x10, 5 -> 16 channels', [1, 5, 12, 10], 16, true, {}, true],
    // 64 pixels per invocation at 256 channels: workgroups of 8 lanes (gemmWorkgroup), 12 lanes in all, the second workgroup 4 of them.
    ['1 image 24x32, 256 -> 32 channels, a workgroup part-filled', [1, 256, 24, 32], 32, true, {}, true],
  ])('1x1 by the batched GEMM: %s gives conv1x1\'s bits with every register tile', async (_, shape, cout, hasBias, opts, withResidual) => {
    const gpu = await testGpu();
    const [n, cin, h, wd] = shape as number[];
    const w = prepareConv2d(gpu, randomValues(cout * cin, 1).map((v) => v / Math.sqrt(cin)), [cout, cin, 1, 1], hasBias ? randomValues(cout, 2) : null);
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    const residual = withResidual ? Tensor.from(gpu, randomValues(n * cout * h * wd, 4), [n, cout, h, wd]) : undefined;
    const o = { ...opts, residual };
    expect(conv1x1GemmServes(x, w, o)).toBe(true);
    if (cin === 256) expect(gemmWorkgroup((h * wd) / 64, 16, cin)).toBe(8);
    const direct = Buffer.from((await conv2dTiled(x, w, o, 4).read()).buffer);
    if (conv2dPixelGroups(gpu) === 4) expect(Buffer.from((await conv2d(x, w, o).read()).buffer).equals(direct), 'conv2d').toBe(true);
    for (const perLane of [8, 16, 32, 64].filter((t) => (h * wd) % t === 0)) {
      const out = Tensor.empty(gpu, [n, cout, h, wd]);
      const got = Buffer.from((await conv1x1Gemm(x, w, o, out, perLane).read()).buffer);
      expect(got.equals(direct), `${perLane} pixels per invocation`).toBe(true);
      out.dispose();
    }
    [x, residual].forEach((t) => t?.dispose());
    w.dispose();
  }, 3 * COMPILE_MS);

  it('leaves to conv1x1 the 1x1 layers the batched GEMM does not tile', async () => {
    const gpu = await testGpu();
    const w16 = prepareConv2d(gpu, new Float32Array(16 * 8), [16, 8, 1, 1]);
    const w24 = prepareConv2d(gpu, new Float32Array(24 * 8), [24, 8, 1, 1]);
    const x = (h: number, wd: number) => Tensor.empty(gpu, [1, 8, h, wd]);
    expect(conv1x1GemmServes(x(16, 16), w16, {})).toBe(true);
    expect(conv1x1GemmServes(x(16, 16), w24, {})).toBe(false); // Cout not a multiple of 16
    expect(conv1x1GemmServes(x(16, 16), w16, { stride: 2 })).toBe(false);
    expect(conv1x1GemmServes(x(4, 4), w16, {})).toBe(false); // 16 pixels: fewer than 8 invocations
    expect(conv1x1GemmServes(x(7, 9), w16, {})).toBe(false); // 63 pixels: no tile divides them
    // The most pixels per invocation that divide the map and leave 8 invocations per image.
    expect([65536, 4096, 256, 64, 120, 16].map(conv1x1PixelsPerLane)).toEqual([64, 64, 32, 8, 8, 0]);
    const out = Tensor.empty(gpu, [1, 16, 16, 16]);
    expect(() => conv1x1Gemm(x(16, 16), w16, {}, out, 12)).toThrow(/pixels per invocation/);
    out.dispose();
    w16.dispose();
    w24.dispose();
  });

  // Split-K (GPUs' small maps; forced here on the row tiles every adapter runs): the input
  // channels summed in parts, added by conv2d_splitk.wgsl, then the epilogue.
  it.each([
    ['same3_odd', {}, 2],
    ['same3_vec', {}, 3],
    ['same3_vec', {}, 16],
    ['same3_swish_res', { act: 'swish' as const }, 4],
    ['same3_nobias', {}, 4],
    ['batch3_8x8', { act: 'relu' as const }, 2],
    ['batch3_4x4', { act: 'swish' as const }, 7],
  ])('split-K: %s, %o, in %i parts of its input channels agrees with PyTorch', async (name, opts, splits) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, `${name}.x`);
    const w = prepareConv2d(gpu, g.get(`${name}.weight`), g.shape(`${name}.weight`), g.has(`${name}.bias`) ? g.get(`${name}.bias`) : null, name);
    const residual = g.has(`${name}.residual`) ? g.tensor(gpu, `${name}.residual`) : undefined;
    for (const pv of [1, 2] as const) {
      const out = conv2dTiled(x, w, { ...opts, residual }, pv, undefined, splits);
      expectClose(await out.read(), g.get(`${name}.out`), TOL, `${name} in ${splits} parts, PV ${pv}`);
      out.dispose();
    }
    [x, residual].forEach((t) => t?.dispose());
    w.dispose();
  }, COMPILE_MS);

  it('split-K: each image of a batch gets the bits it gets alone; the parts are chosen per layer, on GPUs only, when asked', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const name = 'batch3_8x8';
    const x = g.tensor(gpu, `${name}.x`);
    const w = prepareConv2d(gpu, g.get(`${name}.weight`), g.shape(`${name}.weight`), g.get(`${name}.bias`), name);
    const [n, c, h, wd] = x.shape;
    const both = await conv2dTiled(x, w, {}, 1, undefined, 2).read();
    const plane = c * h * wd;
    const outPlane = w.cout * h * wd;
    for (const i of [0, n - 1]) {
      const xi = Tensor.from(gpu, g.get(`${name}.x`).slice(i * plane, (i + 1) * plane), [1, c, h, wd]);
      const alone = await conv2dTiled(xi, w, {}, 1, undefined, 2).read();
      expect(Buffer.from(alone.buffer).equals(Buffer.from(both.buffer, i * outPlane * 4, outPlane * 4))).toBe(true);
      xi.dispose();
    }
    expect(() => conv2dTiled(x, w, {}, 4, undefined, 2)).toThrow(/split-K serves the conv3x3 row tiles/); // CPU tiles: 4x4 blocks
    expect(() => conv2dTiled(x, w, {}, 1, undefined, 5)).toThrow(/1 \.\. 4 parts/);
    x.dispose();
    w.dispose();
    // conv2dSplits: a GPU (1 pixel group) asked for split-K; CPU adapters and 'off' never split.
    const onGpu = (splitK: string) => Object.create(gpu, {
      splitK: { value: splitK },
      backend: { value: 'vulkan' },
      adapter: { value: { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100', isFallbackAdapter: false } },
    }) as typeof gpu;
    expect(conv2dPixelGroups(onGpu('auto'))).toBe(1);
    // 16x16 and 8x8 with 512 channels: 32 workgroups per image unsplit -> 8 parts of 64 channels.
    expect([[16, 16, 512, 512], [8, 8, 512, 512], [8, 8, 1024, 512], [32, 32, 256, 256], [64, 64, 256, 256], [256, 256, 128, 128], [16, 16, 64, 64]]
      .map(([hh, ww, ci, co]) => conv2dSplits(onGpu('auto'), hh, ww, ci, co))).toEqual([8, 8, 16, 4, 2, 1, 1]);
    expect(conv2dSplits(onGpu('off'), 16, 16, 512, 512)).toBe(1);
    expect(conv2dSplits(Object.create(gpu, { splitK: { value: 'auto' } }) as typeof gpu, 16, 16, 512, 512)).toBe(conv2dPixelGroups(gpu) === 4 ? 1 : 8);
  });

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

  it('continues the workgroups along z past the adapter\'s limit per dimension', async () => {
    // batch3_8x8 with 1 pixel group: 9 images x 8 rows x 2 tiles = 144 lanes, 3 workgroups of 64;
    // at most 2 per dimension: a 2 x 2 grid (x, z), its last workgroup idle.
    const gpu = await testGpu();
    const g = await golden;
    const w = prepareConv2d(gpu, g.get('batch3_8x8.weight'), g.shape('batch3_8x8.weight'), g.get('batch3_8x8.bias'));
    const x = g.tensor(gpu, 'batch3_8x8.x');
    const residual = g.tensor(gpu, 'batch3_8x8.residual');
    expect(conv2dPlan('conv3x3', 9, 8, 8, 1, 2)).toMatchObject({ pv: 1, wg: 64, lanes: 144, workgroups: [2, 2] });
    const out = conv2dTiled(x, w, { act: 'relu', residual }, 1, 2);
    expectClose(await out.read(), g.get('batch3_8x8.out'), TOL, 'batch3_8x8 with at most 2 workgroups per dimension');
    [x, residual, out].forEach((t) => t.dispose());
    w.dispose();
  }, COMPILE_MS);

  it('fits the pixel tile to the output width and the workgroup to the batch', () => {
    expect([2, 3, 4, 5, 8, 9, 16, 70].map((wo) => conv2dFitPixelGroups(wo, 4))).toEqual([1, 1, 1, 2, 2, 4, 4, 4]);
    expect([4, 5, 8].map((wo) => conv2dFitPixelGroups(wo, 2))).toEqual([1, 2, 2]);
    expect(conv2dFitPixelGroups(256, 1)).toBe(1);
    // ResNet18 layer4 at 64x64, batch 32, with GPU tiles (PV 1): 2 tiles per image, one workgroup
    // of 64 lanes per block; with CPU tiles (PV 4) four 2x2 images per lane.
    expect(conv2dPlan('conv3x3', 32, 2, 2, 1)).toEqual({ entry: 'conv3x3', pv: 1, wg: 64, tilesX: 1, lanes: 64, workgroups: [1, 1] });
    expect(conv2dPlan('conv3x3', 32, 2, 2, 4)).toEqual({ entry: 'conv3x3quad', pv: 4, wg: 8, tilesX: 1, lanes: 8, workgroups: [1, 1] });
    expect(conv2dPlan('conv3x3', 32, 8, 8, 2)).toMatchObject({ entry: 'conv3x3', pv: 2, wg: 64, tilesX: 1, lanes: 256, workgroups: [4, 1] });
    // CPU tiles on wider images: 4x4 blocks (2 x 2 per 8x8 image).
    expect(conv2dPlan('conv3x3', 32, 8, 8, 4)).toMatchObject({ entry: 'conv3x3block', pv: 4, wg: 64, tilesX: 2, lanes: 128, workgroups: [2, 1] });
    expect(conv2dPlan('conv3x3', 2, 9, 13, 4)).toMatchObject({ entry: 'conv3x3block', tilesX: 4, lanes: 24 });
    expect(conv2dPlan('conv1x1', 3, 4, 4, 4)).toMatchObject({ pv: 1, wg: 16, lanes: 12, workgroups: [1, 1] });
    // The UNet at 256x256: 64 x 64 blocks of 4x4 on CPU adapters, 64 workgroups of 64; rows of 4 on GPUs.
    expect(conv2dPlan('conv3x3', 1, 256, 256, 4)).toMatchObject({ entry: 'conv3x3block', pv: 4, wg: 64, tilesX: 64, lanes: 4096, workgroups: [64, 1] });
    expect(conv2dPlan('conv3x3', 1, 256, 256, 1)).toMatchObject({ entry: 'conv3x3', pv: 1, wg: 64, tilesX: 64, lanes: 16384, workgroups: [256, 1] });
    expect(conv2dPlan('conv3x3', 1, 256, 256, 4, 10)).toMatchObject({ workgroups: [10, 7] });
    expect(() => conv2dPlan('conv3x3', 1, 256, 256, 4, 7)).toThrow(/split the batch/);
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
    expect(() => conv2d(x12, w, { residual: x12 })).toThrow(/residual \[2,12,5,11\] is neither \[2,20,5,11\] nor \[2, 20, 1, 1\]/);
    const badOut = Tensor.empty(gpu, [2, 20, 5, 11]);
    expect(() => conv2d(badOut, prepareConv2d(gpu, new Float32Array(20 * 20), [20, 20, 1, 1]), { out: badOut })).toThrow(/alias/);
    expect(() => prepareConv2d(gpu, new Float32Array(16), [1, 1, 4, 4])).toThrow(/square odd kernels/);
    expect(() => prepareConv2d(gpu, new Float32Array(9), [1, 1, 3, 3], new Float32Array(2))).toThrow(/bias has 2 values/);
    [x, x12, badOut].forEach((t) => t.dispose());
    w.dispose();
  });
});
