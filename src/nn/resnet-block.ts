/**
 * ResnetBlock(cin, cout) of the DDPM UNet (reference section 2):
 *   h = conv1(swish(norm1(x))) + temb_proj(swish(temb))[:, :, None, None]
 *   out = (cin != cout ? nin_shortcut(x) : x) + conv2(swish(norm2(h)))     (dropout: inference)
 * Fused (nn/Conv2d, whichever way the conv runs): GroupNorm+swish into the conv that reads it, the
 * timestep projection into conv1's output write, the residual add into conv2's.
 */
import type { Tensor } from '../tensor.js';
import type { VarBuilder } from '../weights/var-builder.js';
import { Conv2d } from './conv2d.js';
import { GroupNorm } from './group-norm.js';
import { Linear } from './linear.js';

export class ResnetBlock {
  private constructor(
    readonly cout: number,
    private readonly norm1: GroupNorm,
    private readonly conv1: Conv2d,
    private readonly tembProj: Linear,
    private readonly norm2: GroupNorm,
    private readonly conv2: Conv2d,
    private readonly ninShortcut: Conv2d | null,
  ) {}

  static async load(vb: VarBuilder, cin: number, cout: number, tembCh: number): Promise<ResnetBlock> {
    const norm1 = await GroupNorm.load(vb.pp('norm1'), cin);
    const conv1 = await Conv2d.load(vb.pp('conv1'), cin, cout, 3);
    const tembProj = await Linear.load(vb.pp('temb_proj'), tembCh, cout);
    const norm2 = await GroupNorm.load(vb.pp('norm2'), cout);
    const conv2 = await Conv2d.load(vb.pp('conv2'), cout, cout, 3);
    const nin = cin !== cout ? await Conv2d.load(vb.pp('nin_shortcut'), cin, cout, 1) : null;
    return new ResnetBlock(cout, norm1, conv1, tembProj, norm2, conv2, nin);
  }

  /** x [N, cin, H, W], tembAct = swish(temb) [N, temb_ch] -> [N, cout, H, W]. x is not consumed. */
  forward(x: Tensor, tembAct: Tensor): Tensor {
    const n = x.shape[0];
    const proj = this.tembProj.forward(tembAct);
    const proj4 = proj.reshape([n, this.cout, 1, 1]);
    proj.dispose();
    // conv1 + bias, then + temb_proj per (image, channel), broadcast over H, W.
    const h = this.conv1.forward(x, { norm: { layer: this.norm1, swish: true }, residual: proj4 });
    proj4.dispose();
    const shortcut = this.ninShortcut ? this.ninShortcut.forward(x) : x;
    const out = this.conv2.forward(h, { norm: { layer: this.norm2, swish: true }, residual: shortcut });
    h.dispose();
    if (shortcut !== x) shortcut.dispose();
    return out;
  }

  dispose(): void {
    for (const m of [this.norm1, this.conv1, this.tembProj, this.norm2, this.conv2, this.ninShortcut]) m?.dispose();
  }
}
