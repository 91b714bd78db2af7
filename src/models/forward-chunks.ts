/**
 * A model's forward pass over a batch larger than one storage binding holds: the batch is cut
 * into chunks of at most `per` images (copies of the input's rows), each run on its own, and the
 * outputs gathered in one tensor. The UNet and the ResNet share it (their activations bound `per`).
 */
import type { Gpu } from '../gpu/gpu.js';
import { Tensor } from '../tensor.js';

/**
 * `forward(chunk, start)` over x [N, ...] in chunks of at most `per` along N; each output is
 * [k, ...outItem]. `forward` owns nothing it returns: its outputs are copied and disposed here.
 */
export function forwardInChunks(gpu: Gpu, x: Tensor, per: number, outItem: readonly number[], label: string, forward: (chunk: Tensor, start: number) => Tensor): Tensor {
  const [n, ...item] = x.shape;
  const inBytes = x.byteLength / n;
  const outBytes = outItem.reduce((a, b) => a * b, 1) * 4;
  const out = Tensor.empty(gpu, [n, ...outItem], label);
  try {
    for (let s = 0; s < n; s += per) {
      const k = Math.min(per, n - s);
      const chunk = Tensor.empty(gpu, [k, ...item], `${label}.chunk`);
      let y: Tensor;
      try {
        gpu.copy(x.buffer, x.offset + s * inBytes, chunk.buffer, chunk.offset, k * inBytes);
        y = forward(chunk, s);
      } finally {
        chunk.dispose();
      }
      gpu.copy(y.buffer, y.offset, out.buffer, out.offset + s * outBytes, k * outBytes);
      y.dispose();
    }
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
