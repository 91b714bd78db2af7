// The full DDPM UNet (lsun-bedroom-256 preset, deterministic random weights) eps(x, t=0): time per
// image, GFLOP/s, GPU memory, per-kernel times, and PyTorch's time for the same forward.
//
//   npm run build && node bench/run.mjs unet [--backend opengles|swiftshader|vulkan] [--out FILE]
//
// Environment:
//   BENCH_PRESET        the UNet preset (default lsun-bedroom-256; cifar10-32 for a quick check)
//   BENCH_BATCHES       batch sizes, e.g. "1,8" (default: 1, plus maxBatch(config, gpu) capped at
//                       MAX_DEFAULT_BATCH on a real GPU; CPU adapters: 1 only, a batch there takes minutes)
//   BENCH_REPS          timed forwards per batch after one warm-up (default: 1 on CPU adapters, 5 on GPUs)
//   BENCH_PROFILE=0     skip the per-kernel breakdown (one more forward on a profiled Gpu, at the
//                       first batch; on adapters without timestamp queries its replay doubles the time)
//   BENCH_TORCH=0       skip PyTorch (it runs the same forward at every batch size)
//   BENCH_PYTHON        the interpreter that has torch (default /usr/bin/python3)
//   BENCH_TORCH_DEVICE  cpu (default) or cuda, for bench/torch_unet.py
//   DNF_CONV3X3         auto (default), direct or winograd: the 3x3 convolutions' algorithm (GpuOptions)
//   DNF_LANE_TEXELS     auto (default), on or off: lane-varying inputs from texel mirrors (src/gpu/lane-reads.ts);
//                       every line's lane_reads says which was used, the forward line's lane_reads_probe why
//
// Output lines (run.mjs adds bench, adapter, backend):
//   kind 'forward': one per batch, with PyTorch's time for the same batch (torch_s_per_image,
//     ratio = ours / torch, the same by CPU time on CPU adapters) and the largest difference
//     between the two outputs (both sides compute the same weights and input, see lib/random-weights.mjs).
//     Memory: weights_bytes (parameters * 4), weights_pool_bytes (the pooled buffers holding them),
//     peak_pool_bytes (the most the buffer pool held during that batch: weights, input, activations),
//     texel_bytes (the texel mirrors' textures held after it, src/gpu/texels.ts; 0 where none are used),
//     page_faults_per_forward (this process's minor page faults per timed forward: on CPU adapters
//     device memory is process memory, so buffers created afresh show here, src/gpu/pool.ts).
//   kind 'profile': per-kernel times of one forward (profiler mode 'timestamp' or 'wallclock'),
//     their sum kernels_ms (buffer copies and the gaps between dispatches are not in it; compare
//     with the 'forward' line's time), and wall_s: that forward plus, in wall-clock mode, its replay.
// Times are wall-clock around `await gpu.sync()`; on CPU adapters `cpu_s` is this process's CPU
// time (all of llvmpipe's or SwiftShader's threads), less affected by other processes on the cores.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DdpmUnet, maxBatch } from '../dist/models/ddpm-unet.js';
import { isUnetPreset, unetPreset } from '../dist/models/unet-config.js';
import { acquireGpu } from '../dist/node/acquire.js';
import { Tensor } from '../dist/tensor.js';
import { synthesizedSafetensors, synthInput } from './lib/random-weights.mjs';
import { multiplyAdds, stateDictLayout, unetLayers } from './lib/unet-layers.mjs';

/**
 * Largest default batch on a GPU. maxBatch bounds only the binding size (64 images on a 4 GiB
 * binding), not the device memory: activations take ~0.5 GB per image (pool peak 0.94 GB at batch 1,
 * 0.45 GB of it weights), so 16 images need ~8.2 GB. BENCH_BATCHES asks for more.
 */
const MAX_DEFAULT_BATCH = 16;
const here = dirname(fileURLToPath(import.meta.url));

