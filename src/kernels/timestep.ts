/**
 * Sinusoidal timestep embedding of the DDPM UNet (pytorch_diffusion's get_timestep_embedding).
 *
 * Computed on the CPU and uploaded: it is N x dim values, and WGSL guarantees little accuracy for
 * sin/cos (2^-11 absolute, and only on [-pi, pi]) or exp (3 + 2|x| ulp), while the arguments here
 * reach ~1000. JavaScript evaluates each step in f64 and rounds to f32 where torch's f32 tensors
 * round, so the result is torch's up to torch's own last-ulp errors, and the same in every runtime.
 */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor } from '../tensor.js';

const f32 = Math.fround;

/**
 * half = floor(dim / 2); freq_i = exp(-ln(10000) * i / (half - 1));
 * emb[n] = concat(sin(t_n * freq), cos(t_n * freq)) (a zero column appended when dim is odd).
 * t: one timestep per batch element (non-integer values allowed). Returns [N, dim].
 */
export function timestepEmbedding(gpu: Gpu, t: readonly number[], dim: number): Tensor {
  if (!Number.isInteger(dim) || dim < 4) throw new Error(`timestepEmbedding: dim must be an integer >= 4, got ${dim}`);
  if (!t.every(Number.isFinite)) throw new Error(`timestepEmbedding: timesteps must be finite numbers, got [${t}]`);
  const half = Math.floor(dim / 2);
  // torch: emb = math.log(10000) / (half_dim - 1) (a double); torch.arange(half_dim) * -emb is f32.
  const negStep = f32(-(Math.log(10000) / (half - 1)));
  const freq = Array.from({ length: half }, (_, i) => f32(Math.exp(f32(i * negStep))));
  const out = new Float32Array(t.length * dim);
  t.forEach((step, n) => {
    const ts = f32(step); // timesteps.float()
    for (let i = 0; i < half; i++) {
      const arg = f32(ts * freq[i]);
      out[n * dim + i] = Math.sin(arg);
      out[n * dim + half + i] = Math.cos(arg);
    }
  });
  return Tensor.from(gpu, out, [t.length, dim], 'timestep_embedding');
}
