/**
 * The DDPM UNet's resampling layers (reference section 2). With `resamp_with_conv`:
 * Downsample = zero-pad right/bottom by 1 + 3x3 conv stride 2, Upsample = nearest x2 + 3x3 conv
 * (key `conv`). Without: Downsample = avg_pool2d(2), Upsample = nearest x2 alone (no weights).
 */
import { avgPool2d } from '../kernels/pool.js';
import { upsampleNearest2x } from '../kernels/upsample.js';
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';
import { Conv2d } from './conv2d.js';

export class Downsample {
  private constructor(private readonly conv: Conv2d | null) {}

  static async load(vb: VarBuilder, c: number, withConv: boolean): Promise<Downsample> {
    return new Downsample(withConv ? await Conv2d.load(vb.pp('conv'), c, c, 3) : null);
  }

  /** [N, C, H, W] -> [N, C, H/2, W/2]. x is not consumed. */
  forward(x: Tensor): Tensor {
    return this.conv ? this.conv.forward(x, { padding: 'down' }) : avgPool2d(x);
  }

  dispose(): void {
    this.conv?.dispose();
  }
}

export class Upsample {
  private constructor(private readonly conv: Conv2d | null) {}

  static async load(vb: VarBuilder, c: number, withConv: boolean): Promise<Upsample> {
    return new Upsample(withConv ? await Conv2d.load(vb.pp('conv'), c, c, 3) : null);
  }

  /** [N, C, H, W] -> [N, C, 2H, 2W]. x is not consumed. */
  forward(x: Tensor): Tensor {
    const up = upsampleNearest2x(x);
    if (!this.conv) return up;
    const out = this.conv.forward(up);
    up.dispose();
    return out;
  }

  dispose(): void {
    this.conv?.dispose();
  }
}
