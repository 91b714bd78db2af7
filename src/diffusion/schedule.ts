/**
 * The DDPM noise schedule (reference section 4) and the timesteps of a K-step DDIM pass.
 *
 * betas: linear from 1e-4 to 0.02 over T = 1000 steps, in float64 exactly as numpy's
 * `np.linspace(1e-4, 0.02, 1000, dtype=np.float64)` computes them (start + i * step, the last
 * value set to the end point); abar_t = prod_{s <= t} (1 - beta_s), a sequential float64 product
 * like `np.cumprod`. Kernels receive coefficients derived from abar in float64, rounded to f32.
 *
 * K-step timesteps: guided-diffusion's respacing "ddimK" (the one DIRE inverts with):
 *   stride = the smallest integer s in 1..T with len(range(0, T, s)) == K,
 *   timesteps = range(0, T, stride)          e.g. K = 4: [0, 250, 500, 750]; K = 20: [0, 50, ..., 950]
 * For K dividing T this equals DDIM's uniform skip range(0, T, T // K). For other K it differs from
 * DDIM's (K = 3: [0, 334, 668], where DDIM's skip 333 gives four steps [0, 333, 666, 999]); K values
 * no stride reaches are refused. s may be T (guided-diffusion stops at T - 1), which allows K = 1: [0].
 */
import { DnfError } from '../errors.js';

export const TRAIN_TIMESTEPS = 1000;
export const BETA_START = 1e-4;
export const BETA_END = 0.02;

/** numpy's linspace(start, end, n) in float64. */
export function linearBetas(n = TRAIN_TIMESTEPS, start = BETA_START, end = BETA_END): Float64Array {
  const betas = new Float64Array(n);
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) betas[i] = i * step + start;
  if (n > 1) betas[n - 1] = end;
  return betas;
}

/** abar_t = prod_{s <= t} (1 - beta_s), in float64. */
export function alphasCumprod(betas: Float64Array = linearBetas()): Float64Array {
  const abar = new Float64Array(betas.length);
  let prod = 1;
  betas.forEach((b, i) => (abar[i] = prod *= 1 - b));
  return abar;
}

/** The K timesteps of guided-diffusion's "ddimK" respacing (see the header). */
export function ddimTimesteps(steps: number, T = TRAIN_TIMESTEPS): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new DnfError(`DDIM steps must be an integer from 1 to ${T}, got ${steps}`);
  for (let stride = 1; stride <= T; stride++) {
    if (Math.ceil(T / stride) === steps) return Array.from({ length: steps }, (_, i) => i * stride);
  }
  const reachable = (k: number) => Array.from({ length: T }, (_, s) => Math.ceil(T / (s + 1))).includes(k);
  let below = steps - 1;
  while (!reachable(below)) below--;
  let above = steps + 1;
  while (!reachable(above)) above++;
  throw new DnfError(`DDIM steps ${steps} cannot be spaced uniformly over ${T} timesteps; use ${below} or ${above}`);
}

/** One step of a DDIM pass: the model runs at timestep `t` on x at level `abar`. */
export interface DdimStepLevels {
  t: number;
  /** abar_t of the input x. */
  abar: number;
  /** Inversion target: abar of the next timestep, 0 (pure noise) after the last. */
  abarNext: number;
  /** Sampling target: abar of the previous timestep, 1 (the clean image) before the first. */
  abarPrev: number;
}

/** The K steps in increasing t (inversion order; sampling walks them backwards). */
export function ddimSchedule(steps: number, abar: Float64Array = alphasCumprod()): DdimStepLevels[] {
  const ts = ddimTimesteps(steps, abar.length);
  return ts.map((t, i) => ({
    t,
    abar: abar[t],
    abarNext: i + 1 < ts.length ? abar[ts[i + 1]] : 0,
    abarPrev: i > 0 ? abar[ts[i - 1]] : 1,
  }));
}
