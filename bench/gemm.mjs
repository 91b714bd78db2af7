// winograd_gemm.wgsl's operands through uniform windows against storage (src/kernels/gemm.ts):
// `node bench/run.mjs gemm` after `npm run build`. For each shape the Winograd convolution (tile
// as nn/Conv2d picks it; U and V through windows, 'uv', or both from storage, 'none') or the 1x1
// GEMM (U through windows, 'u', or not) runs both ways on the same data; one line per way
// (kernel gemm.winograd / gemm.conv1x1, windows: none | uv | u, tiles_per_lane) with ms and
// cpu_ms, best of three timings of BENCH_GEMM_REPS calls (default 2), and on the window line its
// speedup and cpu_speedup over storage and whether the layer takes windows by default
// (`chosen`; where gemmPlan finds none, both lines ran from storage).
// Env BENCH_GEMM_SHAPES: N,Cin,H,W,Cout,k separated by ';' (k 3 or 1);
//     BENCH_GEMM_TILES: tiles per invocation of the Winograd product (default: nn/Conv2d's choice
//     for each way).
import { Tensor } from '../dist/tensor.js';
import { prepareConv2d } from '../dist/kernels/conv2d.js';
import { conv1x1Gemm, conv1x1PixelsPerLane } from '../dist/kernels/conv1x1-gemm.js';
import { gemmPlan } from '../dist/kernels/gemm.js';
import { conv2dWinograd, winogradChunkTiles, winogradLanes, winogradTile, winogradWeights, WINOGRAD_WINDOWS } from '../dist/kernels/conv2d-winograd.js';
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
    let ways;
    const tilesPerLane = process.env.BENCH_GEMM_TILES ? Number(process.env.BENCH_GEMM_TILES) : undefined;
    if (k === 3) {
      const tile = winogradTile(h, w);
      u = winogradWeights(weights, tile);
      const tiles = n * Math.ceil(h / tile) * Math.ceil(w / tile);
      // conv2dWinograd's choice, made on its first chunk of tiles.
      const first = Math.min(tiles, winogradChunkTiles(gpu, cin, weights.weight.shape[0] * 16, tiles, undefined, tile));
      kernel = 'gemm.winograd';
      ways = ['none', 'uv'];
      chosen = winogradLanes(first) === 'tiles' && WINOGRAD_WINDOWS === 'uv';
      record = (windows) => conv2dWinograd(x, weights, u, { out }, { windows, tilesPerLane });
    } else {
      kernel = 'gemm.conv1x1';
      ways = ['none', 'u'];
      const perLane = conv1x1PixelsPerLane(h * w);
      const pixels = h * w;
      chosen = !!gemmPlan(gpu, { v: x, u: weights.weight, cin, tpad: pixels, vBlock: pixels, coPad: cout, qs: n, uBlock: cin * 4, uPos: 0, uCi: 4, tg: perLane / 4, lanes: pixels / perLane, windows: 'u' })[0].u;
      record = (windows) => conv1x1Gemm(x, weights, {}, out, perLane, windows === 'u');
    }
    const times = {};
    for (const way of ways) {
      record(way);
      await gpu.sync(); // compiles the pipelines
      times[way] = await bestOf(3, gpu, reps, () => record(way));
    }
    const round = (v) => +v.toFixed(2);
    const [storage, windowed] = ways;
    report({ kernel, shape: spec, windows: storage, tiles_per_lane: tilesPerLane ?? null, ms: round(times[storage].ms), cpu_ms: round(times[storage].cpuMs) });
    report({
      kernel,
      shape: spec,
      windows: windowed,
      tiles_per_lane: tilesPerLane ?? null,
      chosen,
      ms: round(times[windowed].ms),
      cpu_ms: round(times[windowed].cpuMs),
      speedup: +(times[storage].ms / times[windowed].ms).toFixed(3),
      cpu_speedup: +(times[storage].cpuMs / times[windowed].cpuMs).toFixed(3),
    });
    [x, out, u].forEach((t) => t?.dispose());
    weights.dispose();
  }
}
