/**
 * Single-head attention of the DDPM UNet's AttnBlock over q, k, v [N, C, L] (the 1x1 convs'
 * outputs, L = H * W). Three dispatches: transposed scores and their softmax (attention.wgsl),
 * then v @ softmax^T with the matmul kernel.
 */
import { Tensor } from '../tensor.js';
import { ceilDiv } from './grid.js';
import { matmul } from './matmul.js';

const WG = 64;
const TM = 8; // attention.wgsl: keys per invocation
const TN = 4; // attention.wgsl: queries per invocation

/**
 * w[i, j] = softmax_j( sum_c q[c, i] k[c, j] / sqrt(C) ); out[c, i] = sum_j v[c, j] w[i, j].
 * Returns [N, C, L]. As pytorch_diffusion's AttnBlock: bmm(q^T, k) * C**-0.5, softmax(dim=2),
 * bmm(v, w^T).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const gpu = q.gpu;
  if (q.shape.length !== 3) throw new Error(`attention needs q, k, v of shape [N, C, L], got [${q.shape}]`);
  const [N, C, L] = q.shape;
  for (const t of [k, v]) {
    if (t.shape.length !== 3 || t.shape.some((d, i) => d !== q.shape[i])) throw new Error(`attention: [${t.shape}] does not match q [${q.shape}]`);
  }
  if (N * L * L * 4 > gpu.maxBinding) {
    throw new Error(`attention: scores [${N}, ${L}, ${L}] exceed the ${gpu.maxBinding}-byte binding limit; split the batch`);
  }
  if (q.size === 0) return Tensor.empty(gpu, [N, C, L], 'attention');

  // st[n, j, i] = softmax over keys j of the scaled scores of query i.
  const st = Tensor.empty(gpu, [N, L, L], 'attention.scores');
  const buffers = [q.binding, k.binding, st.binding];
  const params = { c: C, l: L, scale: C ** -0.5 };
  gpu.dispatch({
    shader: 'attention',
    entry: 'scores',
    overrides: { WG },
    params,
    buffers,
    workgroups: [ceilDiv(L, WG * TN), ceilDiv(L, TM), N],
  });
  gpu.dispatch({
    shader: 'attention',
    entry: 'softmax',
    overrides: { WG },
    params,
    buffers,
    workgroups: [ceilDiv(L, WG), N],
  });
  const out = matmul(v, st);
  st.dispose();
  return out;
}
