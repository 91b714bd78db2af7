/** 2x2 average pooling with stride 2 (F.avg_pool2d(x, 2)): shaders/avgpool.wgsl. */
import { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

/** x [N, C, H, W] -> [N, C, floor(H/2), floor(W/2)]. */
export function avgPool2d(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`avgPool2d needs [N, C, H, W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  const [ho, wo] = [Math.floor(h / 2), Math.floor(w / 2)];
  const out = Tensor.empty(x.gpu, [n, c, ho, wo], 'avgpool');
  if (!out.size) return out;
  const g = grid1d(out.size, WG, x.gpu.limits.maxComputeWorkgroupsPerDimension);
  x.gpu.dispatch({
    shader: 'avgpool',
    overrides: { WG },
    params: { n: out.size, h, w, ho, wo, row: g.row },
    buffers: [x.buffer, out.buffer],
    workgroups: g.workgroups,
  });
  return out;
}
