/**
 * A quick check that the GPU computes correctly and how fast: a matmul compared with a CPU
 * reference, then timed. Used by `dnf doctor`; browser-safe.
 */
import type { Gpu } from './gpu/gpu.js';
import { matmul } from './kernels/matmul.js';
import { Tensor } from './tensor.js';

export interface SelfTest {
  ok: boolean;
  /** Largest |gpu - cpu| over the checked product, relative to the largest |cpu| value. */
  maxRelError: number;
  size: number;
  ms: number;
  gflops: number;
}

/** Deterministic pseudo-random values in [-1, 1) (xorshift32), so runs are reproducible. */
export function randomValues(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export function cpuMatmul(a: Float32Array, b: Float32Array, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k];
      for (let j = 0; j < N; j++) c[i * N + j] += av * b[k * N + j];
    }
  }
  return c;
}

export async function selfTest(gpu: Gpu, size = 512, reps = 3): Promise<SelfTest> {
  // Correctness on a shape that is not a multiple of the tile sizes, then speed on a cube.
  const [M, N, K] = [67, 130, 92];
  const ah = randomValues(M * K, 1);
  const bh = randomValues(K * N, 2);
  const a = Tensor.from(gpu, ah, [M, K]);
  const b = Tensor.from(gpu, bh, [K, N]);
  const c = matmul(a, b);
  const got = await c.read();
  const want = cpuMatmul(ah, bh, M, N, K);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  a.dispose();
  b.dispose();
  c.dispose();

  const x = Tensor.from(gpu, randomValues(size * size, 3), [size, size]);
  const y = Tensor.from(gpu, randomValues(size * size, 4), [size, size]);
  matmul(x, y).dispose(); // compile and warm up
  await gpu.sync();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) matmul(x, y).dispose();
  await gpu.sync();
  const ms = (performance.now() - t0) / reps;
  x.dispose();
  y.dispose();
  const maxRelError = err / scale;
  return { ok: maxRelError < 1e-5, maxRelError, size, ms, gflops: (2 * size ** 3) / (ms * 1e6) };
}
