/** One fused DDIM update (shaders/ddim.wgsl): x at noise level abar_t, its eps -> x at abar_to. */
import { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

export interface DdimStepOptions {
  /** abar of x's level, in (0, 1) (the re-derived eps divides by sqrt(1/abarT - 1)). */
  abarT: number;
  /** abar of the target level: the next one (inversion, 0 = pure noise) or the previous (sampling, 1 = clean). */
  abarTo: number;
  /** Clamp x0_hat to [-1, 1] and re-derive eps from it (guided-diffusion's clip_denoised). */
  clampX0?: boolean;
}

/** Coefficients in float64, passed as f32 (as guided-diffusion extracts its float64 tables). */
export function ddimStep(x: Tensor, eps: Tensor, opts: DdimStepOptions): Tensor {
  const { abarT, abarTo } = opts;
  if (!(abarT > 0 && abarT < 1) || !(abarTo >= 0 && abarTo <= 1)) throw new Error(`ddimStep: noise levels ${abarT} -> ${abarTo} out of range`);
  if (x.shape.join() !== eps.shape.join()) throw new Error(`ddimStep: x [${x.shape}] and eps [${eps.shape}] differ`);
  const out = Tensor.empty(x.gpu, x.shape, 'ddim');
  if (!out.size) return out;
  const g = grid1d(x.size, WG, x.gpu.limits.maxComputeWorkgroupsPerDimension);
  x.gpu.dispatch({
    shader: 'ddim',
    overrides: { WG },
    params: {
      n: x.size,
      row: g.row,
      recip: Math.sqrt(1 / abarT),
      recipm1: Math.sqrt(1 / abarT - 1),
      to_x0: Math.sqrt(abarTo),
      to_eps: Math.sqrt(1 - abarTo),
      clamp_x0: opts.clampX0 ? 1 : 0,
    },
    buffers: [x.binding, eps.binding, out.binding],
    workgroups: g.workgroups,
  });
  return out;
}
