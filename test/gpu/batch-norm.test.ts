/**
 * BatchNorm2d in train mode against PyTorch (tools/golden/batch_norm.py; torch 1.13).
 *
 * Expected values, per case (bn = torch.nn.BatchNorm2d(C), eps 1e-5, momentum 0.1, random weight,
 * bias and running statistics):
 *   bn.train(); out = act(bn(x) + residual)            act relu or none, residual or none
 *   dx, dweight, dbias = torch.autograd.grad((out * dy).sum(), [x, bn.weight, bn.bias])
 *   rm1, rv1 = bn.running_mean, bn.running_var          after that forward
 *   bn.eval(); out_eval = act(bn(x) + residual)
 *   bn.train(); bn(x2); rm2, rv2                         after a second forward
 * Here: batchNormTrainStats (with the running stats) -> batchNormApply per chunk; reluBackward of
 * dy from the saved output (when act is relu) -> batchNormBackward; batchNormEvalStats -> apply;
 * the batch of 3 whole and as chunks [1, 2].
 *
 * Tolerances, relative to max(1, max |want|) (helpers.expectClose), each held against the float32
 * PyTorch values and against the float64 ones (<name>.f64.*; the metadata records PyTorch's own
 * float32 error). Measured on llvmpipe and SwiftShader (the same values on both, whole or chunked):
 * - TOL 1e-6: out, dx, running stats, out_eval. Measured <= 2.0e-7 against float32 PyTorch and
 *   <= 2.7e-7 against float64; PyTorch's own error <= 1.7e-7.
 * - SUM_TOL 1e-5: dweight, dbias: sums of M mixed-sign terms, in f32 here where PyTorch accumulates
 *   in double. Measured <= 4.0e-6 (tiles_odd, M = 6909: |terms| sum to ~1000x the result) against
 *   float32 PyTorch, <= 2.6e-6 against float64; PyTorch's own <= 2.3e-7.
 * - BIG_TOL 1e-5, the large-mean cases (x = 100 + randn): the f32 mean is off by up to half an ulp
 *   of 100 (3.8e-6), in PyTorch too, which moves out by that times invstd * weight and dweight by
 *   that times invstd * sum(dy). Measured against float64 <= 8.3e-7 (out) and 4.2e-6 (dweight),
 *   PyTorch's own 1.0e-6 and 4.2e-6; against float32 PyTorch <= 6.3e-7. E[x^2] - mean^2 in f32 would
 *   lose ~1e4 * 6e-8 of the variance (errors near 3e-4), and merging unshifted partial means did
 *   (dweight 1.2e-4 off): the statistics are of x minus a sample of its channel.
 */
import { describe, expect, it } from 'vitest';
import {
  batchNormApply,
  batchNormBackward,
  batchNormEvalStats,
  batchNormPlan,
  batchNormTrainStats,
  reluBackward,
} from '../../src/kernels/batch-norm.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { Tensor } from '../../src/tensor.js';
import { expectClose, loadGolden, testGpu, type Golden } from './helpers.js';

const golden = loadGolden('batch_norm');
const TOL = 1e-6;
const SUM_TOL = 1e-5;
const BIG_TOL = 1e-5;
const CASES = ['odd', 'vec', 'plane1', 'bigmean', 'bigmean_odd', 'tiles', 'tiles_odd'] as const;
const CHUNKINGS = [[3], [1, 2]];

/** The golden tensor `name` split along N into chunks of the given sizes. */
function chunks(gpu: Gpu, g: Golden, name: string, sizes: number[]): Tensor[] {
  const data = g.get(name);
  const [n, ...rest] = g.shape(name);
  const per = data.length / n;
  let at = 0;
  return sizes.map((k) => {
    const t = Tensor.from(gpu, data.slice(at * per, (at + k) * per), [k, ...rest], `${name}[${at}:${at + k}]`);
    at += k;
    return t;
  });
}

