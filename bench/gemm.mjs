// winograd_gemm.wgsl's U through uniform windows against U in storage (src/kernels/gemm.ts):
// `node bench/run.mjs gemm` after `npm run build`. For each shape the Winograd convolution (tile
// and register tile as nn/Conv2d picks them) or the 1x1 GEMM runs both ways on the same data;
// one line per way (kernel gemm.winograd / gemm.conv1x1, u: storage | window) with ms and cpu_ms,
// best of three timings of BENCH_GEMM_REPS calls (default 2), and on the window line its speedup
// and cpu_speedup over storage and whether the layer takes windows by default (`chosen`; where
// it does not, both lines ran with U in storage).
// Env BENCH_GEMM_SHAPES: N,Cin,H,W,Cout,k separated by ';' (k 3 or 1).
import { Tensor } from '../dist/tensor.js';
import { prepareConv2d } from '../dist/kernels/conv2d.js';
import { conv1x1Gemm, conv1x1PixelsPerLane } from '../dist/kernels/conv1x1-gemm.js';
import { gemmPlan } from '../dist/kernels/gemm.js';
import { conv2dWinograd, winogradChunkTiles, winogradLanes, winogradTile, winogradTilesPerLane, winogradUWindow, winogradWeights } from '../dist/kernels/conv2d-winograd.js';
import { randomValues } from '../dist/selftest.js';
import { bestOf } from './lib/timing.mjs';

// The LSUN UNet's 3x3 levels from 256 to 32 pixels, and three of its 1x1 layers.
const DEFAULT_SHAPES = '1,128,256,256,128,3;1,128,128,128,128,3;1,256,64,64,256,3;1,256,32,32,256,3;1,256,256,256,128,1;1,256,64,64,512,1;1,1024,16,16,512,1';

export async function run(gpu, report) {
  const reps = Number(process.env.BENCH_GEMM_REPS ?? 2);
  for (const spec of (process.env.BENCH_GEMM_SHAPES ?? DEFAULT_SHAPES).split(';')) {
    const [n, cin, h, w, cout, k] = spec.split(',').map(Number);
    const weights = prepareConv2d(gpu, randomValues(cout * cin * k * k, 1).map((v) => v / Math.sqrt(cin * k * k)), [cout, cin, k, k], randomValues(cout, 2), 'bench');
    const x = Tensor.from(gpu, randomValues(n * cin * h * w, 3), [n, cin, h, w], 'x');
    const out = Tensor.empty(gpu, [n, cout, h, w], 'out');
    let record;
    let kernel;
    let chosen;
    let u;
    if (k === 3) {
      const tile = winogradTile(h, w);
      u = winogradWeights(weights, tile);
      const tiles = n * Math.ceil(h / tile) * Math.ceil(w / tile);
      // conv2dWinograd's choice, made on its first chunk of tiles.
      const first = Math.min(tiles, winogradChunkTiles(gpu, cin, weights.weight.shape[0] * 16, tiles, undefined, tile));
      kernel = 'gemm.winograd';
      chosen = winogradLanes(first) === 'tiles' && winogradUWindow(gpu, winogradTilesPerLane(first));
      record = (uWindow) => conv2dWinograd(x, weights, u, { out }, { uWindow });
    } else {
      kernel = 'gemm.conv1x1';
      const perLane = conv1x1PixelsPerLane(h * w);
      chosen = !!gemmPlan(gpu, { u: weights.weight, cin, coPad: cout, qs: n, uBlock: cin * 4, uPos: 0, lanes: (h * w) / perLane, uWindow: true });
      record = (uWindow) => conv1x1Gemm(x, weights, {}, out, perLane, uWindow);
    }
    const times = {};
    for (const uWindow of [false, true]) {
      record(uWindow);
      await gpu.sync(); // compiles the pipelines
      times[uWindow] = await bestOf(3, gpu, reps, () => record(uWindow));
    }
    const round = (v) => +v.toFixed(2);
    report({ kernel, shape: spec, u: 'storage', ms: round(times.false.ms), cpu_ms: round(times.false.cpuMs) });
    report({
      kernel,
      shape: spec,
      u: 'window',
      chosen,
      ms: round(times.true.ms),
      cpu_ms: round(times.true.cpuMs),
      speedup: +(times.false.ms / times.true.ms).toFixed(3),
      cpu_speedup: +(times.false.cpuMs / times.true.cpuMs).toFixed(3),
    });
    [x, out, u].forEach((t) => t?.dispose());
    weights.dispose();
  }
}
