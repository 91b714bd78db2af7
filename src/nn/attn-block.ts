/**
 * AttnBlock(C) of the DDPM UNet (reference section 2): single-head self-attention over the H*W
 * positions, out = x + proj_out(v softmax(q^T k / sqrt(C))) with q, k, v 1x1 convs of GroupNorm(x).
 * The residual add is fused into proj_out's output write.
 */
import { attention } from '../kernels/attention.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';
import { Conv2d } from './conv2d.js';
import { GroupNorm } from './group-norm.js';

export class AttnBlock {
  private constructor(
    private readonly norm: GroupNorm,
    private readonly q: Conv2d,
    private readonly k: Conv2d,
    private readonly v: Conv2d,
    private readonly projOut: Conv2d,
  ) {}

  static async load(vb: VarBuilder, c: number): Promise<AttnBlock> {
    const norm = await GroupNorm.load(vb.pp('norm'), c);
    const q = await Conv2d.load(vb.pp('q'), c, c, 1);
    const k = await Conv2d.load(vb.pp('k'), c, c, 1);
    const v = await Conv2d.load(vb.pp('v'), c, c, 1);
    return new AttnBlock(norm, q, k, v, await Conv2d.load(vb.pp('proj_out'), c, c, 1));
  }

  /** x [N, C, H, W] -> [N, C, H, W]. x is not consumed. */
  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape;
    const seq = [n, c, h * w];
    const normed = this.norm.forward(x);
    const [q, k, v] = [this.q, this.k, this.v].map((conv) => {
      const y = conv.forward(normed);
      const flat = y.reshape(seq);
      y.dispose();
      return flat;
    });
    normed.dispose();
    const attended = attention(q, k, v);
    [q, k, v].forEach((t) => t.dispose());
    const a4 = attended.reshape(x.shape);
    attended.dispose();
    const out = this.projOut.forward(a4, { residual: x });
    a4.dispose();
    return out;
  }

  dispose(): void {
    for (const m of [this.norm, this.q, this.k, this.v, this.projOut]) m.dispose();
  }
}
