/**
 * The UNet's kernels other than convolution against PyTorch (tools/golden/unet_ops.py).
 * Tolerances (expectClose: max |diff| <= tol * max(1, max |want|)):
 * - GroupNorm 1e-5, against a float64 reference: f32 statistics carry a few ulp of relative error
 *   (mean and variance from per-invocation two-pass sums merged pairwise), and the normalised value
 *   (x - mean) * scale + beta adds a few roundings of the output's size; with an input offset of
 *   100 the mean's own rounding (ulp(100) / 2 = 3.8e-6, times rstd * |gamma| <= ~3) is the largest
 *   term. Measured: 1.9e-7 without offset, 2.3e-6 with it.
 * - Attention 1e-5, against float64: scores sum C <= 64 products (~sqrt(C) ulp), softmax adds a
 *   few ulp per weight, the output sums L <= 256 weighted values of |v| <= ~4. Measured: 7.4e-7.
 * - Upsample and concat copy values: exact.
 * - Timestep embedding: see the test.
 */
import { describe, expect, it } from 'vitest';
import { groupNorm, groupNormPlan } from '../../src/kernels/group-norm.js';
import { attention } from '../../src/kernels/attention.js';
import { upsampleNearest2x } from '../../src/kernels/upsample.js';
import { concatChannels } from '../../src/kernels/concat.js';
import { timestepEmbedding } from '../../src/kernels/timestep.js';
import { Tensor } from '../../src/tensor.js';
import { expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('unet_ops');

/** unet_ops.py hash_input: k / 2^22 - 2 + offset, k the top 24 bits of a hash of the index. */
function hashInput(n: number, offset: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = Math.imul(i, 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    out[i] = (h >>> 8) / 2 ** 22 - 2 + offset;
  }
  return out;
}

describe('groupNorm', () => {
  // torch: F.group_norm(x.double(), 32, gamma, beta, eps=1e-6), then F.silu for the swish cases.
  it.each([
    ['gn.c64', false],
    ['gn.c96_swish', true],
    ['gn.offset', false],
    ['gn.seq', true],
  ] as const)('%s (swish %s)', async (name, swish) => {
    const gpu = await testGpu();
    const g = await golden;
    const [x, gamma, beta] = ['x', 'gamma', 'beta'].map((k) => g.tensor(gpu, `${name}.${k}`));
    const out = groupNorm(x, gamma, beta, { swish });
    expect(out.shape).toEqual(g.shape(`${name}.out`));
    expectClose(await out.read(), g.get(`${name}.out`), 1e-5, name);
    [x, gamma, beta, out].forEach((t) => t.dispose());
  });

  // Inputs hashed from the index (also in unet_ops.py); every SAMPLE-th output is stored.
  it.each([
    ['gn.hash', [1, 64, 96, 96], false, 0, { perInv: 16, tiles: 5 }],
    ['gn.hash_big', [1, 64, 192, 192], true, 1, { perInv: 20, tiles: 15 }],
    ['gn.hash_odd', [1, 32, 75, 75], false, -3, { perInv: 16, tiles: 2 }],
  ] as const)('%s: groups spanning several workgroups', async (name, shape, swish, offset, plan) => {
    const gpu = await testGpu();
    const g = await golden;
    const [, C, H, W] = shape;
    expect(groupNormPlan((C / 32) * H * W)).toEqual(plan);
    const x = Tensor.from(gpu, hashInput(C * H * W, offset), shape, name);
    const gamma = g.tensor(gpu, `${name}.gamma`);
    const beta = g.tensor(gpu, `${name}.beta`);
    const out = groupNorm(x, gamma, beta, { swish });
    const all = await out.read();
    const step = Number(g.metadata.sample);
    const want = g.get(`${name}.out_sampled`);
    expectClose(want.map((_, i) => all[i * step]), want, 1e-5, name);
    // The statistics pass reading x from storage or from its texel mirror (src/gpu/lane-reads.ts): the same bits.
    for (const reads of ['storage', 'texels'] as const) {
      const other = groupNorm(x, gamma, beta, { swish, reads });
      expect(Buffer.from((await other.read()).buffer).equals(Buffer.from(all.buffer)), `${name}, x from ${reads}`).toBe(true);
      other.dispose();
    }
    [x, gamma, beta, out].forEach((t) => t.dispose());
  });

  it('writes into a given output and checks its arguments', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const [x, gamma, beta] = ['x', 'gamma', 'beta'].map((k) => g.tensor(gpu, `gn.c64.${k}`));
    const out = Tensor.empty(gpu, x.shape);
    expect(groupNorm(x, gamma, beta, { out })).toBe(out);
    expectClose(await out.read(), g.get('gn.c64.out'), 1e-5, 'gn.c64 into out');
    expect(() => groupNorm(x, gamma, beta, { groups: 48 })).toThrow(/do not divide/);
    expect(() => groupNorm(x, beta.reshape([8, 8]), x)).toThrow(/gamma and beta/);
    expect(() => groupNorm(x, gamma, beta, { out: x })).toThrow(/alias/);
    [x, gamma, beta, out].forEach((t) => t.dispose());
  });
});

