// How winograd_gemm.wgsl reads its operands (src/kernels/gemm.ts's `reads`), each way against
// storage: `node bench/run.mjs gemm` after `npm run build`. For each shape the Winograd convolution
// (tile as nn/Conv2d picks it; U and V from storage, 'storage', through uniform windows, 'uv', or
// from texel mirrors, 'texels') or the 1x1 GEMM (U from storage, through windows, 'u', or both
// operands from texel mirrors) runs each way on the same data; one line per way (kernel
// gemm.winograd / gemm.conv1x1, reads, tiles_per_lane) with ms and cpu_ms, best of three timings
// of BENCH_GEMM_REPS calls (default 2), whether the layer reads that way by default on this
// adapter (`chosen`), and on the other ways' lines their speedup and cpu_speedup over the first
// (where gemmPlan finds no window, the 'u' and 'uv' lines ran from storage).
// Env BENCH_GEMM_SHAPES: N,Cin,H,W,Cout,k separated by ';' (k 3 or 1);
//     BENCH_GEMM_TILES: tiles per invocation of the Winograd product (default: nn/Conv2d's choice
//     for each way);
//     BENCH_GEMM_WAYS: the ways to run, comma-separated (default all three; the others are
//     compared with the first).
import { Tensor } from '../dist/tensor.js';
import { prepareConv2d } from '../dist/kernels/conv2d.js';
import { conv1x1Gemm, conv1x1PixelsPerLane } from '../dist/kernels/conv1x1-gemm.js';
import { gemmPlan, gemmReads } from '../dist/kernels/gemm.js';
import { conv2dWinograd, winogradChunkTiles, winogradLanes, winogradTile, winogradWeights } from '../dist/kernels/conv2d-winograd.js';
import { randomValues } from '../dist/selftest.js';
import { bestOf } from './lib/timing.mjs';

// The LSUN UNet's 3x3 levels from 256 to 32 pixels, and three of its 1x1 layers.
const DEFAULT_SHAPES = '1,128,256,256,128,3;1,128,128,128,128,3;1,256,64,64,256,3;1,256,32,32,256,3;1,256,256,256,128,1;1,256,64,64,512,1;1,1024,16,16,512,1';

const waysOr = (all) => (process.env.BENCH_GEMM_WAYS ? process.env.BENCH_GEMM_WAYS.split(',') : all);

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
      kernel = 'gemm.winograd';
      ways = waysOr(['storage', 'uv', 'texels']);
      // conv2dWinograd's choice ('uv' only over the tiles, made on its first chunk).
      const tiles = n * Math.ceil(h / tile) * Math.ceil(w / tile);
      const first = Math.min(tiles, winogradChunkTiles(gpu, cin, weights.weight.shape[0] * 16, tiles, undefined, tile));
      const byDefault = gemmReads(gpu, 'winograd');
      chosen = (way) => way === byDefault && (way !== 'uv' || winogradLanes(first) === 'tiles');
      record = (reads) => conv2dWinograd(x, weights, u, { out }, { reads, tilesPerLane });
    } else {
      kernel = 'gemm.conv1x1';
      ways = waysOr(['storage', 'u', 'texels']);
      const perLane = conv1x1PixelsPerLane(h * w);
      const pixels = h * w;
      const byDefault = gemmReads(gpu, 'conv1x1');
      const windowed = !!gemmPlan(gpu, { v: x, u: weights.weight, cin, tpad: pixels, vBlock: pixels, coPad: cout, qs: n, uBlock: cin * 4, uPos: 0, uCi: 4, tg: perLane / 4, lanes: pixels / perLane, reads: 'u' })[0].u;
      chosen = (way) => way === byDefault && (way !== 'u' || windowed);
      record = (reads) => conv1x1Gemm(x, weights, {}, out, perLane, reads);
    }
    const times = {};
    for (const way of ways) {
      record(way);
      await gpu.sync(); // compiles the pipelines
      times[way] = await bestOf(3, gpu, reps, () => record(way));
    }
    const round = (v) => +v.toFixed(2);
    const [base, ...others] = ways;
    report({ kernel, shape: spec, reads: base, tiles_per_lane: tilesPerLane ?? null, chosen: chosen(base), ms: round(times[base].ms), cpu_ms: round(times[base].cpuMs) });
    for (const way of others) {
      report({
        kernel,
        shape: spec,
        reads: way,
        tiles_per_lane: tilesPerLane ?? null,
        chosen: chosen(way),
        ms: round(times[way].ms),
        cpu_ms: round(times[way].cpuMs),
        speedup: +(times[base].ms / times[way].ms).toFixed(3),
        cpu_speedup: +(times[base].cpuMs / times[way].cpuMs).toFixed(3),
      });
    }
    [x, out, u].forEach((t) => t?.dispose());
    weights.dispose();
  }
}
