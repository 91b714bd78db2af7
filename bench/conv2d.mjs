// conv2d (src/kernels/conv2d.ts) GFLOP/s per shape: `node bench/run.mjs conv2d` after `npm run build`.
// Env BENCH_CONV_SHAPES: shapes separated by ';', each N,Cin,H,W,Cout,k[,stride[,padding]]
// (padding: same | down | 0); BENCH_CONV_REPS: dispatches per timing (default 3).
// FLOP = 2*N*Cout*Cin*k*k*Ho*Wo. Each shape runs once to warm up (pipeline compile), then `reps`
// times between two gpu.sync(); the best of three such timings is reported. On CPU adapters other
// processes may share the cores: `cpu_gflops` divides by the process's CPU time instead (all of
// llvmpipe's or SwiftShader's threads), a per-core rate that contention affects less.
// pixel_groups, workgroup and workgroups: the dispatch's PV (the adapter's, lowered on narrow
// outputs), invocations per workgroup and grid (x: the batch's pixel tiles, y: blocks of 16 output
// channels, z: x's overflow past the adapter's workgroups per dimension).
// Every 3x3 stride-1 'same' shape also runs as Winograd F(4x4, 3x3) and F(6x6, 3x3) (kernels
// conv2d.winograd and conv2d.winograd6, their gflops counted with the direct convolution's FLOPs,
// so the lines compare as speeds), with `chosen`: whether nn/Conv2d takes it on this adapter
// (winogradPays and winogradTile), and `speedup` over direct.
// BENCH_CONV_WINOGRAD=0 skips it. On CPU adapters the 1x1 stride-1 shapes that conv2d runs as the
// batched GEMM (src/kernels/conv1x1-gemm.ts) also print that (kernel conv2d.conv1x1gemm) with its
// speedup over the direct conv1x1 line before it. On GPUs the 3x3 shapes that split-K would cut
// (conv2dSplits with DNF_SPLITK=auto) also print that (kernel conv2d.conv3x3.splitk, splits,
// chosen: whether this run's splitK takes it) with its speedup over the unsplit line.
import { Tensor } from '../dist/tensor.js';
import { conv2d, conv2dEntry, conv2dPixelGroups, conv2dPlan, conv2dSplits, conv2dTiled, prepareConv2d } from '../dist/kernels/conv2d.js';
import { conv1x1GemmServes } from '../dist/kernels/conv1x1-gemm.js';
import { conv2dWinograd, winogradPays, winogradTile, winogradWeights } from '../dist/kernels/conv2d-winograd.js';
import { randomValues } from '../dist/selftest.js';
import { bestOf } from './lib/timing.mjs';

// The LSUN UNet's 3x3 levels (256 .. 8 pixels), two 1x1 and the Downsample.
const DEFAULT_SHAPES = '1,128,256,256,128,3;1,128,128,128,128,3;1,256,64,64,256,3;1,256,32,32,256,3;1,512,16,16,512,3;1,512,8,8,512,3;1,256,256,256,128,1;1,256,64,64,512,1;1,128,256,256,128,3,2,down';

export async function run(gpu, report) {
  const reps = Number(process.env.BENCH_CONV_REPS ?? 3);
  for (const spec of (process.env.BENCH_CONV_SHAPES ?? DEFAULT_SHAPES).split(';')) {
    const [n, cin, h, w, cout, k, stride = '1', pad = 'same'] = spec.split(',');
    const [N, Cin, H, W, Cout, Kk] = [n, cin, h, w, cout, k].map(Number);
    const padding = pad === '0' ? 0 : pad;
    const scale = 1 / Math.sqrt(Cin * Kk * Kk);
    const weights = prepareConv2d(gpu, randomValues(Cout * Cin * Kk * Kk, 1).map((v) => v * scale), [Cout, Cin, Kk, Kk], randomValues(Cout, 2), 'bench');
    const x = Tensor.from(gpu, randomValues(N * Cin * H * W, 3), [N, Cin, H, W], 'x');
    const opts = { stride: Number(stride), padding };
    const warm = conv2d(x, weights, opts);
    await gpu.sync();
    const [, , ho, wo] = warm.shape;
    const flop = 2 * N * Cout * Cin * Kk * Kk * ho * wo;
    const direct = await bestOf(3, gpu, reps, () => conv2dTiled(x, weights, { ...opts, out: warm }, conv2dPixelGroups(gpu)));
    const entry = conv2dEntry(Kk, opts.stride, padding);
    const plan = conv2dPlan(entry, N, ho, wo, conv2dPixelGroups(gpu), gpu.limits.maxComputeWorkgroupsPerDimension);
    report({
      kernel: `conv2d.${plan.entry}`,
      shape: spec,
      pixel_groups: plan.pv,
      workgroup: plan.wg,
      workgroups: [plan.workgroups[0], Math.ceil(Cout / 16), plan.workgroups[1]],
      ...rates(flop, direct),
    });
    const splits = entry === 'conv3x3' ? conv2dSplits(Object.create(gpu, { splitK: { value: 'auto' } }), H, W, Cin, Cout) : 1;
    if (splits > 1) {
      const split = await bestOf(3, gpu, reps, () => conv2dTiled(x, weights, { ...opts, out: warm }, conv2dPixelGroups(gpu), undefined, splits));
      report({
        kernel: 'conv2d.conv3x3.splitk',
        shape: spec,
        splits,
        chosen: gpu.splitK === 'auto',
        speedup: +(direct.ms / split.ms).toFixed(3),
        ...rates(flop, split),
      });
    }
    if (conv2dPixelGroups(gpu) === 4 && conv1x1GemmServes(x, weights, opts)) {
      const gemm = await bestOf(3, gpu, reps, () => conv2d(x, weights, { ...opts, out: warm }));
      report({
        kernel: 'conv2d.conv1x1gemm',
        shape: spec,
        chosen: true,
        speedup: +(direct.ms / gemm.ms).toFixed(3),
        cpu_speedup: +(direct.cpuMs / gemm.cpuMs).toFixed(3),
        ...rates(flop, gemm),
      });
    }
    if (entry === 'conv3x3' && process.env.BENCH_CONV_WINOGRAD !== '0') {
      for (const tile of [4, 6]) {
        const u = winogradWeights(weights, tile);
        conv2dWinograd(x, weights, u, { out: warm });
        await gpu.sync();
        const wino = await bestOf(3, gpu, reps, () => conv2dWinograd(x, weights, u, { out: warm }));
        report({
          kernel: tile === 4 ? 'conv2d.winograd' : 'conv2d.winograd6',
          shape: spec,
          chosen: winogradPays(gpu, H, W, Cin, Cout) && winogradTile(H, W) === tile,
          speedup: +(direct.ms / wino.ms).toFixed(3),
          cpu_speedup: +(direct.cpuMs / wino.cpuMs).toFixed(3),
          ...rates(flop, wino),
        });
        u.dispose();
      }
    }
    warm.dispose();
    x.dispose();
    weights.dispose();
  }
}

function rates(flop, { ms, cpuMs }) {
  return { ms: +ms.toFixed(3), gflops: +(flop / ms / 1e6).toFixed(2), cpu_gflops: +(flop / cpuMs / 1e6).toFixed(2) };
}
