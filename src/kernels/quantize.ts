/**
 * The released 8-bit DNF quantisation, torchvision `save_image` per image:
 * `ndarr = eps.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to('cpu', torch.uint8)`.
 * NaN becomes 0 (what torch's cast gives on x86). See shaders/quantize.wgsl.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { RgbImage } from '../image/pixels.js';
import type { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

/** N quantised images on the GPU: interleaved RGB bytes (HWC), image after image, 4 bytes per u32. */
export class QuantizedImages {
  private buf: GPUBuffer | null;

  constructor(readonly gpu: Gpu, buffer: GPUBuffer, readonly count: number, readonly height: number, readonly width: number) {
    this.buf = buffer;
  }

  get buffer(): GPUBuffer {
    if (!this.buf) throw new Error('quantized images used after dispose()');
    return this.buf;
  }

  /** Bytes per image: height * width * 3. */
  get imageBytes(): number {
    return this.height * this.width * 3;
  }

  /** Copies the bytes back (after all recorded GPU work), one RgbImage per image. */
  async read(): Promise<RgbImage[]> {
    const all = new Uint8Array(await this.gpu.read(this.buffer, 0, this.count * this.imageBytes));
    const n = this.imageBytes;
    return Array.from({ length: this.count }, (_, i) => ({ width: this.width, height: this.height, data: all.slice(i * n, (i + 1) * n) }));
  }

  dispose(): void {
    if (this.buf) this.gpu.pool.release(this.buf);
    this.buf = null;
  }
}

/** Quantises eps [N, 3, H, W] (records the dispatch; read the result with `.read()`). */
export function quantizeDnf(eps: Tensor): QuantizedImages {
  if (eps.shape.length !== 4 || eps.shape[1] !== 3) throw new Error(`quantizeDnf: expected [N, 3, H, W], got [${eps.shape}]`);
  const [n, , h, w] = eps.shape;
  const gpu = eps.gpu;
  const bytes = n * h * w * 3;
  const words = Math.ceil(bytes / 4);
  const out = gpu.pool.acquire(Math.max(4, words * 4), 'dnf.quantized');
  const g = grid1d(words, WG, gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    shader: 'quantize',
    params: { words, bytes, plane: h * w, row: g.row },
    buffers: [eps.binding, out],
    workgroups: g.workgroups,
  });
  return new QuantizedImages(gpu, out, n, h, w);
}
