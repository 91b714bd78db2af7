/**
 * winograd_gemm.wgsl's U through 64 KiB uniform windows (src/kernels/gemm.ts): the windows cover
 * every (block, q) once within their 64 KiB and U's buffer, and the products are the bits of U
 * read from its storage binding, for the Winograd product (runs of q of one block) and the 1x1
 * GEMM (runs of blocks for all images), and of the direct conv1x1.
 */
import { describe, expect, it } from 'vitest';
import { conv2dTiled, prepareConv2d } from '../../src/kernels/conv2d.js';
import { conv1x1Gemm } from '../../src/kernels/conv1x1-gemm.js';
import { conv2dWinograd, winogradWeights } from '../../src/kernels/conv2d-winograd.js';
import { gemmWindows, U_WINDOW_BYTES } from '../../src/kernels/gemm.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { testGpu } from './helpers.js';

const COMPILE_MS = 60_000;

describe('the batched GEMM with U through uniform windows', () => {
  it('covers every block and q once, each window within 64 KiB, aligned, inside U\'s buffer; none where a slice does not fit', async () => {
    const gpu = await testGpu();
    const align = Math.max(16, gpu.limits.minUniformBufferOffsetAlignment);
    const cases = [
      { cin: 64, blocks: 3, qs: 36, uPos: 64 * 4, uBlock: 36 * 64 * 4 }, // Winograd F(4x4, 3x3)
      { cin: 200, blocks: 2, qs: 64, uPos: 200 * 4, uBlock: 64 * 200 * 4 }, // F(6x6, 3x3), slices not a power of two
      { cin: 256, blocks: 7, qs: 3, uPos: 0, uBlock: 256 * 4 }, // 1x1: one U for every image
      { cin: 1024, blocks: 2, qs: 1, uPos: 0, uBlock: 1024 * 4 }, // one slice fills a window
    ];
    for (const c of cases) {
      const u = Tensor.empty(gpu, [c.blocks * Math.max(1, c.uPos ? c.qs : 1) * c.cin * 16]);
      const windows = gemmWindows(gpu, { u, cin: c.cin, coPad: c.blocks * 16, qs: c.qs, uBlock: c.uBlock, uPos: c.uPos });
      expect(windows, JSON.stringify(c)).not.toBeNull();
      const seen = new Map<string, number>();
      for (const w of windows!) {
        expect(w.offset % align).toBe(0);
        expect(w.offset + U_WINDOW_BYTES).toBeLessThanOrEqual(u.binding.buffer.size);
        for (let y = w.y0; y < w.y0 + w.blocks; y++) {
          for (let z = w.z0; z < w.z0 + w.qs; z++) {
            seen.set(`${y},${z}`, (seen.get(`${y},${z}`) ?? 0) + 1);
            const first = u.binding.offset + 16 * (y * c.uBlock + z * c.uPos);
            expect(first).toBeGreaterThanOrEqual(w.offset);
            expect(first + 16 * c.cin * 4).toBeLessThanOrEqual(w.offset + U_WINDOW_BYTES);
          }
        }
      }
      expect(seen.size).toBe(c.blocks * c.qs);
      expect([...seen.values()].every((v) => v === 1)).toBe(true);
      u.dispose();
    }
    // 1025 input channels: one slice is more than a window; a U under 64 KiB has no window at all.
    const big = Tensor.empty(gpu, [1025 * 16]);
    expect(gemmWindows(gpu, { u: big, cin: 1025, coPad: 16, qs: 1, uBlock: 1025 * 4, uPos: 0 })).toBeNull();
    const small = Tensor.empty(gpu, [16 * 16]);
    expect(gemmWindows(gpu, { u: small, cin: 16, coPad: 16, qs: 1, uBlock: 64, uPos: 0 })).toBeNull();
    [big, small].forEach((t) => t.dispose());
  });

  it('gives the Winograd product the bits of U in storage (F(4x4, 3x3) and F(6x6, 3x3), several q per window)', async () => {
    const gpu = await testGpu();
    const [n, cin, h, wd, cout] = [1, 96, 32, 32, 48];
    const w = prepareConv2d(gpu, randomValues(cout * cin * 9, 1).map((v) => v / Math.sqrt(cin * 9)), [cout, cin, 3, 3], randomValues(cout, 2));
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    for (const tile of [4, 6] as const) {
      const u = winogradWeights(w, tile);
      const pos = (tile + 2) ** 2;
      const windows = gemmWindows(gpu, { u, cin, coPad: 48, qs: pos, uBlock: pos * cin * 4, uPos: cin * 4 });
      expect(windows!.length).toBeGreaterThan(3);
      expect(windows!.some((win) => win.qs > 1)).toBe(true);
      for (const tilesPerLane of [8, 32]) {
        const stored = await conv2dWinograd(x, w, u, { act: 'swish' }, { tilesPerLane, uWindow: false }).read();
        const windowed = await conv2dWinograd(x, w, u, { act: 'swish' }, { tilesPerLane, uWindow: true }).read();
        expect(Buffer.from(windowed.buffer).equals(Buffer.from(stored.buffer)), `F(${tile}x${tile}), ${tilesPerLane} tiles per invocation`).toBe(true);
      }
      u.dispose();
    }
    [x, w].forEach((t) => t.dispose());
  }, COMPILE_MS);

  it('gives the 1x1 GEMM conv1x1\'s bits (runs of blocks for all images, bias, swish and residual)', async () => {
    const gpu = await testGpu();
    const [n, cin, h, wd, cout] = [2, 256, 8, 8, 96];
    const w = prepareConv2d(gpu, randomValues(cout * cin, 1).map((v) => v / Math.sqrt(cin)), [cout, cin, 1, 1], randomValues(cout, 2));
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    const residual = Tensor.from(gpu, randomValues(n * cout * h * wd, 4), [n, cout, h, wd]);
    const windows = gemmWindows(gpu, { u: w.weight, cin, coPad: cout, qs: n, uBlock: cin * 4, uPos: 0 });
    expect(windows!.length).toBeGreaterThan(1);
    expect(windows!.some((win) => win.blocks > 1)).toBe(true);
    const o = { act: 'swish' as const, residual };
    const direct = Buffer.from((await conv2dTiled(x, w, o, 4).read()).buffer);
    for (const uWindow of [false, true]) {
      const out = Tensor.empty(gpu, [n, cout, h, wd]);
      const got = Buffer.from((await conv1x1Gemm(x, w, o, out, 8, uWindow).read()).buffer);
      expect(got.equals(direct), `uWindow ${uWindow}`).toBe(true);
      out.dispose();
    }
    [x, w, residual].forEach((t) => t.dispose());
  }, COMPILE_MS);
});
