/**
 * Texel mirrors (src/gpu/texels.ts): the copy of a buffer range into rows of TEXEL_ROW texels is
 * exact at every length (whole rows, a partial last row, under one row) and offset, reused
 * textures are copied over, row classes cover what they are asked for, and the free textures
 * kept stay within their budget.
 */
import { describe, expect, it } from 'vitest';
import { rowClass, TEXEL_ROW, TexelPool } from '../../src/gpu/texels.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { testGpu } from './helpers.js';

/** Reads a mirror's first `vec4s` texels back (a copy to a buffer, rows of 64 KiB). */
async function readMirror(texture: GPUTexture, vec4s: number, device: GPUDevice): Promise<Float32Array> {
  const rows = Math.ceil(vec4s / TEXEL_ROW);
  const out = device.createBuffer({ size: rows * TEXEL_ROW * 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const e = device.createCommandEncoder();
  e.copyTextureToBuffer({ texture }, { buffer: out, bytesPerRow: TEXEL_ROW * 16, rowsPerImage: rows }, [TEXEL_ROW, rows, 1]);
  device.queue.submit([e.finish()]);
  await out.mapAsync(GPUMapMode.READ);
  const got = new Float32Array(out.getMappedRange().slice(0, vec4s * 16));
  out.unmap();
  out.destroy();
  return got;
}

describe('texel mirrors', () => {
  it('row classes hold what they are asked for, within 1/8 above 64 rows', () => {
    for (let rows = 1; rows < 5000; rows += 7) {
      const c = rowClass(rows);
      expect(c).toBeGreaterThanOrEqual(rows);
      expect(c).toBeLessThanOrEqual(rows <= 64 ? rows : rows * 1.125 + 1);
    }
    expect(TexelPool.rows(1)).toBe(1);
    expect(TexelPool.rows(TEXEL_ROW)).toBe(1);
    expect(TexelPool.rows(TEXEL_ROW + 1)).toBe(2);
  });

  it('copies a range of vec4 exactly: whole rows, a partial last row, under a row, at an offset, into a reused texture', async () => {
    const gpu = await testGpu();
    const all = randomValues(4 * (3 * TEXEL_ROW + 100), 7);
    const t = Tensor.from(gpu, all, [all.length]);
    // [first vec4, vec4s]: a partial row, exactly two rows, two rows and a part, from an offset.
    const seen = new Set<GPUTexture>();
    let reused = false;
    for (const [first, vec4s] of [[0, 100], [0, 2 * TEXEL_ROW], [0, 2 * TEXEL_ROW + 37], [64, 2 * TEXEL_ROW + 5], [16, TEXEL_ROW - 16], [0, 2 * TEXEL_ROW + 1]]) {
      const texels = gpu.texelMirror({ buffer: t.binding.buffer, offset: t.binding.offset + 16 * first }, vec4s, 'test');
      reused ||= seen.has(texels.image);
      seen.add(texels.image);
      gpu.flush();
      const got = await readMirror(texels.image, vec4s, gpu.device);
      expect(Buffer.from(got.buffer).equals(Buffer.from(all.slice(4 * first, 4 * (first + vec4s)).buffer)), `${vec4s} vec4 from ${first}`).toBe(true);
      texels.release();
      expect(() => texels.release()).toThrow(/released twice/);
    }
    expect(reused, 'a released texture is handed out again').toBe(true);
    expect(() => gpu.texelMirror({ buffer: t.binding.buffer, offset: 8 }, 4, 'odd')).toThrow(/multiple of 16 bytes/);
    t.dispose();
  });

  it('keeps at most 128 MiB of free textures: the oldest released beyond that are destroyed after the next submit', async () => {
    const gpu = await testGpu();
    const pool = gpu.texelPool;
    const rows = [320, 352, 384, 416, 448, 480, 512]; // seven classes, 20 .. 32 MiB each
    const src = Tensor.empty(gpu, [512 * TEXEL_ROW * 4]);
    const before = pool.heldBytes;
    for (const r of rows) {
      const m = gpu.texelMirror(src.binding, r * TEXEL_ROW, `rows ${r}`);
      m.release();
    }
    const made = rows.reduce((a, r) => a + r * TEXEL_ROW * 16, 0);
    expect(pool.heldBytes - before).toBe(made);
    gpu.flush();
    await gpu.sync();
    expect(pool.heldBytes - before).toBeLessThanOrEqual(128 << 20);
    expect(pool.heldBytes - before).toBeGreaterThan((128 << 20) - 512 * TEXEL_ROW * 16); // less than one texture under it
    // The newest stay for reuse.
    const again = gpu.texelMirror(src.binding, 512 * TEXEL_ROW, 'again');
    again.release();
    expect(pool.heldBytes - before).toBeLessThanOrEqual(128 << 20);
    src.dispose();
  });
});
