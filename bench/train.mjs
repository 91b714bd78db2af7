// One training step (forward in train mode, BCEWithLogits, backward, Adam) of a torchvision ResNet
// on the current adapter, with PyTorch's time for the same step in the same run
// (bench/torch_train.py on BENCH_PYTHON, default /usr/bin/python3; skipped when it has no torch).
//
//   BENCH_TRAIN_ARCH   resnet18 | resnet34 | resnet50 (default resnet50)
//   BENCH_TRAIN_SIZE   image side (default 256)
//   BENCH_TRAIN_BATCH  batch (default 64); when the GPU runs out of memory the batch is halved
//                      until a step fits, and the line says so (`requested_batch`)
//   BENCH_TRAIN_STEPS  timed steps (default 1), after one warm-up step at batch 2 (pipelines)
//   BENCH_TORCH_DEVICE cpu (default) or cuda
//
// FLOPs are counted from the architecture: the forward's 2 x multiply-adds, the weight gradient of
// every conv and of fc (as many again), the input gradient of every conv but the stem (its input
// needs none) and of fc. `cpu_gflops` divides by this process's CPU time (all the emulator's
// threads), which contention from other processes affects less than the wall-clock figure.
// Memory: the plan of src/train/memory.ts (saved activations, backward transients, parameter
// buffers) and what the buffer pool actually held at its peak (plus the arena).
// With DNF_PROFILE=1 a step at batch BENCH_PROFILE_BATCH (default 2) is profiled per kernel (a timed replay of every dispatch
// on adapters without timestamp queries).
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatProfile } from '../dist/gpu/profiler.js';
import { resnetCost, resnetPreset } from '../dist/models/resnet-config.js';
import { randomValues } from '../dist/selftest.js';
import { trainingMemory } from '../dist/train/memory.js';
import { TrainableResNet } from '../dist/train/resnet.js';
import { Trainer } from '../dist/train/trainer.js';

const here = dirname(fileURLToPath(import.meta.url));
const MB = 2 ** 20;

function batchOf(n, size) {
  const x = randomValues(n * 3 * size * size, 11).map((v) => 0.5 + 0.5 * v);
  const y = Float32Array.from({ length: n }, (_, i) => i % 2);
  return { x, shape: [n, 3, size, size], y };
}

async function torchStep(arch, batch, size) {
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const device = process.env.BENCH_TORCH_DEVICE ?? 'cpu';
  try {
    const { stdout } = await promisify(execFile)(python, [join(here, 'torch_train.py'), '--arch', arch, '--batch', String(batch), '--size', String(size), '--device', device], { maxBuffer: 1 << 20 });
    return JSON.parse(stdout);
  } catch (e) {
    if (e.code === 'ENOENT') return { error: `${python} not found (set BENCH_PYTHON)` };
    const said = [e.stdout, e.stderr].map((s) => (s ?? '').trim()).find(Boolean) ?? e.message;
    return { error: said.split('\n').pop() };
  }
}

export async function run(gpu, report) {
  const arch = process.env.BENCH_TRAIN_ARCH ?? 'resnet50';
  const size = Number(process.env.BENCH_TRAIN_SIZE ?? 256);
  const requested = Number(process.env.BENCH_TRAIN_BATCH ?? 64);
  const steps = Number(process.env.BENCH_TRAIN_STEPS ?? 1);
  const profileBatch = Number(process.env.BENCH_PROFILE_BATCH ?? 2);
  const config = resnetPreset(arch);
  const cost = resnetCost(config, size, size);
  const stemMacs = config.stem * config.inChannels * 49 * Math.ceil(size / 2) ** 2;
  const flopPerImage = 2 * (3 * cost.macs - stemMacs);

  // PyTorch first, so that the two do not hold their memory at the same time.
  let torch = await torchStep(arch, requested, size);
  const model = TrainableResNet.create(gpu, config, 0);
  const trainer = new Trainer(model);
  try {
    await trainer.trainStep(batchOf(2, size));
    let batch = requested;
    let t = null;
    for (;;) {
      gpu.pool.resetPeak();
      const data = batchOf(batch, size);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      try {
        let loss = 0;
        for (let s = 0; s < steps; s++) loss = await trainer.trainStep(data);
        const ms = (performance.now() - t0) / steps;
        const cpu = process.cpuUsage(cpu0);
        t = { ms, cpuS: (cpu.user + cpu.system) / 1e6 / steps, loss };
        break;
      } catch (e) {
        if (batch === 1 || !/memory/i.test(String(e?.message))) throw e;
        batch = Math.floor(batch / 2);
      }
    }
    const plan = trainingMemory(config, size, size, batch, gpu.maxBinding);
    if (batch !== requested) {
      gpu.pool.trim();
      torch = await torchStep(arch, batch, size);
    }
    report({
      kernel: `${model.name} train step`, size: [batch, 3, size, size], batch, requested_batch: requested,
      chunk_images: Math.min(batch, plan.chunkImages), steps,
      s_per_step: +(t.ms / 1e3).toFixed(2), images_per_s: +((batch * 1e3) / t.ms).toFixed(2),
      gflops: +((flopPerImage * batch) / t.ms / 1e6).toFixed(2), cpu_gflops: +((flopPerImage * batch) / t.cpuS / 1e9).toFixed(2),
      gflop_per_image: +(flopPerImage / 1e9).toFixed(2), forward_gflop_per_image: +((2 * cost.macs) / 1e9).toFixed(2),
      plan_mb: { activations: Math.round(plan.activations / MB), backward: Math.round(plan.backward / MB), parameters: Math.round(plan.parameters / MB), total: Math.round(plan.total / MB) },
      pool_peak_mb: Math.round(gpu.pool.peak / MB), arena_mb: Math.round((4 * model.arena.bytes) / MB), loss: t.loss,
      torch_s_per_step: torch.s_per_step ?? null, torch_cpu_s_per_step: torch.cpu_s_per_step ?? null, torch_threads: torch.threads ?? null,
      ratio: torch.s_per_step ? +(t.ms / 1e3 / torch.s_per_step).toFixed(2) : null,
      cpu_ratio: torch.cpu_s_per_step ? +(t.cpuS / torch.cpu_s_per_step).toFixed(2) : null,
      ...(torch.error ? { torch_error: torch.error } : {}),
    });
    if (gpu.profiler) {
      await gpu.sync();
      gpu.profiler.reset();
      await trainer.trainStep(batchOf(profileBatch, size));
      await gpu.sync();
      const rows = await gpu.profiler.report();
      console.error(formatProfile(rows));
      report({ kernel: `${model.name} train step profile`, batch: profileBatch, per_kernel_ms: Object.fromEntries(rows.map((r) => [r.kernel, +r.ms.toFixed(1)])) });
    }
  } finally {
    model.dispose();
  }
}
