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
//   float:  max|eps - eps_torch| <= 1e-4 * max|eps_torch|
//   PNG:    save_image's q = uint8(clamp(eps * 255 + 0.5, 0, 255)) equal except +-1 on <= 1% of values
// With DNF_PROFILE=1, per-kernel wall-clock times of the last run are printed (see replayProfiler).
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

const gpu = await acquireGpu({ profile: false });
const profile = process.env.DNF_PROFILE === '1' ? replayProfiler(gpu) : null;

/**
 * Per-kernel times by replay: records the dispatches and copies of one forward, then runs them
 * again one at a time, each followed by a 4-byte read of its output, which waits for the work to
 * finish. The replay recomputes the same values (same buffers, in the same order, with the weights
 * and the input still alive). Queue-completion timing cannot be used: on llvmpipe through GL both
 * the adapter's timestamps and onSubmittedWorkDone put nearly all the time on one kernel.
 */
function replayProfiler(g) {
  const ops = [];
  let recording = false;
  const dispatch = g.dispatch.bind(g);
  const copy = g.copy.bind(g);
  g.dispatch = (d) => {
    if (recording) ops.push({ label: d.label ?? `${d.shader}.${d.entry ?? 'main'}`, run: () => dispatch(d), out: d.buffers[d.buffers.length - 1] });
    dispatch(d);
  };
  g.copy = (src, srcOffset, dst, dstOffset, size) => {
    if (recording) ops.push({ label: 'copy', run: () => copy(src, srcOffset, dst, dstOffset, size), out: dst });
    copy(src, srcOffset, dst, dstOffset, size);
  };
  return {
    record(on) {
      recording = on;
    },
    async replay() {
      const totals = new Map();
      for (const op of ops) {
        const t0 = performance.now();
        op.run();
        await g.read('buffer' in op.out ? op.out.buffer : op.out, 0, 4);
        const t = totals.get(op.label) ?? { kernel: op.label, calls: 0, ms: 0 };
        t.calls++;
        t.ms += performance.now() - t0;
        totals.set(op.label, t);
      }
      return [...totals.values()].sort((a, b) => b.ms - a.ms);
    },
  };
}

const io = await openSafetensors(join(dir, 'io.safetensors'));
const x = await io.file.readF32('x');
const want = await io.file.readF32('eps');
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
  profile?.record(r === runs - 1);
  const eps = unet.forward(input, [0]);
  profile?.record(false);
  got = await eps.read();
  times.push(performance.now() - t0);
  eps.dispose();
}
let replayMs = 0;
if (profile) {
  t0 = performance.now();
  const rows = await profile.replay();
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
const floatOk = maxDiff <= 1e-4 * scale;
const pngOk = qMax <= 1 && qDiffer <= 0.01 * qa.length;
console.log(JSON.stringify({
  backend: gpu.backend,
  adapter: gpu.adapter.description || gpu.adapter.device,
  load_s: +(loadMs / 1000).toFixed(2),
  forward_s: times.map((t) => +(t / 1000).toFixed(2)),
  max_abs_diff: maxDiff,
  max_abs_eps: scale,
  relative: maxDiff / scale,
  png_values_differing: qDiffer,
  png_values: qa.length,
  png_max_diff: qMax,
  pool_peak_mib: +(gpu.pool.peak / 2 ** 20).toFixed(1),
  ...(profile ? { profiled_replay_s: +(replayMs / 1000).toFixed(2) } : {}),
  ok: floatOk && pngOk,
}));
input.dispose();
unet.dispose();
gpu.destroy();
process.exitCode = floatOk && pngOk ? 0 : 1;
