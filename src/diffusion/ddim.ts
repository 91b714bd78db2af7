/**
 * Deterministic DDIM (eta 0) inversion and sampling with a noise-prediction model, as
 * guided-diffusion's ddim_reverse_sample_loop / ddim_sample_loop compute them on a respaced
 * schedule (reference section 4; DIRE inverts and reconstructs this way).
 *
 * Schedule (src/diffusion/schedule.ts): K timesteps t_0 = 0 < t_1 < ... < t_{K-1} from the
 * "ddimK" respacing (stride s: t_i = i * s; K = 4: 0, 250, 500, 750), abar from linear betas
 * 1e-4 .. 0.02 over 1000 steps, in float64.
 *
 * Inversion, for i = 0 .. K-1, starting from x = the image:
 *   eps_i = eps_theta(x, t_i)
 *   x0    = sqrt(1/abar[t_i]) x - sqrt(1/abar[t_i] - 1) eps_i       (clampX0: clamp to [-1, 1],
 *                                                                   then eps re-derived from x0)
 *   x     = sqrt(abar_next) x0 + sqrt(1 - abar_next) eps,   abar_next = abar[t_{i+1}], 0 after t_{K-1}
 * so x_T, the final x, is the last step's eps (guided-diffusion's alphas_cumprod_next ends in 0).
 * Sampling, for i = K-1 .. 0, starting from x = x_T (treated as x at t_{K-1}, as guided-diffusion
 * does): the same update with abar_prev = abar[t_{i-1}], 1 before t_0 (so the result is x0).
 * The eps returned per step is the model's eps_theta, not the re-derived one.
 */
import { add, mul } from '../kernels/elementwise.js';
import { ddimStep } from '../kernels/ddim-step.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import { Tensor } from '../tensor.js';
import { ddimSchedule } from './schedule.js';

/** Which noise estimates of the inversion to return: each step's ('all'), the first, the last, or their mean. */
export type EpsFeature = 'all' | 'first' | 'last' | 'mean';

/** What DDIM needs of a model: eps_theta over a batch, one timestep per image. */
export type NoiseModel = Pick<DdpmUnet, 'forwardBatched'>;

export interface InvertOptions {
  /** K, the number of DDIM steps (see schedule.ts for the reachable values). */
  steps: number;
  /** Clamp x0_hat to [-1, 1] and re-derive eps from it before each update (DIRE's setting). Default false. */
  clampX0?: boolean;
  /** Default 'all'. */
  feature?: EpsFeature;
}

export interface Inversion {
  /** The noise the image inverts to, [N, C, H, W]. */
  xT: Tensor;
  /** feature 'all': eps at each step, in order; otherwise the one tensor asked for. */
  eps: Tensor[];
}

export function invert(model: NoiseModel, x: Tensor, opts: InvertOptions): Inversion {
  const schedule = ddimSchedule(opts.steps);
  const feature = opts.feature ?? 'all';
  const n = x.shape[0];
  const kept: Tensor[] = [];
  let sum: Tensor | null = null;
  let cur = x;
  for (const [i, s] of schedule.entries()) {
    const eps = model.forwardBatched(cur, new Array(n).fill(s.t));
    const next = ddimStep(cur, eps, { abarT: s.abar, abarTo: s.abarNext, clampX0: opts.clampX0 });
    if (cur !== x) cur.dispose();
    cur = next;
    if (feature === 'all' || (feature === 'first' && i === 0) || (feature === 'last' && i === schedule.length - 1)) {
      kept.push(eps);
    } else if (feature === 'mean') {
      const total: Tensor = sum ? add(sum, eps) : eps;
      if (sum) {
        sum.dispose();
        eps.dispose();
      }
      sum = total;
    } else {
      eps.dispose();
    }
  }
  if (sum) {
    const scale = Tensor.from(x.gpu, new Float32Array([1 / schedule.length]), [1], 'ddim.mean');
    kept.push(mul(sum, scale));
    sum.dispose();
    scale.dispose();
  }
  return { xT: cur, eps: kept };
}

export interface SampleOptions {
  /** K; must match the inversion's to reconstruct its image. */
  steps: number;
  /** Clamp x0_hat to [-1, 1] before each update (guided-diffusion's clip_denoised). Default false. */
  clampX0?: boolean;
}

/** Deterministic DDIM sampling from xT down to the image (x0 of the last update). */
export function sample(model: NoiseModel, xT: Tensor, opts: SampleOptions): Tensor {
  const schedule = ddimSchedule(opts.steps);
  const n = xT.shape[0];
  let cur = xT;
  for (let i = schedule.length - 1; i >= 0; i--) {
    const s = schedule[i];
    const eps = model.forwardBatched(cur, new Array(n).fill(s.t));
    const next = ddimStep(cur, eps, { abarT: s.abar, abarTo: s.abarPrev, clampX0: opts.clampX0 });
    eps.dispose();
    if (cur !== xT) cur.dispose();
    cur = next;
  }
  return cur;
}
