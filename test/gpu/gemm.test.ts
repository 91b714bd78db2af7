/**
 * winograd_gemm.wgsl's operands from texel mirrors (src/kernels/gemm.ts, src/gpu/texels.ts): the
 * products are the bits of the operands read from their storage bindings - with the epilogue,
 * with U's mirror made by the caller or U from storage beside V's mirror, mirrors ending in a
 * partial row - for the GEMM itself, the Winograd product (F(4x4, 3x3), F(6x6, 3x3), chunks,
 * both lane layouts) and the 1x1 GEMM, which also equals the direct conv1x1.
 */
import { describe, expect, it } from 'vitest';
import { conv2dTiled, prepareConv2d } from '../../src/kernels/conv2d.js';
import { conv1x1Gemm } from '../../src/kernels/conv1x1-gemm.js';
import { conv2dWinograd, winogradWeights } from '../../src/kernels/conv2d-winograd.js';
import { gemmReads, mirror, recordGemm, type Gemm } from '../../src/kernels/gemm.js';
import { TEXEL_ROW } from '../../src/gpu/texels.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { testGpu } from './helpers.js';

const COMPILE_MS = 60_000;

describe('the batched GEMM with operands from texel mirrors', () => {
  it('gives the bits of both operands in storage, with the epilogue, U mirrored by the caller or left in storage', async () => {
    const gpu = await testGpu();
    const cases = [
      { cin: 96, blocks: 3, qs: 2, tg: 8, tpad: 480 }, // V: 92160 values, a mirror of 5 rows and a part
      { cin: 40, blocks: 2, qs: 3, tg: 2, tpad: 72 }, // under one row each
    ];
    for (const [k, c] of cases.entries()) {
      const coPad = c.blocks * 16;
      const v = Tensor.from(gpu, randomValues(c.qs * c.cin * c.tpad, 10 + k), [c.qs * c.cin * c.tpad]);
      const u = Tensor.from(gpu, randomValues(c.qs * c.cin * coPad, 20 + k), [c.qs * c.cin * coPad]);
      const bias = Tensor.from(gpu, randomValues(coPad, 30 + k), [coPad]);
      const residual = Tensor.from(gpu, randomValues(c.qs * coPad * c.tpad, 40 + k), [c.qs * coPad * c.tpad]);
      const g = { v, u, cin: c.cin, tpad: c.tpad, coPad, qs: c.qs, uBlock: 4, uPos: (c.cin * coPad) / 4, uCi: c.blocks * 4, tg: c.tg, lanes: c.tpad / (4 * c.tg), label: 'test' };
      const run = async (ways: Pick<Gemm, 'reads' | 'uTexels'>) => {
        const m = Tensor.empty(gpu, [c.qs * coPad * c.tpad]);
        recordGemm(gpu, { ...g, ...ways, m, epilogue: { bias, residual, act: 1 } });
        const bits = Buffer.from((await m.read()).buffer);
        m.dispose();
        return bits;
      };
      const stored = await run({ reads: 'storage' });
      expect((await run({ reads: 'texels' })).equals(stored), `texels ${JSON.stringify(c)}`).toBe(true);
      expect((await run({ reads: 'texels', uTexels: null })).equals(stored), `V mirrored, U in storage ${JSON.stringify(c)}`).toBe(true);
      const ut = mirror(u, 'test.Ut')!;
      expect((await run({ reads: 'texels', uTexels: ut })).equals(stored), `U mirrored by the caller ${JSON.stringify(c)}`).toBe(true);
      ut.release();
      if (k === 0) expect(v.size / 4).toBeGreaterThan(5 * TEXEL_ROW);
      [v, u, bias, residual].forEach((t) => t.dispose());
    }
  }, 2 * COMPILE_MS);

  it('gives the Winograd product the bits of U and V in storage (F(4x4, 3x3) and F(6x6, 3x3), chunks, lanes over the tiles and over the channels)', async () => {
    const gpu = await testGpu();
    const [n, cin, h, wd, cout] = [1, 96, 40, 44, 48];
    const w = prepareConv2d(gpu, randomValues(cout * cin * 9, 1).map((v) => v / Math.sqrt(cin * 9)), [cout, cin, 3, 3], randomValues(cout, 2));
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    for (const tile of [4, 6] as const) {
      const u = winogradWeights(w, tile);
      for (const tuning of [{ tilesPerLane: 8 }, { tilesPerLane: 32 }, { tilesPerLane: 16, chunkBytes: 96 * 36 * 4 * 64 }, { lanes: 'channels' as const }]) {
        const o = { act: 'swish' as const };
        const stored = await conv2dWinograd(x, w, u, o, { ...tuning, reads: 'storage' }).read();
        const got = await conv2dWinograd(x, w, u, o, { ...tuning, reads: 'texels' }).read();
        expect(Buffer.from(got.buffer).equals(Buffer.from(stored.buffer)), `F(${tile}x${tile}), ${JSON.stringify(tuning)}`).toBe(true);
      }
      u.dispose();
    }
    [x, w].forEach((t) => t.dispose());
  }, 4 * COMPILE_MS);

  it('gives the 1x1 GEMM conv1x1\'s bits from storage and from texel mirrors (bias, swish and residual, two images)', async () => {
    const gpu = await testGpu();
    const [n, cin, h, wd, cout] = [2, 256, 8, 8, 96];
    const w = prepareConv2d(gpu, randomValues(cout * cin, 1).map((v) => v / Math.sqrt(cin)), [cout, cin, 1, 1], randomValues(cout, 2));
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    const residual = Tensor.from(gpu, randomValues(n * cout * h * wd, 4), [n, cout, h, wd]);
    const o = { act: 'swish' as const, residual };
    const direct = Buffer.from((await conv2dTiled(x, w, o, 4).read()).buffer);
    for (const reads of ['storage', 'texels'] as const) {
      const out = Tensor.empty(gpu, [n, cout, h, wd]);
      const got = Buffer.from((await conv1x1Gemm(x, w, o, out, 8, reads).read()).buffer);
      expect(got.equals(direct), reads).toBe(true);
      out.dispose();
    }
    [x, w, residual].forEach((t) => t.dispose());
  }, COMPILE_MS);

  it('reads texel mirrors by default on CPU adapters (both test adapters are), storage where turned off', async () => {
    const gpu = await testGpu();
    expect(gpu.memoryIsHost).toBe(true);
    expect(gemmReads(gpu)).toBe(gpu.texels === 'off' ? 'storage' : 'texels');
  });
});
