/**
 * DIRE of decoded images in one call (browser-safe): each image prepared as DIRE's reference does
 * (src/pipeline/dire-preprocess.ts: Pillow's BOX halving, short side to the UNet's resolution with
 * BICUBIC, centre crop, b / 127.5 - 1), then src/diffusion/dire.ts. Gives the float map and the
 * reference's 8-bit image of each, which `dnf extract --feature dire` writes.
 */
import { computeDire, DIRE_STEPS, quantizeDire } from '../diffusion/dire.js';
import type { RgbImage } from '../image/pixels.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import { direInput } from './dire-preprocess.js';

export interface DireImages {
  /** |x - recon| [N, 3, R, R], NCHW float32. */
  values: Float32Array;
  /** uint8(clamp(DIRE * 255 / 2, 0, 255)) per image, R x R RGB. */
  dires: RgbImage[];
}

export async function direOfImages(unet: DdpmUnet, images: RgbImage[], steps = DIRE_STEPS): Promise<DireImages> {
  const size = unet.config.resolution;
  const { x } = direInput(unet.gpu, images, size);
  try {
    const values = await computeDire(unet, x, steps);
    return { values, dires: images.map((_, n) => quantizeDire(values, n, size)) };
  } finally {
    x.dispose();
  }
}
