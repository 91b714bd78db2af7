/**
 * The direct convolution's fusions (kernels/conv2d.ts `norm`, a residual [N, Cout, 1, 1]): every
 * entry point and pixel tile reading GroupNorm(x) (then swish) as it loads, and adding a residual
 * per image and channel as it writes, gives the bits of the unfused kernels: groupNorm() written
 * out, then conv2d with that residual broadcast to every pixel. Exact, not within a tolerance:
 * both normalise with group_norm.wgsl's formula and add in the same order. Batches of 3 images,
 * so that statistics and residuals are read per image (conv3x3quad's last lane repeats an image).
 */
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dPlan, conv2dReadsNorm, conv2dTiled, prepareConv2d, type Conv2dOptions, type PixelGroups } from '../../src/kernels/conv2d.js';
import { groupNorm, groupNormStats } from '../../src/kernels/group-norm.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { GroupNorm } from '../../src/nn/group-norm.js';
import { acquireGpu } from '../../src/node/acquire.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../../src/weights/safetensors.js';
import { VarBuilder } from '../../src/weights/var-builder.js';
import { testGpu } from './helpers.js';

const COMPILE_MS = 60_000;
const GROUPS = 4;
const EPS = 1e-6;

interface Case {
  name: string;
  cin: number;
  cout: number;
  k: number;
  side: number;
  opts: Conv2dOptions;
  /** Largest pixel tile (the shader's PV) and split-K parts. */
  pv: PixelGroups;
  splits?: number;
  /** Also GroupNorm without swish (NORM 1; every NORM is a pipeline of its own, each entry's taking llvmpipe seconds to compile). */
  plain?: boolean;
}

const cases: Case[] = [
  { name: '3x3 rows of 4 pixels', cin: 8, cout: 16, k: 3, side: 9, opts: {}, pv: 1, plain: true },
  { name: '3x3 rows of 8 pixels, swish', cin: 8, cout: 20, k: 3, side: 11, opts: { act: 'swish' }, pv: 2 },
  { name: '3x3 4x4 blocks', cin: 12, cout: 16, k: 3, side: 10, opts: {}, pv: 4 },
  { name: '3x3 on 2x2 images', cin: 8, cout: 16, k: 3, side: 2, opts: {}, pv: 4 },
  { name: '3x3 in 2 parts (split-K)', cin: 8, cout: 16, k: 3, side: 9, opts: { act: 'swish' }, pv: 1, splits: 2 },
  { name: '3x3 Downsample', cin: 8, cout: 16, k: 3, side: 10, opts: { padding: 'down' }, pv: 2 },
  { name: '1x1, relu', cin: 16, cout: 16, k: 1, side: 8, opts: { act: 'relu' }, pv: 2 },
  { name: '5x5', cin: 4, cout: 16, k: 5, side: 7, opts: {}, pv: 1, plain: true },
];