describe('attention', () => {
  // torch: AttnBlock's bmm(q^T, k) * c**-0.5 -> softmax(dim=2) -> bmm(v, w^T), in float64.
  it.each(['attn.c64', 'attn.c32'])('%s', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const [q, k, v] = ['q', 'k', 'v'].map((n) => g.tensor(gpu, `${name}.${n}`));
    const out = attention(q, k, v);
    expect(out.shape).toEqual(g.shape(`${name}.out`));
    expectClose(await out.read(), g.get(`${name}.out`), 1e-5, name);
    [q, k, v, out].forEach((t) => t.dispose());
  });

  it('refuses mismatched shapes', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const q = g.tensor(gpu, 'attn.c64.q');
    const k = g.tensor(gpu, 'attn.c32.k');
    expect(() => attention(q, k, q)).toThrow(/does not match/);
    q.dispose();
    k.dispose();
  });
});

describe('upsample and concat', () => {
  it.each(['up', 'up_even'])('%s: upsampleNearest2x equals F.interpolate(x, scale_factor=2.0, mode="nearest")', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, `${name}.x`);
    const out = upsampleNearest2x(x);
    expect(out.shape).toEqual(g.shape(`${name}.out`));
    expectClose(await out.read(), g.get(`${name}.out`), 0, name);
    x.dispose();
    out.dispose();
  });

  it('concatChannels equals torch.cat([a, b], dim=1)', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const a = g.tensor(gpu, 'cat.a');
    const b = g.tensor(gpu, 'cat.b');
    const out = concatChannels(a, b);
    expect(out.shape).toEqual(g.shape('cat.out'));
    expectClose(await out.read(), g.get('cat.out'), 0, 'concat');
    const up = g.tensor(gpu, 'up.out');
    expect(() => concatChannels(a, up)).toThrow(/differ outside the channel/);
    [a, b, out, up].forEach((t) => t.dispose());
  });
});

describe('timestepEmbedding', () => {
  // torch: get_timestep_embedding(torch.tensor([0, 1, 999, 250.5]), dim), in float32.
  // Both sides round the same float32 steps, but torch's vectorised exp is not correctly rounded
  // everywhere (for dim 64 it is one ulp off at 3 of the 32 frequencies). One ulp of freq (<= 6e-8)
  // moves t * freq by up to 999 * 6e-8 = 6e-5 at t = 999, and the f32 argument near 999 is itself
  // rounded to ulp(999) / 2 = 3e-5: sin/cos may differ by about 1e-4, so 2e-4 absolute
  // (measured: 4.4e-5 on both adapters).
  it.each([128, 64, 33])('dim %i', async (dim) => {
    const gpu = await testGpu();
    const g = await golden;
    const out = timestepEmbedding(gpu, Array.from(g.get('temb.t')), dim);
    expect(out.shape).toEqual([4, dim]);
    const got = await out.read();
    expectClose(got, g.get(`temb.${dim}`), 2e-4, `temb.${dim}`);
    out.dispose();
  });

  it('refuses dimensions without two frequencies', async () => {
    const gpu = await testGpu();
    expect(() => timestepEmbedding(gpu, [1], 3)).toThrow(/dim/);
  });
});