export async function run(gpu, report) {
  const preset = process.env.BENCH_PRESET ?? 'lsun-bedroom-256';
  if (!isUnetPreset(preset)) throw new Error(`BENCH_PRESET: unknown UNet preset "${preset}"`);
  const config = unetPreset(preset);
  const layers = unetLayers(config);
  const layout = stateDictLayout(layers);
  const flop = 2 * multiplyAdds(layers); // 497.0e9 per image for lsun-bedroom-256 (248.5 G multiply-adds)
  const onCpu = isCpuAdapter(gpu);
  const fit = maxBatch(config, gpu);
  const batches = (process.env.BENCH_BATCHES ?? (onCpu || fit < 2 ? '1' : `1,${Math.min(fit, MAX_DEFAULT_BATCH)}`)).split(',').map(Number);
  const reps = Number(process.env.BENCH_REPS ?? (onCpu ? 1 : 5));
  if (!batches.every((b) => Number.isInteger(b) && b > 0) || !(Number.isInteger(reps) && reps > 0)) {
    throw new Error(`BENCH_BATCHES must list positive integers and BENCH_REPS be one, got "${process.env.BENCH_BATCHES}" and "${process.env.BENCH_REPS}"`);
  }

  // PyTorch first: on CPU adapters both sides need all the cores.
  const torch = new Map();
  for (const b of batches) torch.set(b, process.env.BENCH_TORCH === '0' ? { error: 'skipped (BENCH_TORCH=0)' } : await runTorch(config, reps, b));

  gpu.pool.trim();
  const t0 = performance.now();
  const unet = await loadUnet(gpu, config, layout);
  await gpu.sync();
  const loadS = (performance.now() - t0) / 1000;
  const weightsPoolBytes = gpu.pool.inUse;
  const parameters = layout.reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
  try {
    for (const batch of batches) {
      gpu.pool.trim(); // free buffers left by the previous batch do not count towards this one's peak
      gpu.pool.resetPeak();
      const { times, cpuS, faults, eps } = await timeForward(gpu, unet, config, batch, reps);
      const mean = times.reduce((a, b) => a + b, 0) / times.length;
      const best = Math.min(...times);
      const line = {
        kind: 'forward', preset, batch, reps, max_batch: fit, conv3x3: gpu.conv3x3, split_k: gpu.splitK, fuse_norm: gpu.fuseNorm, texels: gpu.texels, lane_reads_probe: gpu.laneReadsProbe,
        s_per_image: round(mean / batch), best_s_per_image: round(best / batch), times_s: times.map(round),
        gflop_per_image: round(flop / 1e9), gflops: round((flop * batch) / mean / 1e9), best_gflops: round((flop * batch) / best / 1e9),
        ...(onCpu ? { cpu_s: round(cpuS), gflop_per_cpu_s: round((flop * batch * reps) / cpuS / 1e9) } : {}),
        parameters, weights_bytes: parameters * 4, weights_pool_bytes: weightsPoolBytes, peak_pool_bytes: gpu.pool.peak, texel_bytes: gpu.texelPool.heldBytes,
        page_faults_per_forward: Math.round(faults / reps),
        load_s: round(loadS), loadavg: loadavg().map(round),
      };
      Object.assign(line, compareTorch(torch.get(batch), mean / batch, onCpu ? cpuS / reps / batch : null, await eps.read()));
      eps.dispose();
      report(line);
    }
  } finally {
    unet.dispose();
    gpu.pool.trim();
  }
  if (process.env.BENCH_PROFILE !== '0') report({ kind: 'profile', preset, ...(await profileForward(gpu, config, layout, batches[0])) });
}

/** One warm-up forward (pipeline compilation), then `reps` timed ones; returns the last output. */
async function timeForward(gpu, unet, config, batch, reps) {
  const { in_channels: c, resolution: r } = config;
  const x = Tensor.from(gpu, synthInput('x', [batch, c, r, r]), [batch, c, r, r], 'x');
  const t = new Array(batch).fill(0);
  let eps = unet.forwardBatched(x, t);
  await gpu.sync();
  const times = [];
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < reps; i++) {
    eps.dispose();
    const t0 = performance.now();
    eps = unet.forwardBatched(x, t);
    await gpu.sync();
    times.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  x.dispose();
  return { times, cpuS: (cpu.user + cpu.system) / 1e6, faults, eps };
}

/**
 * Per-kernel times of one forward at `batch` on a profiled Gpu: the runner's own when it has a
 * profiler (DNF_PROFILE=1), else a second one on the same backend. No warm-up is needed: the
 * profiler times GPU work only (timestamps, or a replay after everything is compiled).
 */
