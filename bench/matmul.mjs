// Matmul GFLOP/s for square sizes 256..2048 on the current adapter.
// Each size: one warm-up, then repetitions until ~1 s of GPU time (at least 2), timed around
// gpu.sync() so the time covers the GPU work, not just recording. Env BENCH_SIZES overrides.
import { matmul, matmulPlan } from '../dist/kernels/matmul.js';
import { Tensor } from '../dist/tensor.js';
import { randomValues } from '../dist/selftest.js';

export async function run(gpu, report) {
  const sizes = (process.env.BENCH_SIZES ?? '256,512,1024,2048').split(',').map(Number);
  for (const n of sizes) {
    const a = Tensor.from(gpu, randomValues(n * n, 1), [n, n]);
    const b = Tensor.from(gpu, randomValues(n * n, 2), [n, n]);
    matmul(a, b).dispose();
    await gpu.sync();
    let reps = 0;
    let ms = 0;
    const flop = 2 * n ** 3;
    let best = Infinity;
    const cpu0 = process.cpuUsage();
    while (reps < 2 || (ms < 1000 && reps < 50)) {
      const t0 = performance.now();
      matmul(a, b).dispose();
      await gpu.sync();
      const dt = performance.now() - t0;
      best = Math.min(best, dt);
      ms += dt;
      reps++;
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    // GFLOP per second of this process's CPU time: a contention-robust figure on CPU adapters.
    const cpuGflops = (flop * reps) / cpuS / 1e9;
    report({ cpu_s: cpuS, gflop_per_cpu_s: cpuGflops, kernel: matmulPlan(n, n, n).shader, size: [n, n, n], reps, ms: ms / reps, best_ms: best, gflops: flop / (ms / reps) / 1e6, best_gflops: flop / best / 1e6 });
    a.dispose();
    b.dispose();
  }
}
