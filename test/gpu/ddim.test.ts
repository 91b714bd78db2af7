/**
 * DDIM inversion and sampling against PyTorch (tools/golden/ddim.py: guided-diffusion's respaced
 * DDIM on the tiny UNet of unet.py, one 12x12 image), the DNF variants, and the round trip.
 *
 * Tolerances, relative to the scale of the expected tensor (expectClose):
 * - per-step eps and x_T: 1e-4, as the UNet golden (x_T is the last step's eps, re-derived when
 *   clamping); measured <= 2.4e-5 absolute (1.4e-5 relative), growing along the steps.
 * - samples: 1e-3. Each sampling step divides by sqrt(abar_t) (down to sqrt(0.0033) = 0.057 at
 *   t = 750), so an eps error of ~1e-5 becomes ~2e-4 in x0_hat before the next UNet evaluation.
 *   Measured: 7.5e-4 absolute on the unclamped sample of scale 28.8 (2.6e-5 relative), 1.6e-4 on
 *   the clamped one (scale 1).
 * The tiny UNet has random weights, so its eps is no consistent score: even in PyTorch,
 * sample(invert(x)) is far from x (max 28.5 unclamped, 1.9 clamped at K = 4). The round trip is
 * checked with the exact noise model of a one-image data set instead (see `oracle`).
 */