async function profileForward(gpu, config, layout, batch) {
  // The same lane reads as the timed forwards: a second probe could choose otherwise on a close call.
  const pgpu = gpu.profiler ? gpu : await acquireGpu({ backend: gpu.backend, profile: true, laneTexels: gpu.laneReads === 'texels' ? 'on' : 'off' });
  let unet = null;
  try {
    unet = await loadUnet(pgpu, config, layout);
    const { in_channels: c, resolution: r } = config;
    const x = Tensor.from(pgpu, synthInput('x', [batch, c, r, r]), [batch, c, r, r], 'x');
    await pgpu.sync();
    // Forget earlier work (the timed runs on the runner's Gpu, the load): timestamps are drained, records dropped.
    if (pgpu.profiler.mode === 'timestamp') await pgpu.profiler.report();
    pgpu.profiler.reset();
    const t0 = performance.now();
    const eps = unet.forwardBatched(x, new Array(batch).fill(0));
    await pgpu.sync();
    const rows = await pgpu.profiler.report(); // wall-clock mode: replays the dispatches now, before any buffer is freed
    const wallS = (performance.now() - t0) / 1000;
    eps.dispose();
    x.dispose();
    const total = rows.reduce((s, k) => s + k.ms, 0);
    return {
      batch, mode: pgpu.profiler.mode, wall_s: round(wallS), kernels_ms: round(total),
      kernels: rows.map((k) => ({ kernel: k.kernel, calls: k.calls, ms: round(k.ms), share: round(k.ms / total) })),
    };
  } finally {
    unet?.dispose();
    if (pgpu !== gpu) pgpu.destroy();
  }
}

async function loadUnet(gpu, config, layout) {
  return DdpmUnet.fromSafetensors(gpu, config, await synthesizedSafetensors(layout));
}

/**
 * bench/torch_unet.py at `batch`: {result, eps} (its JSON line and its output), or {error} when
 * the interpreter, torch or the run is missing or fails.
 */
async function runTorch(config, reps, batch) {
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const device = process.env.BENCH_TORCH_DEVICE ?? 'cpu';
  const dir = await mkdtemp(join(tmpdir(), 'dnf-bench-unet-'));
  const epsFile = join(dir, 'eps.f32');
  const args = [join(here, 'torch_unet.py'), '--config', JSON.stringify(config), '--batch', String(batch), '--reps', String(reps), '--device', device, '--eps-out', epsFile];
  try {
    const { stdout } = await promisify(execFile)(python, args);
    const bytes = await readFile(epsFile);
    return { result: JSON.parse(stdout), eps: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
  } catch (e) {
    if (e.code === 'ENOENT') return { error: `${python} not found (set BENCH_PYTHON)` };
    const said = [e.stdout, e.stderr].map((s) => (s ?? '').trim()).find(Boolean) ?? e.message;
    const last = said.split('\n').pop();
    try {
      return { error: JSON.parse(last).error };
    } catch {
      return { error: last };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A forward line's PyTorch fields (times per image): ratios, and how far apart the two outputs are. */
function compareTorch(torch, oursS, oursCpuS, eps) {
  if (!torch.result) return { torch: null, torch_error: torch.error };
  const r = torch.result;
  let maxDiff = 0;
  let maxEps = 0;
  for (let i = 0; i < eps.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(eps[i] - torch.eps[i]));
    maxEps = Math.max(maxEps, Math.abs(torch.eps[i]));
  }
  const torchCpuS = r.cpu_s / r.times_s.length / r.batch;
  return {
    torch_s_per_image: round(r.s_per_image), ratio: round(oursS / r.s_per_image),
    ...(oursCpuS !== null && r.device === 'cpu' ? { torch_cpu_s: round(torchCpuS), cpu_ratio: round(oursCpuS / torchCpuS) } : {}),
    torch: { version: r.torch_version, device: r.device, threads: r.threads, times_s: r.times_s.map(round) },
    max_abs_diff: maxDiff, max_abs_eps: maxEps,
  };
}

function isCpuAdapter(gpu) {
  const a = gpu.adapter;
  return a.isFallbackAdapter || /llvmpipe|lavapipe|softpipe|swiftshader/i.test(`${gpu.backend} ${a.architecture} ${a.device} ${a.description}`);
}

/** Four significant digits. */
function round(v) {
  return Number(v.toPrecision(4));
}
