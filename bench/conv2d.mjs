#!/usr/bin/env node
// Micro-benchmark of conv2d (src/kernels/conv2d.ts): prints one JSON line per shape.
// Run after `npm run build`: DNF_BACKEND=opengles node bench/conv2d.mjs [reps] [shape ...]
// A shape is N,Cin,H,W,Cout,k[,stride[,padding]] (padding: same | down | 0). FLOP = 2*N*Cout*Cin*k*k*Ho*Wo.
// Each shape runs once to warm up (pipeline compile), then `reps` times between two gpu.sync();
// the best of three such timings is reported. On CPU adapters other processes may share the cores:
// `cpu_gflops` divides by the process's CPU time instead (all of llvmpipe's or SwiftShader's
// threads), a per-core rate that contention affects less than the wall-clock `gflops`.
import { acquireGpu } from '../dist/node/acquire.js';
import { Tensor } from '../dist/tensor.js';
import { conv2d, conv2dEntry, conv2dPixelGroups, prepareConv2d } from '../dist/kernels/conv2d.js';

const DEFAULT_SHAPES = ['1,128,256,256,128,3', '1,256,64,64,256,3', '1,512,16,16,512,3'];
const reps = Number(process.argv[2] ?? 3);
const shapes = process.argv.length > 3 ? process.argv.slice(3) : DEFAULT_SHAPES;

function random(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

const gpu = await acquireGpu();
for (const spec of shapes) {
  const [n, cin, h, w, cout, k, stride = '1', pad = 'same'] = spec.split(',');
  const [N, Cin, H, W, Cout, Kk] = [n, cin, h, w, cout, k].map(Number);
  const padding = pad === '0' ? 0 : pad;
  const weights = prepareConv2d(gpu, random(Cout * Cin * Kk * Kk), [Cout, Cin, Kk, Kk], random(Cout), 'bench');
  const x = Tensor.from(gpu, random(N * Cin * H * W), [N, Cin, H, W], 'x');
  const opts = { stride: Number(stride), padding };
  const warm = conv2d(x, weights, opts);
  await gpu.sync();
  const [, , ho, wo] = warm.shape;
  const flop = 2 * N * Cout * Cin * Kk * Kk * ho * wo;
  let best = Infinity;
  let bestCpu = Infinity;
  for (let t = 0; t < 3; t++) {
    await gpu.sync();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let r = 0; r < reps; r++) conv2d(x, weights, { ...opts, out: warm });
    await gpu.sync();
    const cpu = process.cpuUsage(c0);
    best = Math.min(best, (performance.now() - t0) / reps);
    bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1000 / reps);
  }
  const entry = conv2dEntry(Kk, opts.stride, padding);
  console.log(JSON.stringify({ bench: 'conv2d', backend: gpu.backend, adapter: gpu.adapter.device || gpu.adapter.description, shape: spec, entry, pixel_groups: conv2dPixelGroups(gpu), ms: +best.toFixed(3), gflops: +(flop / best / 1e6).toFixed(2), cpu_gflops: +(flop / bestCpu / 1e6).toFixed(2) }));
  warm.dispose();
  x.dispose();
  weights.dispose();
}
gpu.destroy();
