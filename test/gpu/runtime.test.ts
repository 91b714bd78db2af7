/** The runtime: uniform packing checks, pipeline caching, buffer pool, debug errors, profiling, big grids. */
import { describe, expect, it } from 'vitest';
import { DnfError } from '../../src/errors.js';
import { acquireGpu } from '../../src/node/acquire.js';
import { add } from '../../src/kernels/elementwise.js';
import { matmul } from '../../src/kernels/matmul.js';
import { Tensor } from '../../src/tensor.js';
import { testGpu } from './helpers.js';

describe('dispatch checks', () => {
  it('rejects params that differ from the shader declaration', async () => {
    const gpu = await testGpu();
    const x = Tensor.from(gpu, new Float32Array(8), [8]);
    const base = { shader: 'elementwise', entry: 'add', buffers: [x.buffer, x.buffer, x.buffer], workgroups: [1] } as const;
    expect(() => gpu.dispatch({ ...base, params: { n: 8, b_inner: 1, b_size: 1 } })).toThrow(/missing \[row\]/);
    expect(() => gpu.dispatch({ ...base, params: { n: 8, b_inner: 1, b_size: 1, row: 256, extra: 1 } })).toThrow(/not declared \[extra\]/);
    expect(() => gpu.dispatch({ ...base, params: { n: -1, b_inner: 1, b_size: 1, row: 256 } })).toThrow(/not a u32/);
    expect(() => gpu.dispatch({ ...base, buffers: [x.buffer], params: { n: 8, b_inner: 1, b_size: 1, row: 256 } })).toThrow(/1 buffers given, elementwise.wgsl declares 3/);
    x.dispose();
  });

  it('compiles one pipeline per kernel variant, not per shape', async () => {
    const gpu = await testGpu();
    const before = gpu.pipelineCount;
    for (const n of [8, 12, 40]) {
      const a = Tensor.from(gpu, new Float32Array(n * n).fill(1), [n, n]);
      matmul(a, a).dispose();
      a.dispose();
    }
    await gpu.sync();
    expect(gpu.pipelineCount - before).toBeLessThanOrEqual(1);
  });

  it('knows that the CPU adapters keep device memory in the process', async () => {
    const gpu = await testGpu();
    expect(gpu.memoryIsHost).toBe(true); // the suite runs on llvmpipe and SwiftShader
    expect(`${gpu.adapter.device} ${gpu.adapter.description}`).toMatch(/llvmpipe|swiftshader/i);
  });

  it('a lost device is a setup error (DnfError, exit 2) that says what to do', async () => {
    const gpu = await acquireGpu({});
    try {
      gpu.device.destroy(); // as a driver reset would
      await new Promise((r) => setTimeout(r, 50));
      const e = await gpu.sync().then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(DnfError);
      expect((e as DnfError).exitCode).toBe(2);
      expect((e as DnfError).message).toMatch(/^the GPU device was lost \(destroyed: .*\); .*run again/);
    } finally {
      gpu.destroy();
    }
  });

  it('names the kernel of a validation error in debug mode', async () => {
    const gpu = await testGpu();
    expect(gpu.debug).toBe(true);
    // A map-readable buffer cannot be bound as storage: a validation error at bind group creation.
    const bad = gpu.device.createBuffer({ size: 64, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const x = Tensor.from(gpu, new Float32Array(16), [16]);
    gpu.dispatch({ shader: 'elementwise', entry: 'add', params: { n: 16, b_inner: 1, b_size: 16, row: 256 }, buffers: [x.buffer, x.buffer, bad], workgroups: [1], label: 'bad-add' });
    await expect(gpu.sync()).rejects.toThrow(/bad-add/);
    bad.destroy();
    x.dispose();
  });
});

describe('tensors and the pool', () => {
  it('recycles released buffers and keeps views alive until the last dispose', async () => {
    const gpu = await testGpu();
    const a = Tensor.from(gpu, new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const v = a.reshape([3, -1]);
    expect(v.shape).toEqual([3, 2]);
    const buf = a.buffer;
    a.dispose();
    expect(await v.read()).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    v.dispose();
    const b = Tensor.empty(gpu, [6]);
    expect(b.buffer).toBe(buf);
    b.dispose();
    expect(() => a.buffer).toThrow(/after dispose/);
    expect(() => Tensor.from(gpu, new Float32Array(5), [2, 3])).toThrow(/do not fill/);
  });

  it('keeps at most 256 MiB of free large buffers, oldest released first; evicted ones are destroyed after the submit that may use them', async () => {
    const gpu = await acquireGpu({});
    try {
      const MiB = 1 << 20;
      const held0 = gpu.pool.heldBytes;
      // Eight tensors of distinct large sizes (as images of many sizes give), each used by a
      // dispatch whose output is as large, all released before anything is submitted.
      const size = (i: number) => (17 + 2 * i) * MiB;
      const bufs: GPUBuffer[] = [];
      let last: Tensor | null = null;
      for (let i = 0; i < 8; i++) {
        const x = Tensor.from(gpu, new Float32Array(size(i) / 4).fill(1.5), [size(i) / 4]);
        const y = add(x, x);
        if (i < 7) y.dispose();
        else last = y;
        bufs.push(x.buffer);
        x.dispose();
      }
      await gpu.sync(); // a destroyed buffer in a submitted command would be a validation error here
      expect(gpu.pool.heldBytes - held0 - last!.buffer.size).toBeLessThanOrEqual(256 * MiB);
      const got = await last!.read();
      expect(got.every((v) => v === 3)).toBe(true);
      const lastBuffer = last!.buffer;
      last!.dispose();
      // The newest released are still pooled: their size comes back from the free list.
      const again = gpu.pool.acquire(size(7), 'again');
      expect(again).toBe(lastBuffer);
      const twice = gpu.pool.acquire(size(7), 'twice');
      expect(twice).toBe(bufs[7]);
      gpu.pool.release(twice);
      gpu.pool.release(again);
    } finally {
      gpu.destroy();
    }
  });

  it('keeps free as much as the job has held in use at once, so a working set over 256 MiB is not re-created at every pass', async () => {
    const gpu = await acquireGpu({});
    try {
      const MiB = 1 << 20;
      // Twelve large buffers of distinct sizes in use at once: 336 MiB, as the UNet's layers hold.
      const sizes = Array.from({ length: 12 }, (_, i) => (17 + 2 * i) * MiB);
      const first = sizes.map((b) => gpu.pool.acquire(b, 'pass 1'));
      first.forEach((b) => gpu.pool.release(b));
      const held = gpu.pool.heldBytes;
      const second = sizes.map((b) => gpu.pool.acquire(b, 'pass 2'));
      expect(gpu.pool.heldBytes).toBe(held);
      expect(new Set(second)).toEqual(new Set(first));
      second.forEach((b) => gpu.pool.release(b));
      // trim() starts a new job: one buffer at a time in use, so the budget is 256 MiB again.
      gpu.pool.trim();
      const held0 = gpu.pool.heldBytes;
      for (const b of sizes) gpu.pool.release(gpu.pool.acquire(b, 'one at a time'));
      await gpu.sync(); // evicted buffers are destroyed after the next submit
      expect(gpu.pool.heldBytes - held0).toBeLessThanOrEqual(256 * MiB);
      expect(gpu.pool.heldBytes - held0).toBeGreaterThan(200 * MiB);
    } finally {
      gpu.destroy();
    }
  });

  it('splits grids beyond 65535 workgroups per dimension', async () => {
    const gpu = await testGpu();
    const n = 65535 * 256 + 1029; // one more row of workgroups than fits in x
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = i % 1000;
    const a = Tensor.from(gpu, x, [n]);
    const s = Tensor.from(gpu, new Float32Array([0.5]), [1]);
    const out = add(a, s);
    const got = await out.read();
    for (const i of [0, 1, 255, 256 * 65535 - 1, 256 * 65535, n - 1]) expect(got[i]).toBe((i % 1000) + 0.5);
    [a, s, out].forEach((t) => t.dispose());
  });
});

describe('profiler', () => {
  it('reports per-kernel time (GPU timestamps where the adapter has them, else a timed replay)', async () => {
    const gpu = await acquireGpu({ profile: true });
    try {
      const prof = gpu.profiler!;
      expect(prof.mode).toBe(gpu.features.includes('timestamp-query') ? 'timestamp' : 'wallclock');
      const a = Tensor.from(gpu, new Float32Array(64 * 64).fill(1), [64, 64]);
      for (let i = 0; i < 3; i++) matmul(a, a).dispose();
      await gpu.sync();
      const rows = await prof.report();
      const mm = rows.find((r) => r.kernel === 'matmul');
      expect(mm?.calls).toBe(3);
      expect(mm!.ms).toBeGreaterThan(0);
      a.dispose();
    } finally {
      gpu.destroy();
    }
  });
});
