// Timing of recorded GPU work for the benchmarks: `reps` calls of `record` between two
// gpu.sync(), so the time covers the GPU work, not only its recording; cpuMs is this process's
// CPU time (all of a CPU adapter's threads), which other processes on the cores disturb less.

/** Milliseconds per call, wall-clock and CPU. */
export async function timeReps(gpu, reps, record) {
  await gpu.sync();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let r = 0; r < reps; r++) record();
  await gpu.sync();
  const cpu = process.cpuUsage(c0);
  return { ms: (performance.now() - t0) / reps, cpuMs: (cpu.user + cpu.system) / 1000 / reps };
}

/** The best of `tries` timeReps, wall and CPU each. */
export async function bestOf(tries, gpu, reps, record) {
  let ms = Infinity;
  let cpuMs = Infinity;
  for (let t = 0; t < tries; t++) {
    const r = await timeReps(gpu, reps, record);
    ms = Math.min(ms, r.ms);
    cpuMs = Math.min(cpuMs, r.cpuMs);
  }
  return { ms, cpuMs };
}
