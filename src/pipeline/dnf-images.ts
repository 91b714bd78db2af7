/**
 * DNFs of decoded images in one call (browser-safe): the input prepared as the reference does
 * (resize to the UNet's resolution, scale to [-1, 1]), the DNF computed, and for the 8-bit form
 * the released save_image quantisation read back: exactly the bytes `dnf extract` writes as PNG,
 * which is also what `dnf detect` and `dnf eval` classify.
 */
import type { RgbImage } from '../image/pixels.js';
import { imagesToTensor } from './preprocess.js';
import { quantizeDnf } from '../kernels/quantize.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import type { Tensor } from '../tensor.js';
import { computeDnf, type DnfOptions } from '../diffusion/dnf.js';

export interface DnfImageOptions extends DnfOptions {
  /** torch's antialiased bicubic when an image's size differs from the UNet's resolution (up or down). */
  antialias: boolean;
}

/** The float DNFs [N, 3, R, R] of `images` (R = the UNet's resolution). */
export function dnfOfImages(unet: DdpmUnet, images: RgbImage[], opts: DnfImageOptions): Tensor {
  const x = imagesToTensor(unet.gpu, images, { size: unet.config.resolution, antialias: opts.antialias });
  try {
    return computeDnf(unet, x, opts);
  } finally {
    x.dispose();
  }
}

/** The quantised DNF of each image, 8-bit RGB R x R, and the float DNFs [N, 3, R, R] they come from (the page shows both). */
export async function dnfsWithValues(unet: DdpmUnet, images: RgbImage[], opts: DnfImageOptions): Promise<{ dnfs: RgbImage[]; values: Float32Array }> {
  const dnf = dnfOfImages(unet, images, opts);
  try {
    const q = quantizeDnf(dnf);
    const dnfs = await q.read().finally(() => q.dispose());
    return { dnfs, values: await dnf.read() };
  } finally {
    dnf.dispose();
  }
}

/** The quantised DNF of each image, 8-bit RGB R x R: save_image's uint8(clamp(eps * 255 + 0.5, 0, 255)). */
export async function quantizedDnfs(unet: DdpmUnet, images: RgbImage[], opts: DnfImageOptions): Promise<RgbImage[]> {
  const dnf = dnfOfImages(unet, images, opts);
  try {
    const q = quantizeDnf(dnf);
    return await q.read().finally(() => q.dispose());
  } finally {
    dnf.dispose();
  }
}