import { describe, expect, it } from 'vitest';
import { invert, sample, type NoiseModel } from '../../src/diffusion/ddim.js';
import { computeDnf } from '../../src/diffusion/dnf.js';
import { alphasCumprod, ddimSchedule, ddimTimesteps } from '../../src/diffusion/schedule.js';
import { add, mul } from '../../src/kernels/elementwise.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { Tensor } from '../../src/tensor.js';
import { loadTinyUnet } from '../synthetic-weights.js';
import { expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('ddim');
const unetGolden = loadGolden('unet');

async function setup() {
  const gpu = await testGpu();
  const g = await golden;
  return { gpu, g, unet: await loadTinyUnet(gpu, (await unetGolden).metadata) };
}

function report(what: string, d: { maxAbs: number; scale: number }) {
  console.log(`ddim ${what}: max|diff| ${d.maxAbs.toExponential(2)} (scale ${d.scale.toFixed(3)})`);
}

describe('DDIM schedule', () => {
  it("uses guided-diffusion's ddimK respacing", () => {
    expect(ddimTimesteps(4)).toEqual([0, 250, 500, 750]);
    expect(ddimTimesteps(3)).toEqual([0, 334, 668]); // stride 334, not DDIM's 1000 // 3
    expect(ddimTimesteps(20)).toEqual(Array.from({ length: 20 }, (_, i) => 50 * i));
    expect(ddimTimesteps(1)).toEqual([0]);
    expect(() => ddimTimesteps(600)).toThrow(/cannot be spaced uniformly over 1000 timesteps; use 500 or 1000/);
    expect(() => ddimTimesteps(0)).toThrow(/integer from 1 to 1000/);
  });

  it('has abar equal to numpy float64 cumprod and ends inversion at 0, sampling at 1', async () => {
    const g = await golden;
    const abar = alphasCumprod();
    for (const key of ['k4', 'k3_clamp']) {
      const m = JSON.parse(g.metadata[key]) as { steps: number; timesteps: number[]; abar: number[] };
      expect(ddimTimesteps(m.steps)).toEqual(m.timesteps);
      expect(m.timesteps.map((t) => abar[t])).toEqual(m.abar); // np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)), bit for bit
    }
    const s = ddimSchedule(4);
    expect(s.map((x) => x.abarNext)).toEqual([abar[250], abar[500], abar[750], 0]);
    expect(s.map((x) => x.abarPrev)).toEqual([1, abar[0], abar[250], abar[500]]);
  });
});

describe('DDIM on the tiny UNet', { timeout: 300_000 }, () => {
  it('K = 4: per-step eps, x_T and the sample from x_T match PyTorch', async () => {
    const { gpu, g, unet } = await setup();
    const x = g.tensor(gpu, 'x');
    const inv = invert(unet, x, { steps: 4 });
    expect(inv.eps).toHaveLength(4);
    for (let i = 0; i < 4; i++) report(`k4 eps${i}`, expectClose(await inv.eps[i].read(), g.get(`k4.eps${i}`), 1e-4, `k4.eps${i}`));
    report('k4 xT', expectClose(await inv.xT.read(), g.get('k4.xT'), 1e-4, 'k4.xT'));
    const rec = sample(unet, inv.xT, { steps: 4 });
    report('k4 sample', expectClose(await rec.read(), g.get('k4.sample'), 1e-3, 'k4.sample'));
    [x, inv.xT, rec, ...inv.eps].forEach((t) => t.dispose());
    unet.dispose();
  });

  it('K = 3 with x0 clamping: mean eps, x_T and the sample match PyTorch', async () => {
    const { gpu, g, unet } = await setup();
    const x = g.tensor(gpu, 'x');
    const inv = invert(unet, x, { steps: 3, clampX0: true, feature: 'mean' });
    expect(inv.eps).toHaveLength(1);
    // torch: torch.stack(eps).mean(0)
    report('k3_clamp eps_mean', expectClose(await inv.eps[0].read(), g.get('k3_clamp.eps_mean'), 1e-4, 'k3_clamp.eps_mean'));
    report('k3_clamp xT', expectClose(await inv.xT.read(), g.get('k3_clamp.xT'), 1e-4, 'k3_clamp.xT'));
    const rec = sample(unet, inv.xT, { steps: 3, clampX0: true });
    report('k3_clamp sample', expectClose(await rec.read(), g.get('k3_clamp.sample'), 1e-3, 'k3_clamp.sample'));
    [x, inv.xT, rec, inv.eps[0]].forEach((t) => t.dispose());
    unet.dispose();
  });

  it('computeDnf with steps 0 is eps(x, t = 0), the first inversion step', async () => {
    const { gpu, g, unet } = await setup();
    const x = g.tensor(gpu, 'x');
    const dnf = computeDnf(unet, x);
    expectClose(await dnf.read(), g.get('k4.eps0'), 1e-4, 'dnf');
    [x, dnf].forEach((t) => t.dispose());
    unet.dispose();
  });
});

/** Multiplies by a scalar held in a one-element tensor. */
function scaled(x: Tensor, s: number): Tensor {
  const k = Tensor.from(x.gpu, new Float32Array([s]), [1], 'scalar');
  const y = mul(x, k);
  k.dispose();
  return y;
}

/** A NoiseModel computing eps with `fn` that keeps a copy of every eps it hands out. */
function recording(fn: (x: Tensor, t: number) => Tensor): NoiseModel & { calls: Tensor[] } {
  const calls: Tensor[] = [];
  return {
    calls,
    forwardBatched(x: Tensor, t: readonly number[]) {
      const eps = fn(x, t[0]);
      const copy = Tensor.empty(x.gpu, eps.shape, 'eps.copy');
      x.gpu.copy(eps.buffer, 0, copy.buffer, 0, eps.byteLength);
      calls.push(copy);
      return eps;
    },
  };
}

/**
 * The exact noise prediction for a data set holding the single image x0:
 * eps(x_t, t) = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t). DDIM with it is exact: inversion maps
 * x0 to noise and sampling returns x0, whatever K (the last inversion step to abar 0 keeps eps,
 * from which the first sampling step recovers x0 exactly).
 */
function oracle(x0: Tensor) {
  const abar = alphasCumprod();
  return recording((x, t) => {
    const shift = scaled(x0, -Math.sqrt(abar[t]));
    const diff = add(x, shift);
    shift.dispose();
    const eps = scaled(diff, 1 / Math.sqrt(1 - abar[t]));
    diff.dispose();
    return eps;
  });
}

/** A smooth image-like test input in [-1, 1], [1, 3, 12, 12]. */
function image(gpu: Gpu): Tensor {
  const v = new Float32Array(3 * 144).map((_, i) => 0.9 * Math.sin(i * 0.37) * Math.cos(i * 0.011));
  return Tensor.from(gpu, v, [1, 3, 12, 12], 'image');
}

describe('DDIM with the exact noise model', { timeout: 120_000 }, () => {
  it.each([
    [4, false],
    [20, false],
    [20, true],
  ] as const)('round trip K = %i (clamp %s): sample(invert(x)) returns x', async (steps, clampX0) => {
    const gpu = await testGpu();
    const x = image(gpu);
    const model = oracle(x);
    const inv = invert(model, x, { steps, clampX0, feature: 'last' });
    const rec = sample(model, inv.xT, { steps, clampX0 });
    // Exact in real arithmetic; f32 rounding of the coefficients and of eps (which is x0 times up
    // to 1/sqrt(1 - abar_0) = 100) leaves ~1e-7 (measured); bound 1e-5 absolute on values in [-1, 1].
    const d = expectClose(await rec.read(), await x.read(), 1e-5, `round trip K=${steps}`);
    console.log(`ddim round trip K=${steps} clamp ${clampX0}: max|x - sample(invert(x))| ${d.maxAbs.toExponential(2)}`);
    [x, inv.xT, rec, ...inv.eps, ...model.calls].forEach((t) => t.dispose());
  });

  it("keeps the first, last or mean eps as asked; 'first' runs one evaluation", async () => {
    const gpu = await testGpu();
    const x = image(gpu);
    for (const feature of ['first', 'last', 'mean'] as const) {
      // eps = x_t * (1 + t / 1000): a different eps at every step.
      const model = recording((xt, t) => scaled(xt, 1 + t / 1000));
      const dnf = computeDnf(model, x, { steps: 4, feature });
      expect(model.calls).toHaveLength(feature === 'first' ? 1 : 4);
      const steps = await Promise.all(model.calls.map((t) => t.read()));
      const want = feature === 'first' ? steps[0] : feature === 'last' ? steps[3] : steps[0].map((_, i) => steps.reduce((s, e) => s + e[i], 0) / 4);
      expect(steps[3]).not.toEqual(steps[0]);
      // The mean sums in f32 on the GPU, here in f64: a few ulp.
      expectClose(await dnf.read(), want, 1e-5, feature);
      [dnf, ...model.calls].forEach((t) => t.dispose());
    }
    expect(() => computeDnf(oracle(x), x, { feature: 'mean' })).toThrow(/needs an inversion: give steps > 0/);
    x.dispose();
  });
});