async function readAll(ts: Tensor[]): Promise<Float32Array> {
  const parts = await Promise.all(ts.map((t) => t.read()));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function tolerance(name: string, key: string): number {
  if (name.startsWith('bigmean')) return BIG_TOL;
  return key === 'dweight' || key === 'dbias' ? SUM_TOL : TOL;
}

/** Checks output `key` of case `name` against float32 PyTorch and against float64. */
function check(g: Golden, name: string, key: string, got: Float32Array): void {
  const tol = tolerance(name, key);
  expectClose(got, g.get(`${name}.${key}`), tol, `${name}.${key} vs torch f32`);
  expectClose(got, g.get(`${name}.f64.${key}`), tol, `${name}.${key} vs float64`);
}

describe('batch norm (train mode)', () => {
  it.each(CASES.flatMap((name) => CHUNKINGS.map((sizes) => [name, sizes] as const)))('%s in chunks %j', async (name, sizes) => {
    const gpu = await testGpu();
    const g = await golden;
    const relu = g.metadata[`${name}.relu`] === '1';
    const xs = chunks(gpu, g, `${name}.x`, sizes);
    const dys = chunks(gpu, g, `${name}.dy`, sizes);
    const res = g.has(`${name}.residual`) ? chunks(gpu, g, `${name}.residual`, sizes) : null;
    const [weight, bias, rm, rv] = ['weight', 'bias', 'rm0', 'rv0'].map((k) => g.tensor(gpu, `${name}.${k}`));
    const grads = { weight: Tensor.empty(gpu, weight.shape), bias: Tensor.empty(gpu, weight.shape) };

    const stats = batchNormTrainStats(xs, { running: { mean: rm, var: rv } });
    const outs = xs.map((x, i) => batchNormApply(x, stats, weight, bias, { residual: res?.[i], relu }));
    check(g, name, 'out', await readAll(outs));
    check(g, name, 'rm1', await rm.read());
    check(g, name, 'rv1', await rv.read());

    const masked = relu ? dys.map((dy, i) => reluBackward(dy, outs[i])) : dys;
    const dxs = batchNormBackward(masked, xs, stats, weight, grads);
    check(g, name, 'dx', await readAll(dxs));
    check(g, name, 'dweight', await grads.weight.read());
    check(g, name, 'dbias', await grads.bias.read());

    const evalStats = batchNormEvalStats(rm, rv);
    const evalOuts = xs.map((x, i) => batchNormApply(x, evalStats, weight, bias, { residual: res?.[i], relu }));
    check(g, name, 'out_eval', await readAll(evalOuts));

    const x2 = chunks(gpu, g, `${name}.x2`, sizes);
    batchNormTrainStats(x2, { running: { mean: rm, var: rv } }).dispose();
    check(g, name, 'rm2', await rm.read());
    check(g, name, 'rv2', await rv.read());

    stats.dispose();
    evalStats.dispose();
    [...xs, ...dys, ...(res ?? []), ...outs, ...dxs, ...evalOuts, ...x2, weight, bias, rm, rv, grads.weight, grads.bias].forEach((t) => t.dispose());
    if (relu) masked.forEach((t) => t.dispose());
  });

  it('reads parameters, running stats and gradients as views into arenas, and accumulates gradients', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const name = 'vec';
    const c = g.get(`${name}.weight`).length;
    // Parameter arena: weight at 0, bias at 256; running stats at 512 and 768; gradients in another.
    const params = Tensor.empty(gpu, [256]);
    const gradArena = Tensor.empty(gpu, [128]);
    const view = (arena: Tensor, offset: number) => Tensor.view(gpu, arena.buffer, offset, [c]);
    const [weight, bias, rm, rv] = [0, 256, 512, 768].map((o) => view(params, o));
    const [dw, db] = [0, 256].map((o) => view(gradArena, o));
    gpu.write(params.buffer, 0, g.get(`${name}.weight`));
    gpu.write(params.buffer, 256, g.get(`${name}.bias`));
    gpu.write(params.buffer, 512, g.get(`${name}.rm0`));
    gpu.write(params.buffer, 768, g.get(`${name}.rv0`));
    const start = Float32Array.from({ length: c }, (_, i) => i - 3);
    gpu.write(gradArena.buffer, 0, start);
    gpu.write(gradArena.buffer, 256, start);
    // Past C, in the vec4 that holds the last channels: values that running and grads must keep.
    const sentinel = new Float32Array([7, 8, 9]);
    gpu.write(gradArena.buffer, 4 * c, sentinel);
    gpu.write(params.buffer, 768 + 4 * c, sentinel);

    const xs = chunks(gpu, g, `${name}.x`, [1, 2]);
    const dys = chunks(gpu, g, `${name}.dy`, [1, 2]);
    const res = chunks(gpu, g, `${name}.residual`, [1, 2]);
    const stats = batchNormTrainStats(xs, { running: { mean: rm, var: rv } });
    const outs = xs.map((x, i) => batchNormApply(x, stats, weight, bias, { residual: res[i], relu: true }));
    const masked = dys.map((dy, i) => reluBackward(dy, outs[i]));
    const dxs = batchNormBackward(masked, xs, stats, weight, { weight: dw, bias: db, accumulate: true });

    expectClose(await readAll(outs), g.get(`${name}.out`), TOL, 'out');
    expectClose(await rm.read(), g.get(`${name}.rm1`), TOL, 'rm1');
    expectClose(await rv.read(), g.get(`${name}.rv1`), TOL, 'rv1');
    expectClose(await readAll(dxs), g.get(`${name}.dx`), TOL, 'dx');
    const plus = (want: Float32Array) => want.map((v, i) => v + start[i]);
    expectClose(await dw.read(), plus(g.get(`${name}.dweight`)), TOL, 'dweight accumulated');
    expectClose(await db.read(), plus(g.get(`${name}.dbias`)), TOL, 'dbias accumulated');
    const kept = async (buffer: GPUBuffer, offset: number) => Array.from(new Float32Array(await gpu.read(buffer, offset, 12)));
    expect(await kept(gradArena.buffer, 4 * c)).toEqual([7, 8, 9]);
    expect(await kept(params.buffer, 768 + 4 * c)).toEqual([7, 8, 9]);

    stats.dispose();
    [...xs, ...dys, ...res, ...outs, ...masked, ...dxs, params, gradArena].forEach((t) => t.dispose());
  });

  it('splits large channels into several tiles', () => {
    expect(batchNormPlan(3).tiles).toBe(1);
    expect(batchNormPlan(2 * 2304).tiles).toBe(2);
    expect(batchNormPlan(64 * 16384)).toEqual({ perInv: 256, tiles: 16 });
  });

  it('refuses one value per channel, mismatched chunks and aliased outputs', async () => {
    const gpu = await testGpu();
    const one = Tensor.from(gpu, new Float32Array(3), [1, 3, 1, 1]);
    expect(() => batchNormTrainStats([one])).toThrow(/more than 1 value per channel/);
    const a = Tensor.empty(gpu, [1, 3, 4, 4]);
    const b = Tensor.empty(gpu, [2, 4, 4, 4]);
    expect(() => batchNormTrainStats([a, b])).toThrow(/differ in C, H or W/);
    const stats = batchNormTrainStats([a]);
    const w = Tensor.empty(gpu, [3]);
    expect(() => batchNormApply(a, stats, w, w, { out: a })).toThrow(/must not share a buffer/);
    const w4 = Tensor.empty(gpu, [4]);
    expect(() => batchNormApply(a, stats, w, w4)).toThrow(/bias \[4\] does not hold 3 channel values/);
    expect(() => batchNormBackward([b], [a], stats, w, { weight: w, bias: w })).toThrow(/do not match/);
    stats.dispose();
    [one, a, b, w, w4].forEach((t) => t.dispose());
  });
});
