/**
 * Diffusion Noise Features (reference section 1, step 4, and section 4).
 *
 * steps 0 (default): DNF = eps_theta(x, t = 0), one UNet evaluation: the released behaviour.
 * steps K > 0: the noise estimates of a K-step DDIM inversion (src/diffusion/ddim.ts), of which
 * `feature` keeps the first step's ('first'), the last step's ('last') or their mean ('mean').
 * The first step always evaluates eps_theta(x, 0) on the image itself, so 'first' is the released
 * DNF for every K and runs one evaluation, not an inversion.
 */
import { DnfError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { invert, type NoiseModel } from './ddim.js';

export type DnfFeature = 'first' | 'last' | 'mean';
export const DNF_FEATURES: readonly DnfFeature[] = ['first', 'last', 'mean'];

export interface DnfOptions {
  /** 0 (default): eps(x, t=0). K > 0: a K-step DDIM inversion. */
  steps?: number;
  /** Which step's noise estimate (default 'first'); 'last' and 'mean' need steps > 0. */
  feature?: DnfFeature;
  /** Clamp x0_hat to [-1, 1] during the inversion (DIRE's setting). Default false. */
  clampX0?: boolean;
}

/** x [N, 3, R, R] in [-1, 1] -> the DNF [N, 3, R, R] (float, not quantised). */
export function computeDnf(model: NoiseModel, x: Tensor, opts: DnfOptions = {}): Tensor {
  const steps = opts.steps ?? 0;
  const feature = opts.feature ?? 'first';
  if (!DNF_FEATURES.includes(feature)) throw new DnfError(`unknown DNF feature '${feature}'; use ${DNF_FEATURES.join(', ')}`);
  if (!Number.isInteger(steps) || steps < 0) throw new DnfError(`DNF steps must be 0 or a positive integer, got ${steps}`);
  if (steps === 0 && feature !== 'first') throw new DnfError(`the DNF feature '${feature}' needs an inversion: give steps > 0 (e.g. 20)`);
  if (feature === 'first') return model.forwardBatched(x, new Array(x.shape[0]).fill(0));
  const { xT, eps } = invert(model, x, { steps, clampX0: opts.clampX0, feature });
  xT.dispose();
  return eps[0];
}
