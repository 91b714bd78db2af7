/** GroupNorm layer of the DDPM UNet: 32 groups, eps 1e-6, affine (keys `weight`, `bias` [C]). */
import { groupNorm, groupNormStats, type GroupNormStats } from '../kernels/group-norm.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';

export const GROUPS = 32;
export const EPS = 1e-6;

export class GroupNorm {
  private constructor(readonly gamma: Tensor, readonly beta: Tensor) {}

  static async load(vb: VarBuilder, channels: number): Promise<GroupNorm> {
    const gamma = await vb.tensor('weight', [channels]);
    return new GroupNorm(gamma, await vb.tensor('bias', [channels]));
  }

  /** GroupNorm(x), followed by swish when `swish` is set (fused). */
  forward(x: Tensor, swish = false): Tensor {
    return groupNorm(x, this.gamma, this.beta, { groups: GROUPS, eps: EPS, swish });
  }

  /** The statistics alone, for a consumer that normalises as it reads x (nn/Conv2d's `norm`). */
  stats(x: Tensor): GroupNormStats {
    return groupNormStats(x, this.gamma, this.beta, { groups: GROUPS, eps: EPS });
  }

  dispose(): void {
    this.gamma.dispose();
    this.beta.dispose();
  }
}
