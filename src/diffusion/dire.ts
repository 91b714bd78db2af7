/**
 * DIRE, the DIffusion Reconstruction Error (Wang et al. 2023; reference section 4), as DIRE's
 * compute_dire.py computes it on guided-diffusion:
 *
 *   x_T   = DDIM inversion of x over the K-step "ddimK" respacing (ddim_reverse_sample, eta 0)
 *   recon = DDIM sampling from x_T back over the same steps (ddim_sample, eta 0)
 *   DIRE  = |x - recon|                                   in float32, [N, 3, R, R]
 *   out   = uint8((DIRE * 255 / 2).clamp(0, 255))         truncated, not rounded, as torch's .to(uint8)
 *
 * both passes with clip_denoised=True: x0_hat clamped to [-1, 1] and eps re-derived from it
 * (src/diffusion/ddim.ts, clampX0). K = 20 as the reference (timestep_respacing ddim20): 2K UNet
 * evaluations per image, against the one of a DNF. x is the image in [-1, 1] prepared as DIRE does
 * (src/pipeline/dire-preprocess.ts).
 */
import type { RgbImage } from '../image/pixels.js';
import type { Tensor } from '../tensor.js';
import { invert, sample, type NoiseModel } from './ddim.js';

/** The reference's K (timestep_respacing ddim20). */
export const DIRE_STEPS = 20;

/** sample(invert(x)) with x0 clamping: the reconstruction DIRE measures x against, [N, 3, R, R]. */
export function reconstruct(model: NoiseModel, x: Tensor, steps = DIRE_STEPS): Tensor {
  const { xT, eps } = invert(model, x, { steps, clampX0: true, feature: 'first' });
  eps.forEach((e) => e.dispose());
  try {
    return sample(model, xT, { steps, clampX0: true });
  } finally {
    xT.dispose();
  }
}

/** The float DIRE |x - recon| [N, 3, R, R] (flat, NCHW), read back from the GPU. */
export async function computeDire(model: NoiseModel, x: Tensor, steps = DIRE_STEPS): Promise<Float32Array> {
  const recon = reconstruct(model, x, steps);
  try {
    const [xs, rs] = await Promise.all([x.read(), recon.read()]);
    return xs.map((v, i) => Math.abs(v - rs[i]));
  } finally {
    recon.dispose();
  }
}

/** The reference's 8-bit DIRE of image n of a float DIRE [N, 3, size, size]: uint8(clamp(d * 255 / 2, 0, 255)), HWC RGB. */
export function quantizeDire(dire: Float32Array, n: number, size: number): RgbImage {
  const plane = size * size;
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const v = Math.fround(dire[(n * 3 + c) * plane + p] * 255) / 2; // float32 product; / 2 is exact
      data[p * 3 + c] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
    }
  }
  return { width: size, height: size, data };
}