describe('conv2d fused with GroupNorm and a residual per image', () => {
  it.each(cases)('$name: the bits of groupNorm, then conv2d with the residual broadcast', async (c) => {
    const gpu = await testGpu();
    const n = 3;
    const x = Tensor.from(gpu, randomValues(n * c.cin * c.side * c.side, 1).map((v) => 3 * v + 0.5), [n, c.cin, c.side, c.side]);
    const gamma = Tensor.from(gpu, randomValues(c.cin, 2).map((v) => 1 + v), [c.cin]);
    const beta = Tensor.from(gpu, randomValues(c.cin, 3), [c.cin]);
    const w = prepareConv2d(gpu, randomValues(c.cout * c.cin * c.k * c.k, 4).map((v) => v / Math.sqrt(c.cin * c.k * c.k)), [c.cout, c.cin, c.k, c.k], randomValues(c.cout, 5));
    const probe = conv2dTiled(x, w, c.opts, c.pv);
    const [, , ho, wo] = probe.shape;
    probe.dispose();
    const r = randomValues(n * c.cout, 6);
    const perImage = Tensor.from(gpu, r, [n, c.cout, 1, 1]);
    const full = Tensor.from(gpu, Float32Array.from({ length: n * c.cout * ho * wo }, (_, i) => r[Math.floor(i / (ho * wo))]), [n, c.cout, ho, wo]);
    const stats = groupNormStats(x, gamma, beta, { groups: GROUPS, eps: EPS });
    for (const swish of c.plain ? [false, true] : [true]) {
      const normed = groupNorm(x, gamma, beta, { groups: GROUPS, eps: EPS, swish });
      const want = Buffer.from((await conv2dTiled(normed, w, { ...c.opts, residual: full }, c.pv, undefined, c.splits).read()).buffer);
      const got = Buffer.from((await conv2dTiled(x, w, { ...c.opts, norm: { stats, swish }, residual: perImage }, c.pv, undefined, c.splits).read()).buffer);
      expect(got.equals(want), `${c.name}, swish ${swish}`).toBe(true);
      // x (normalised as it loads) from its r32float texel mirror, and from storage: the same bits.
      for (const xr of ['storage', 'texels'] as const) {
        const viaReads = conv2dTiled(x, w, { ...c.opts, norm: { stats, swish }, residual: perImage }, c.pv, undefined, c.splits, { weights: 'texels', x: xr });
        expect(Buffer.from((await viaReads.read()).buffer).equals(want), `${c.name}, swish ${swish}, x from ${xr}`).toBe(true);
        viaReads.dispose();
      }
      // The fusion is not a no-op: the raw input gives other values.
      expect(Buffer.from((await conv2dTiled(x, w, { ...c.opts, residual: full }, c.pv).read()).buffer).equals(want)).toBe(false);
      normed.dispose();
    }
    [x, gamma, beta, perImage, full, stats].forEach((t) => t.dispose());
    w.dispose();
  }, COMPILE_MS);

  it('covers every entry point of conv2d.wgsl', () => {
    const entries = cases.map((c) => conv2dPlan(c.k === 3 && (c.opts.padding ?? 'same') === 'same' ? 'conv3x3' : c.k === 1 ? 'conv1x1' : 'conv', 3, c.side, c.side, c.pv).entry);
    expect(new Set(entries)).toEqual(new Set(['conv3x3', 'conv3x3block', 'conv3x3quad', 'conv1x1', 'conv']));
  });

  it('leaves the 1x1 GEMM for the direct kernel when it must normalise or broadcast, with the same bits', async () => {
    const gpu = await testGpu();
    const [n, cin, cout, side] = [2, 16, 32, 16];
    const x = Tensor.from(gpu, randomValues(n * cin * side * side, 7), [n, cin, side, side]);
    const gamma = Tensor.from(gpu, randomValues(cin, 8).map((v) => 1 + v), [cin]);
    const beta = Tensor.from(gpu, randomValues(cin, 9), [cin]);
    const w = prepareConv2d(gpu, randomValues(cout * cin, 10).map((v) => v / Math.sqrt(cin)), [cout, cin, 1, 1], randomValues(cout, 11));
    const perImage = Tensor.from(gpu, randomValues(n * cout, 12), [n, cout, 1, 1]);
    const stats = groupNormStats(x, gamma, beta, { groups: GROUPS, eps: EPS });
    const opts: Conv2dOptions = { norm: { stats, swish: true }, residual: perImage };
    const viaConv2d = Buffer.from((await conv2d(x, w, opts).read()).buffer);
    expect(viaConv2d.equals(Buffer.from((await conv2dTiled(x, w, opts, 4).read()).buffer))).toBe(true);
    const wrong = Tensor.from(gpu, new Float32Array(4 * 4), [1, 4, 4]);
    expect(() => conv2d(x, w, { norm: { stats: wrong, swish: false } })).toThrow(/GroupNorm statistics \[1,4,4\] are not those of \[2,16,16,16\]/);
    expect(() => conv2d(x, w, { residual: wrong })).toThrow(/residual \[1,4,4\] is neither \[2,32,16,16\] nor \[2, 32, 1, 1\]/);
    [x, gamma, beta, perImage, stats, wrong].forEach((t) => t.dispose());
    w.dispose();
  }, COMPILE_MS);

  it('nn/Conv2d gives the same bits with the normalisation in a pass of its own (the default) or fused (DNF_FUSE_NORM=on)', async () => {
    const gpu = await testGpu();
    expect(conv2dReadsNorm(gpu)).toBe(false);
    const fused = await acquireGpu({ fuseNorm: 'on' });
    try {
      expect(conv2dReadsNorm(fused)).toBe(true);
      const [n, cin, cout, side] = [2, 32, 16, 9];
      const tensors = [
        { name: 'norm.weight', dtype: 'F32' as const, shape: [cin], data: randomValues(cin, 13).map((v) => 1 + v) },
        { name: 'norm.bias', dtype: 'F32' as const, shape: [cin], data: randomValues(cin, 14) },
        { name: 'conv.weight', dtype: 'F32' as const, shape: [cout, cin, 3, 3], data: randomValues(cout * cin * 9, 15).map((v) => v / Math.sqrt(cin * 9)) },
        { name: 'conv.bias', dtype: 'F32' as const, shape: [cout], data: randomValues(cout, 16) },
      ];
      const x = randomValues(n * cin * side * side, 17);
      const r = randomValues(n * cout, 18);
      const run = async (g: Gpu) => {
        const vb = VarBuilder.fromSafetensors(g, await SafetensorsFile.open(bytesSource('layer.safetensors', serializeSafetensors(tensors))));
        const norm = await GroupNorm.load(vb.pp('norm'), cin);
        const conv = await Conv2d.load(vb.pp('conv'), cin, cout, 3);
        const xt = Tensor.from(g, x, [n, cin, side, side]);
        const residual = Tensor.from(g, r, [n, cout, 1, 1]);
        const out = Buffer.from((await conv.forward(xt, { norm: { layer: norm, swish: true }, residual }).read()).buffer);
        [xt, residual].forEach((t) => t.dispose());
        norm.dispose();
        conv.dispose();
        return out;
      };
      expect((await run(gpu)).equals(await run(fused))).toBe(true);
    } finally {
      fused.destroy();
    }
  }, COMPILE_MS);
});

