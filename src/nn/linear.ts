/**
 * Linear layer y = x W^T + b (keys `weight` [out, in], `bias` [out]). W^T is laid out [in, out]
 * once at load, so the forward pass is one matmul with the bias and activation fused.
 */
import { matmul, type Activation } from '../kernels/matmul.js';
import { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';

export class Linear {
  private constructor(readonly weightT: Tensor, readonly bias: Tensor) {}

  static async load(vb: VarBuilder, inF: number, outF: number): Promise<Linear> {
    const w = await vb.get('weight', [outF, inF]);
    const wt = new Float32Array(w.length);
    for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) wt[i * outF + o] = w[o * inF + i];
    const weightT = Tensor.from(vb.gpu, wt, [inF, outF], vb.key('weight'));
    return new Linear(weightT, await vb.tensor('bias', [outF]));
  }

  /** x [..., in] -> act(x W^T + b) [..., out]. */
  forward(x: Tensor, act: Activation = 'none'): Tensor {
    return matmul(x, this.weightT, { bias: this.bias, act });
  }

  dispose(): void {
    this.weightT.dispose();
    this.bias.dispose();
  }
}
