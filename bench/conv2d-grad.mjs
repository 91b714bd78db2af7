// conv2d backward (src/kernels/conv2d-grad.ts) against the forward on the same shapes:
// `node bench/run.mjs conv2d-grad` after `npm run build`. One JSON line per shape and pass
// (forward, dgrad = d loss / d x, wgrad = d loss / d w) with ms and GFLOP/s; the backward lines
// carry `vs_forward`, their GFLOP/s over the forward's, and `vs_forward_cpu`, the same from CPU
// times.
// Env BENCH_CONV_GRAD_SHAPES: shapes separated by ';', each N,Cin,H,W,Cout,k[,stride] (padding
// (k-1)/2, as torchvision's ResNets); BENCH_CONV_REPS: dispatches per timing (default 3).
// FLOP = 2*N*Cout*Cin*k*k*Ho*Wo for each pass. Each pass runs once to warm up (pipeline compile);
// then three rounds each time `reps` dispatches of every pass between two gpu.sync(), forward and
// backward interleaved so that other load on a shared machine affects them alike; the best round
// of each pass is reported. `cpu_gflops` divides by the process's CPU time instead (all of a CPU
// adapter's threads), a per-core rate that contention affects less.
import { Tensor } from '../dist/tensor.js';
import { conv2d, conv2dEntry } from '../dist/kernels/conv2d.js';
import { conv2dBackwardData, conv2dBackwardWeight, layoutConv2dGradWeights, layoutConv2dWeights } from '../dist/kernels/conv2d-grad.js';
import { randomValues } from '../dist/selftest.js';
import { timeReps } from './lib/timing.mjs';

// ResNet50 at 256x256, batch 2: stem, a 3x3 and the expanding 1x1 of layer1, the stride-2 3x3 of
// layer2, the 3x3 of layer3 and layer4, the stride-2 downsample of layer3.
const DEFAULT_SHAPES = '2,64,64,64,64,3;2,64,64,64,256,1;2,256,16,16,256,3;2,512,8,8,512,3;2,3,256,256,64,7,2;2,128,64,64,128,3,2;2,512,32,32,1024,1,2';

export async function run(gpu, report) {
  const reps = Number(process.env.BENCH_CONV_REPS ?? 3);
  for (const spec of (process.env.BENCH_CONV_GRAD_SHAPES ?? DEFAULT_SHAPES).split(';')) {
    const [N, Cin, H, W, Cout, K, S = 1] = spec.split(',').map(Number);
    const pad = (K - 1) / 2;
    const scale = 1 / Math.sqrt(Cin * K * K);
    const weight = Tensor.from(gpu, randomValues(Cout * Cin * K * K, 1).map((v) => v * scale), [Cout, Cin, K, K], 'w');
    const fwdWeights = layoutConv2dWeights(weight);
    const gradWeights = layoutConv2dGradWeights(weight);
    const x = Tensor.from(gpu, randomValues(N * Cin * H * W, 3), [N, Cin, H, W], 'x');
    const y = conv2d(x, fwdWeights, { stride: S });
    const [, , ho, wo] = y.shape;
    const dy = Tensor.from(gpu, randomValues(N * Cout * ho * wo, 4), [N, Cout, ho, wo], 'dy');
    const dx = Tensor.empty(gpu, x.shape, 'dx');
    const dw = Tensor.empty(gpu, weight.shape, 'dw');
    const passes = {
      forward: () => conv2d(x, fwdWeights, { stride: S, out: y }),
      dgrad: () => conv2dBackwardData(dy, gradWeights, { stride: S, pad, inputSize: [H, W], out: dx }),
      wgrad: () => conv2dBackwardWeight(x, dy, { k: K, stride: S, pad }, dw),
    };
    for (const fn of Object.values(passes)) fn();
    const best = Object.fromEntries(Object.keys(passes).map((k) => [k, { ms: Infinity, cpuMs: Infinity }]));
    for (let round = 0; round < 3; round++) {
      for (const [name, fn] of Object.entries(passes)) {
        const t = await timeReps(gpu, reps, fn);
        best[name].ms = Math.min(best[name].ms, t.ms);
        best[name].cpuMs = Math.min(best[name].cpuMs, t.cpuMs);
      }
    }
    const flop = 2 * N * Cout * Cin * K * K * ho * wo;
    const gflops = (ms) => +(flop / ms / 1e6).toFixed(2);
    for (const [name, t] of Object.entries(best)) {
      report({
        kernel: name === 'forward' ? `conv2d.${conv2dEntry(K, S, 'same')}` : `conv2d.${name}`,
        pass: name,
        shape: spec,
        ms: +t.ms.toFixed(3),
        gflops: gflops(t.ms),
        cpu_gflops: gflops(t.cpuMs),
        ...(name === 'forward' ? {} : { vs_forward: +(best.forward.ms / t.ms).toFixed(2), vs_forward_cpu: +(best.forward.cpuMs / t.cpuMs).toFixed(2) }),
      });
    }
    [weight, x, y, dy, dx, dw].forEach((t) => t.dispose());
    fwdWeights.dispose();
    gradWeights.dispose();
  }
}
