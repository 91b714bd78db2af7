#!/usr/bin/env node
// The full lsun-bedroom-256 UNet (113.7 M parameters, synthetic weights) against PyTorch: a tool
// run, not part of the unit suite (the weights are 455 MB and one forward takes a minute on CPU).
//
//   /usr/bin/python3 tools/golden/unet_full.py [dir]       # PyTorch: weights + x + eps(x, t=0)
//   npm run build && DNF_BACKEND=opengles node tools/unet-check.mjs [dir] [runs]
//
// dir defaults to /tmp/dnf-unet-full (outside the repository). Loads the weights lazily (tensor by
// tensor) through the VarBuilder, runs eps(x, t=0) `runs` times (default 2: the first compiles the
// pipelines), and checks the released DNF both ways:
//   float:  max|eps - eps_torch| <= 1e-4 * max|eps_torch|, and the same against float64 truth
//           (eps64, when the golden has it): `vs_float64` beside PyTorch float32's own error
//   PNG:    save_image's q = uint8(clamp(eps * 255 + 0.5, 0, 255)) equal except +-1 on <= 1% of values
// With DNF_PROFILE=1, the per-kernel times of the last run are printed.
// Prints one JSON summary line; exit 1 on failure.
import { join } from 'node:path';
import { acquireGpu } from '../dist/node/acquire.js';
import { openSafetensors } from '../dist/node/files.js';
import { formatProfile } from '../dist/gpu/profiler.js';
import { DdpmUnet } from '../dist/models/ddpm-unet.js';
import { unetPreset } from '../dist/models/unet-config.js';
import { Tensor } from '../dist/tensor.js';

const dir = process.argv[2] ?? '/tmp/dnf-unet-full';
const runs = Number(process.argv[3] ?? 2);

/** torchvision save_image: mul(255).add_(0.5).clamp_(0, 255) in f32, then the uint8 cast truncates. */
function quantize(v) {
  const q = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) q[i] = Math.min(255, Math.max(0, Math.fround(Math.fround(v[i] * 255) + 0.5)));
  return q;
}

// DNF_PROFILE=1 turns on the runtime's profiler (src/gpu/profiler.ts): GPU timestamps where the
// adapter has them, else a timed replay of each recorded dispatch.
const gpu = await acquireGpu();

const io = await openSafetensors(join(dir, 'io.safetensors'));
const x = await io.file.readF32('x');
const want = await io.file.readF32('eps');
const truth = io.file.names().includes('eps64') ? await io.file.readF32('eps64') : null;
const shape = [...io.file.info('x').shape];
await io.close();

const weights = await openSafetensors(join(dir, 'weights.safetensors'));
let t0 = performance.now();
const unet = await DdpmUnet.fromSafetensors(gpu, unetPreset('lsun-bedroom-256'), weights.file);
await gpu.sync();
const loadMs = performance.now() - t0;
await weights.close();

const input = Tensor.from(gpu, x, shape, 'x');
const times = [];
let got;
for (let r = 0; r < runs; r++) {
  t0 = performance.now();
  if (r === runs - 1) gpu.profiler?.reset(); // profile the last run only
  const eps = unet.forward(input, [0]);
  got = await eps.read();
  times.push(performance.now() - t0);
  eps.dispose();
}
let replayMs = 0;
if (gpu.profiler) {
  t0 = performance.now();
  const rows = await gpu.profiler.report();
  replayMs = performance.now() - t0;
  console.error(formatProfile(rows));
}

let maxDiff = 0;
let scale = 0;
for (let i = 0; i < want.length; i++) {
  maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
  scale = Math.max(scale, Math.abs(want[i]));
}
const qa = quantize(got);
const qb = quantize(want);
let qDiffer = 0;
let qMax = 0;
for (let i = 0; i < qa.length; i++) {
  const d = Math.abs(qa[i] - qb[i]);
  if (d) qDiffer++;
  qMax = Math.max(qMax, d);
}
/** max |a - b| / max |b|. */
function relativeError(a, b) {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}
const vsTruth = truth ? { ours: relativeError(got, truth), torch_float32: relativeError(want, truth) } : null;
const floatOk = maxDiff <= 1e-4 * scale && (!vsTruth || vsTruth.ours <= 1e-4);
const pngOk = qMax <= 1 && qDiffer <= 0.01 * qa.length;
console.log(JSON.stringify({
  backend: gpu.backend,
  adapter: gpu.adapter.description || gpu.adapter.device,
  load_s: +(loadMs / 1000).toFixed(2),
  forward_s: times.map((t) => +(t / 1000).toFixed(2)),
  max_abs_diff: maxDiff,
  max_abs_eps: scale,
  relative: maxDiff / scale,
  ...(vsTruth ? { vs_float64: vsTruth } : {}),
  png_values_differing: qDiffer,
  png_values: qa.length,
  png_max_diff: qMax,
  pool_peak_mib: +(gpu.pool.peak / 2 ** 20).toFixed(1),
  ...(gpu.profiler ? { profile_report_s: +(replayMs / 1000).toFixed(2) } : {}),
  ok: floatOk && pngOk,
}));
input.dispose();
unet.dispose();
gpu.destroy();
process.exitCode = floatOk && pngOk ? 0 : 1;
