// The DNF classifier (torchvision ResNet50, fc 2048 -> 1, BatchNorm folded) at 256x256 on the
// current adapter: ms per image and GFLOP/s (2 * multiply-adds of the convs and fc / time) at
// batch 1 and at the largest batch that fits one storage binding (model.maxBatch), capped by
// BENCH_RESNET_MAX_BATCH (default 32: larger batches take minutes per run on CPU adapters and gain
// nothing there). BENCH_RESNET_BATCHES=1,8 picks the batches instead. Weights are random (the
// speed does not depend on them). Each batch: one warm-up run at batch 1 (pipeline compiles; the
// pipelines do not depend on the batch), then runs timed around gpu.sync() until ~2 s (at least 1).
// `cpu_gflops` divides by this process's CPU time (all the emulator's threads): a per-core rate
// that contention from other processes affects less than the wall-clock `gflops`.
// With DNF_PROFILE=1 the per-kernel times of one more batch-1 run are reported too (replayed
// dispatch by dispatch on adapters without timestamps): what the convs, ReLU passes and pools cost.
import { formatProfile } from '../dist/gpu/profiler.js';
import { resnetLayout } from '../dist/models/resnet-config.js';
import { ResNet } from '../dist/models/resnet.js';
import { randomValues } from '../dist/selftest.js';
import { Tensor } from '../dist/tensor.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../dist/weights/safetensors.js';

const SIZE = 256;
const R50 = { block: 'bottleneck', inChannels: 3, stem: 64, numClasses: 1, stages: [3, 4, 6, 3].map((blocks, i) => ({ blocks, width: 64 << i, out: 256 << i })) };

/** ResNet50's tensors, random: convs scaled by sqrt(6 / fan-in) (uniform), BatchNorm near identity. */
export function randomResnet50Tensors() {
  return resnetLayout(R50).map(([name, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = randomValues(n, i + 1);
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const v = name.endsWith('running_var') ? r.map((x) => 1 + 0.1 * x) : name.endsWith('running_mean') || name.endsWith('.bias') ? r.map((x) => 0.1 * x)
      : shape.length > 1 ? r.map((x) => x * Math.sqrt(6 / fanIn)) : r.map((x) => 1 + 0.1 * x);
    return { name, dtype: 'F32', shape, data: new Uint8Array(v.buffer) };
  });
}

async function randomResnet50(gpu) {
  const file = await SafetensorsFile.open(bytesSource('resnet50-random.safetensors', serializeSafetensors(randomResnet50Tensors())));
  return ResNet.fromSafetensors(gpu, file);
}

async function timeBatch(gpu, model, batch) {
  const x = Tensor.from(gpu, randomValues(batch * 3 * SIZE * SIZE, 7).map((v) => 0.5 + 0.5 * v), [batch, 3, SIZE, SIZE], 'x');
  let runs = 0;
  let ms = 0;
  let best = Infinity;
  const cpu0 = process.cpuUsage();
  while (runs < 1 || ms < 2000) {
    const t0 = performance.now();
    const logits = model.forward(x);
    await logits.read();
    logits.dispose();
    const dt = performance.now() - t0;
    best = Math.min(best, dt);
    ms += dt;
    runs++;
  }
  const cpu = process.cpuUsage(cpu0);
  x.dispose();
  return { runs, ms: ms / runs, best, cpuS: (cpu.user + cpu.system) / 1e6 };
}

export async function run(gpu, report) {
  const model = await randomResnet50(gpu);
  try {
    const flop = 2 * model.macs(SIZE, SIZE);
    const maxBatch = model.maxBatch(SIZE, SIZE);
    const cap = Number(process.env.BENCH_RESNET_MAX_BATCH ?? 32);
    const batches = process.env.BENCH_RESNET_BATCHES ? process.env.BENCH_RESNET_BATCHES.split(',').map(Number) : [1, Math.min(maxBatch, cap)];
    const warm = Tensor.from(gpu, new Float32Array(3 * SIZE * SIZE).fill(0.5), [1, 3, SIZE, SIZE], 'warm');
    model.forward(warm).dispose();
    await gpu.sync();
    for (const batch of batches) {
      const t = await timeBatch(gpu, model, batch);
      report({
        kernel: model.name, size: [batch, 3, SIZE, SIZE], batch, max_batch: maxBatch, runs: t.runs,
        ms_per_image: +(t.ms / batch).toFixed(1), best_ms_per_image: +(t.best / batch).toFixed(1),
        gflops: +((flop * batch) / t.ms / 1e6).toFixed(2), cpu_gflops: +((flop * batch * t.runs) / t.cpuS / 1e9).toFixed(2),
        gflop_per_image: +(flop / 1e9).toFixed(2),
      });
    }
    if (gpu.profiler) {
      await gpu.sync();
      gpu.profiler.reset();
      model.forward(warm).dispose();
      await gpu.sync();
      const rows = await gpu.profiler.report();
      console.error(formatProfile(rows));
      report({ kernel: `${model.name} profile`, batch: 1, per_kernel_ms: Object.fromEntries(rows.map((r) => [r.kernel, +r.ms.toFixed(1)])) });
    }
    warm.dispose();
  } finally {
    model.dispose();
  }
}
