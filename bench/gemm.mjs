// How winograd_gemm.wgsl reads its operands (src/kernels/gemm.ts's `reads`): from storage or
// from texel mirrors. `node bench/run.mjs gemm` after `npm run build`. For each shape the
// Winograd convolution (tile as nn/Conv2d picks it: input transform, product, output transform)
// or the 1x1 GEMM runs each way on the same data; one line per way (kernel gemm.winograd /
// gemm.conv1x1, reads, tiles_per_lane) with ms and cpu_ms, best of three timings of
// BENCH_GEMM_REPS calls (default 2), whether the layer reads that way by default on this adapter
// (`chosen`), and on the texels' line its speedup and cpu_speedup over storage.
// Env BENCH_GEMM_SHAPES: N,Cin,H,W,Cout,k separated by ';' (k 3 or 1);
//     BENCH_GEMM_TILES: tiles per invocation of the Winograd product (default: nn/Conv2d's choice).
import { Tensor } from '../dist/tensor.js';
import { prepareConv2d } from '../dist/kernels/conv2d.js';
import { conv1x1Gemm, conv1x1PixelsPerLane } from '../dist/kernels/conv1x1-gemm.js';
import { gemmReads } from '../dist/kernels/gemm.js';
import { conv2dWinograd, winogradTile, winogradWeights } from '../dist/kernels/conv2d-winograd.js';
import { randomValues } from '../dist/selftest.js';
import { bestOf } from './lib/timing.mjs';

// The LSUN UNet's 3x3 levels from 256 to 32 pixels, and three of its 1x1 layers.
const DEFAULT_SHAPES = '1,128,256,256,128,3;1,128,128,128,128,3;1,256,64,64,256,3;1,256,32,32,256,3;1,256,256,256,128,1;1,256,64,64,512,1;1,1024,16,16,512,1';

const WAYS = ['storage', 'texels'];

export async function run(gpu, report) {
  const reps = Number(process.env.BENCH_GEMM_REPS ?? 2);
  for (const spec of (process.env.BENCH_GEMM_SHAPES ?? DEFAULT_SHAPES).split(';')) {
    const [n, cin, h, w, cout, k] = spec.split(',').map(Number);
    const weights = prepareConv2d(gpu, randomValues(cout * cin * k * k, 1).map((v) => v / Math.sqrt(cin * k * k)), [cout, cin, k, k], randomValues(cout, 2), 'bench');
    const x = Tensor.from(gpu, randomValues(n * cin * h * w, 3), [n, cin, h, w], 'x');
    const out = Tensor.empty(gpu, [n, cout, h, w], 'out');
    let record;
    let kernel;
    let u;
    const tilesPerLane = process.env.BENCH_GEMM_TILES ? Number(process.env.BENCH_GEMM_TILES) : undefined;
    if (k === 3) {
      u = winogradWeights(weights, winogradTile(h, w));
      kernel = 'gemm.winograd';
      record = (reads) => conv2dWinograd(x, weights, u, { out }, { reads, tilesPerLane });
    } else {
      kernel = 'gemm.conv1x1';
      record = (reads) => conv1x1Gemm(x, weights, {}, out, conv1x1PixelsPerLane(h * w), reads);
    }
    const byDefault = gemmReads(gpu);
    const times = {};
    for (const way of WAYS) {
      record(way);
      await gpu.sync(); // compiles the pipelines
      times[way] = await bestOf(3, gpu, reps, () => record(way));
    }
    const round = (v) => +v.toFixed(2);
    const [base, other] = WAYS;
    const line = (way) => ({ kernel, shape: spec, reads: way, tiles_per_lane: tilesPerLane ?? null, chosen: way === byDefault, ms: round(times[way].ms), cpu_ms: round(times[way].cpuMs) });
    report(line(base));
    report({ ...line(other), speedup: +(times[base].ms / times[other].ms).toFixed(3), cpu_speedup: +(times[base].cpuMs / times[other].cpuMs).toFixed(3) });
    [x, out, u].forEach((t) => t?.dispose());
    weights.dispose();
  }
}
