/**
 * winograd_gemm.wgsl's operands through 64 KiB uniform windows and texel mirrors (src/kernels/gemm.ts): the windows
 * cover every (block, q) once - and for U and V together every (q, block, column block, input
 * channel) once - within their 64 KiB and their buffer, and the products are the bits of the
 * operands read from their storage bindings, for the Winograd product (U and V, the sum in parts)
 * and the 1x1 GEMM (U: runs of blocks for all images), and of the direct conv1x1; the texel
 * mirrors (src/gpu/texels.ts) give the same bits on both adapters.
 */
import { describe, expect, it } from 'vitest';
import { conv2dTiled, prepareConv2d } from '../../src/kernels/conv2d.js';
import { conv1x1Gemm } from '../../src/kernels/conv1x1-gemm.js';
import { conv2dWinograd, winogradWeights } from '../../src/kernels/conv2d-winograd.js';
import { gemmPlan, recordGemm, WINDOW_BYTES, type GemmDispatch, type GemmReads } from '../../src/kernels/gemm.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { testGpu } from './helpers.js';

const COMPILE_MS = 60_000;

describe('the batched GEMM with operands through uniform windows', () => {
  it('U alone: covers every block and q once, each window within 64 KiB, aligned, inside U\'s buffer; none where a slice does not fit', async () => {
    const gpu = await testGpu();
    const align = Math.max(16, gpu.limits.minUniformBufferOffsetAlignment);
    const cases = [
      { cin: 256, blocks: 7, qs: 3 }, // 1x1: one U for every image
      { cin: 1024, blocks: 2, qs: 2 }, // one slice fills a window
    ];
    for (const c of cases) {
      const u = Tensor.empty(gpu, [c.blocks * c.cin * 16]);
      const v = Tensor.empty(gpu, [4]);
      const g = { v, u, cin: c.cin, tpad: 64, vBlock: 64, coPad: c.blocks * 16, qs: c.qs, uBlock: c.cin * 4, uPos: 0, uCi: 4, tg: 2, lanes: 8, reads: 'u' as const };
      const plan = gemmPlan(gpu, g);
      expect(plan.length, JSON.stringify(c)).toBeGreaterThan(1);
      const seen = new Map<string, number>();
      for (const d of plan) {
        expect(d.v).toBeUndefined();
        expect(d.u!.offset % align).toBe(0);
        expect(d.u!.offset + WINDOW_BYTES).toBeLessThanOrEqual(u.binding.buffer.size);
        expect([d.x0, d.xEnd, d.c0, d.kc]).toEqual([0, 8, 0, c.cin]);
        for (let y = d.y0; y < d.y0 + d.blocks; y++) {
          for (let z = d.z0; z < d.z0 + d.qs; z++) {
            seen.set(`${y},${z}`, (seen.get(`${y},${z}`) ?? 0) + 1);
            const first = u.binding.offset + 16 * y * g.uBlock;
            expect(first).toBeGreaterThanOrEqual(d.u!.offset);
            expect(first + 16 * c.cin * 4).toBeLessThanOrEqual(d.u!.offset + WINDOW_BYTES);
          }
        }
      }
      expect(seen.size).toBe(c.blocks * c.qs);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      [u, v].forEach((t) => t.dispose());
    }
    // 1025 input channels: one slice is more than a window; a U under 64 KiB has no window at all: one dispatch from storage.
    const v = Tensor.empty(gpu, [4]);
    for (const cin of [1025, 16]) {
      const u = Tensor.empty(gpu, [cin * 16]);
      const plan = gemmPlan(gpu, { v, u, cin, tpad: 64, vBlock: 64, coPad: 16, qs: 4, uBlock: cin * 4, uPos: 0, uCi: 4, tg: 2, lanes: 8, reads: 'u' });
      expect(plan).toEqual([{ y0: 0, blocks: 1, z0: 0, qs: 4, x0: 0, xEnd: 8, c0: 0, kc: cin }]);
      u.dispose();
    }
    v.dispose();
  });

  it('U and V: covers every (q, block, column block, input channel) once, the parts of a sum in order, windows within 64 KiB and their buffers', async () => {
    const gpu = await testGpu();
    const align = Math.max(16, gpu.limits.minUniformBufferOffsetAlignment);
    const cases = [
      { cin: 128, blocks: 8, qs: 4, tg: 8, tpad: 1000 }, // 64-vec4 blocks, the last one narrower; parts of 64
      { cin: 200, blocks: 3, qs: 2, tg: 2, tpad: 64 }, // one block of V, parts not a power of two
      { cin: 96, blocks: 32, qs: 2, tg: 4, tpad: 256 }, // U's rows of 32 blocks: runs of blocks
    ];
    for (const c of cases) {
      const vBlock = 4 * c.tg * 8;
      const row = c.tpad / 4;
      const u = Tensor.empty(gpu, [c.qs * c.cin * c.blocks * 16]);
      const v = Tensor.empty(gpu, [c.qs * c.cin * c.tpad]);
      const g = { v, u, cin: c.cin, tpad: c.tpad, vBlock, coPad: c.blocks * 16, qs: c.qs, uBlock: 4, uPos: c.cin * c.blocks * 4, uCi: c.blocks * 4, tg: c.tg, lanes: row / c.tg, reads: 'uv' as const };
      const plan = gemmPlan(gpu, g);
      expect(plan.length, JSON.stringify(c)).toBeGreaterThan(1);
      const cols = vBlock / 4;
      const seen = new Map<string, number>();
      const order = new Map<string, number>(); // the next input channel of each (q, block, lane range)
      for (const d of plan as GemmDispatch[]) {
        for (const [t, w] of [[u, d.u!], [v, d.v!]] as const) {
          expect(w.offset % align).toBe(0);
          expect(w.offset + WINDOW_BYTES).toBeLessThanOrEqual(t.binding.buffer.size);
        }
        expect(d.qs).toBe(1);
        const cb = d.x0 / (cols / c.tg);
        const width = Math.min(cols, row - cb * cols);
        expect(d.xEnd - d.x0).toBe(width / c.tg);
        const vFirst = 16 * (d.z0 * c.cin * row + cb * c.cin * cols + d.c0 * width);
        expect(vFirst).toBeGreaterThanOrEqual(d.v!.offset);
        expect(vFirst + 16 * d.kc * width).toBeLessThanOrEqual(d.v!.offset + WINDOW_BYTES);
        for (let y = d.y0; y < d.y0 + d.blocks; y++) {
          const key = `${d.z0},${y},${cb}`;
          expect(order.get(key) ?? 0, key).toBe(d.c0);
          order.set(key, d.c0 + d.kc);
          const uFirst = 16 * (y * g.uBlock + d.z0 * g.uPos + d.c0 * g.uCi);
          expect(uFirst).toBeGreaterThanOrEqual(d.u!.offset);
          expect(uFirst + 16 * ((d.kc - 1) * g.uCi + 4)).toBeLessThanOrEqual(d.u!.offset + WINDOW_BYTES);
          for (let ci = d.c0; ci < d.c0 + d.kc; ci++) seen.set(`${key},${ci}`, (seen.get(`${key},${ci}`) ?? 0) + 1);
        }
      }
      expect(seen.size).toBe(c.qs * c.blocks * Math.ceil(row / cols) * c.cin);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect([...order.values()].every((n) => n === c.cin)).toBe(true);
      [u, v].forEach((t) => t.dispose());
    }
  });

  it('U and V through windows or texel mirrors give the bits of both in storage: sums in parts, a narrower last block of V, the epilogue on the last part only', async () => {
    const gpu = await testGpu();
    const cases = [
      { cin: 96, blocks: 3, qs: 2, tg: 8, tpad: 480 }, // blocks of 64 and 56 vec4, parts of 48 input channels
      { cin: 40, blocks: 2, qs: 3, tg: 2, tpad: 72 }, // blocks of 16 and 2 vec4, one part
    ];
    for (const [k, c] of cases.entries()) {
      const coPad = c.blocks * 16;
      // At least a window each (smaller operands keep their storage bindings).
      const operand = (size: number, seed: number) => Tensor.from(gpu, randomValues(Math.max(size, WINDOW_BYTES / 4), seed), [Math.max(size, WINDOW_BYTES / 4)]);
      const v = operand(c.qs * c.cin * c.tpad, 10 + k);
      const u = operand(c.qs * c.cin * coPad, 20 + k);
      const bias = Tensor.from(gpu, randomValues(coPad, 30 + k), [coPad]);
      const residual = Tensor.from(gpu, randomValues(c.qs * coPad * c.tpad, 40 + k), [c.qs * coPad * c.tpad]);
      const g = { v, u, cin: c.cin, tpad: c.tpad, vBlock: 32 * c.tg, coPad, qs: c.qs, uBlock: 4, uPos: c.cin * coPad / 4, uCi: c.blocks * 4, tg: c.tg, lanes: c.tpad / (4 * c.tg), label: 'test' };
      const plan = gemmPlan(gpu, { ...g, reads: 'uv' });
      expect(plan.every((d) => d.u && d.v), JSON.stringify(c)).toBe(true);
      expect(plan.some((d) => d.xEnd - d.x0 < 8)).toBe(true);
      expect(plan.some((d) => d.c0 > 0)).toBe(k === 0);
      const run = async (reads: GemmReads) => {
        const m = Tensor.empty(gpu, [c.qs * coPad * c.tpad]);
        recordGemm(gpu, { ...g, m, reads, epilogue: { bias, residual, act: 1 } });
        const bits = Buffer.from((await m.read()).buffer);
        m.dispose();
        return bits;
      };
      const stored = await run('storage');
      expect((await run('uv')).equals(stored), JSON.stringify(c)).toBe(true);
      expect((await run('texels')).equals(stored), `texels ${JSON.stringify(c)}`).toBe(true);
      [v, u, bias, residual].forEach((t) => t.dispose());
    }
  }, 2 * COMPILE_MS);

  it('gives the Winograd product the bits of U and V in storage through windows and texel mirrors (F(4x4, 3x3) and F(6x6, 3x3), sums in parts, chunks, a narrower last block of V)', async () => {
    const gpu = await testGpu();
    const [n, cin, h, wd, cout] = [1, 96, 40, 44, 48];
    const w = prepareConv2d(gpu, randomValues(cout * cin * 9, 1).map((v) => v / Math.sqrt(cin * 9)), [cout, cin, 3, 3], randomValues(cout, 2));
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    for (const tile of [4, 6] as const) {
      const u = winogradWeights(w, tile);
      for (const [tilesPerLane, chunkBytes] of [[8, undefined], [32, undefined], [16, 96 * 36 * 4 * 64]] as const) {
        const o = { act: 'swish' as const };
        const stored = await conv2dWinograd(x, w, u, o, { tilesPerLane, chunkBytes, reads: 'storage' }).read();
        for (const reads of ['uv', 'texels'] as const) {
          const got = await conv2dWinograd(x, w, u, o, { tilesPerLane, chunkBytes, reads }).read();
          expect(Buffer.from(got.buffer).equals(Buffer.from(stored.buffer)), `${reads}: F(${tile}x${tile}), ${tilesPerLane} tiles per invocation, chunks of ${chunkBytes}`).toBe(true);
        }
      }
      u.dispose();
    }
    [x, w].forEach((t) => t.dispose());
  }, 4 * COMPILE_MS);
  it('gives the 1x1 GEMM conv1x1\'s bits from storage, U windows (runs of blocks for all images) and texel mirrors (bias, swish and residual)', async () => {
    const gpu = await testGpu();
    const [n, cin, h, wd, cout] = [2, 256, 8, 8, 96];
    const w = prepareConv2d(gpu, randomValues(cout * cin, 1).map((v) => v / Math.sqrt(cin)), [cout, cin, 1, 1], randomValues(cout, 2));
    const x = Tensor.from(gpu, randomValues(n * cin * h * wd, 3), [n, cin, h, wd]);
    const residual = Tensor.from(gpu, randomValues(n * cout * h * wd, 4), [n, cout, h, wd]);
    const plan = gemmPlan(gpu, { v: x, u: w.weight, cin, tpad: h * wd, vBlock: h * wd, coPad: cout, qs: n, uBlock: cin * 4, uPos: 0, uCi: 4, tg: 2, lanes: (h * wd) / 8, reads: 'u' });
    expect(plan.length).toBeGreaterThan(1);
    expect(plan.some((d) => d.blocks > 1)).toBe(true);
    const o = { act: 'swish' as const, residual };
    const direct = Buffer.from((await conv2dTiled(x, w, o, 4).read()).buffer);
    for (const reads of ['storage', 'u', 'texels'] as const) {
      const out = Tensor.empty(gpu, [n, cout, h, wd]);
      const got = Buffer.from((await conv1x1Gemm(x, w, o, out, 8, reads).read()).buffer);
      expect(got.equals(direct), reads).toBe(true);
      out.dispose();
    }
    [x, w, residual].forEach((t) => t.dispose());
  }, COMPILE_MS);
});
