/**
 * Texel mirrors (src/gpu/texels.ts): the copy of a buffer range into rows of TEXEL_ROW texels is
 * exact at every length (whole rows, a partial last row, under one row) and offset, reused
 * textures are copied over, row classes cover what they are asked for, a mirror takes the
 * smallest free texture that holds it, and the free textures kept stay within their budget; a
 * held mirror (transformed weights) has a texture of its own.
 */
import { describe, expect, it } from 'vitest';
import { rowClass, TEXEL_ROW, TexelPool } from '../../src/gpu/texels.js';
import { randomValues } from '../../src/selftest.js';
import { Tensor } from '../../src/tensor.js';
import { testGpu } from './helpers.js';

/** Reads a mirror's first `texels` texels back (a copy to a buffer, rows of 64 KiB, or 16 KiB for r32float). */
async function readMirror(texture: GPUTexture, texels: number, device: GPUDevice): Promise<Float32Array> {
  const bytes = texture.format === 'r32float' ? 4 : 16;
  const rows = Math.ceil(texels / TEXEL_ROW);
  const out = device.createBuffer({ size: rows * TEXEL_ROW * bytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const e = device.createCommandEncoder();
  e.copyTextureToBuffer({ texture }, { buffer: out, bytesPerRow: TEXEL_ROW * bytes, rowsPerImage: rows }, [TEXEL_ROW, rows, 1]);
  device.queue.submit([e.finish()]);
  await out.mapAsync(GPUMapMode.READ);
  const got = new Float32Array(out.getMappedRange().slice(0, texels * bytes));
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

  it('holds a mirror in a texture of its own, exactly its rows, never handed out by the pool, destroyed after the submit that follows its release', async () => {
    const gpu = await testGpu();
    const vec4s = 2 * TEXEL_ROW + 3;
    const all = randomValues(4 * vec4s, 9);
    const t = Tensor.from(gpu, all, [all.length]);
    const before = gpu.texelPool.heldBytes;
    const held = gpu.texelHold(t.binding, vec4s, 'held');
    expect(held.image.height).toBe(3);
    expect(gpu.texelPool.heldBytes - before).toBe(3 * TEXEL_ROW * 16);
    // The source may go back to the pool at once: the copy is recorded before any later write.
    t.dispose();
    const other = Tensor.from(gpu, new Float32Array(4 * vec4s).fill(-1), [4 * vec4s]);
    gpu.flush();
    expect(Buffer.from((await readMirror(held.image, vec4s, gpu.device)).buffer).equals(Buffer.from(all.buffer))).toBe(true);
    // Pooled mirrors never take it, free or not.
    const pooled = gpu.texelMirror(other.binding, vec4s, 'pooled');
    expect(pooled.image).not.toBe(held.image);
    pooled.release();
    held.release();
    expect(() => held.release()).toThrow(/released twice/);
    const next = gpu.texelMirror(other.binding, vec4s, 'next');
    expect(next.image).not.toBe(held.image);
    next.release();
    await gpu.sync();
    expect(gpu.texelPool.heldBytes).toBeLessThanOrEqual(before + 4 * TEXEL_ROW * 16); // the held texture is gone, the pooled one (a row class) stays free
    other.dispose();
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

  it('copies a range of f32 into r32float exactly, and never hands a texture of one format to a mirror of the other', async () => {
    const gpu = await testGpu();
    const all = randomValues(3 * TEXEL_ROW + 100, 8);
    const t = Tensor.from(gpu, all, [all.length]);
    // [first f32 (a multiple of 4: offsets are multiples of 16 bytes), values]
    for (const [first, n] of [[0, 100], [0, 2 * TEXEL_ROW], [4, 2 * TEXEL_ROW + 37], [64, TEXEL_ROW - 3]]) {
      const texels = gpu.texelMirror({ buffer: t.binding.buffer, offset: t.binding.offset + 4 * first }, n, 'test.r32', 'r32float');
      expect(texels.image.format).toBe('r32float');
      gpu.flush();
      const got = await readMirror(texels.image, n, gpu.device);
      expect(Buffer.from(got.buffer).equals(Buffer.from(all.slice(first, first + n).buffer)), `${n} f32 from ${first}`).toBe(true);
      texels.release();
    }
    // Free r32float textures are there now; an rgba32float mirror of the same rows takes none of them.
    const vec4 = gpu.texelMirror(t.binding, TEXEL_ROW / 2, 'test.rgba'); // one row, as the r32float ones
    expect(vec4.image.format).toBe('rgba32float');
    vec4.release();
    const r32 = gpu.texelMirror(t.binding, TEXEL_ROW, 'test.r32', 'r32float');
    expect(r32.image.format).toBe('r32float');
    r32.release();
    await gpu.sync(); // no copy went wrong
    t.dispose();
  });

  it('hands out the smallest free texture that holds a mirror, and keeps at most 256 MiB free: the oldest beyond are destroyed after the next submit', async () => {
    const gpu = await testGpu();
    const pool = gpu.texelPool;
    const src = Tensor.empty(gpu, [1024 * TEXEL_ROW * 4]);
    const mirror = (rows: number) => gpu.texelMirror(src.binding, rows * TEXEL_ROW, `rows ${rows}`);
    // Best fit: a 100-row mirror takes the free 128-row texture, not the 512-row one, nor a new one.
    const big = mirror(512);
    const mid = mirror(128);
    big.release();
    mid.release();
    const held = pool.heldBytes;
    const small = mirror(100);
    expect(small.image).toBe(mid.image);
    const larger = mirror(200);
    expect(larger.image).toBe(big.image);
    expect(pool.heldBytes).toBe(held);
    small.release();
    larger.release();
    // Twelve 40 MiB textures in use at once, then released: at most 256 MiB stay after the submit.
    const before = pool.heldBytes;
    const many = Array.from({ length: 12 }, () => mirror(640));
    many.forEach((m) => m.release());
    expect(pool.heldBytes - before).toBe(12 * 640 * TEXEL_ROW * 16);
    await gpu.sync();
    expect(pool.heldBytes).toBeLessThanOrEqual(256 << 20);
    expect(pool.heldBytes).toBeGreaterThan((256 << 20) - 640 * TEXEL_ROW * 16); // less than one texture under it
    src.dispose();
  });
});
