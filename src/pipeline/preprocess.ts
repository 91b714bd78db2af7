/**
 * Images to network inputs, on the GPU (browser-safe). Both functions resize every image to
 * size x size with torchvision's tensor bicubic Resize (no crop: other aspect ratios are
 * stretched, as the reference does) and leave an image that already has that size untouched.
 */
import type { Gpu } from '../gpu/gpu.js';
import { resizeRgbInto, type ResizeInput, type ResizeOutput } from '../kernels/resize.js';
import { Tensor } from '../tensor.js';
import type { RgbImage } from '../image/pixels.js';

/** Side of the square DNF input (the LSUN-bedroom UNet's resolution). */
export const DNF_SIZE = 256;

/**
 * Resize antialiasing by default: on. The reference code passes no `antialias` to torchvision's
 * Resize, so every torchvision >= 0.17 antialiases, and its January 2024 version passed
 * `antialias=True` explicitly: on is what the authors chose and what their code does today.
 * `false` (the CLI's --no-antialias) gives torchvision <= 0.16's plain bicubic. Antialiasing
 * changes upscaling too: torch then uses the a = -0.5 cubic (PIL's) instead of a = -0.75 in both
 * directions, and when downscaling also stretches it over the scale. The usual benchmark images
 * are 256x256, where the resize is the identity and the choice does not matter.
 */
export const DEFAULT_ANTIALIAS = true;

export interface PreprocessOptions {
  /** Output side in pixels (default 256). */
  size?: number;
  /** torch's antialiased bicubic (a = -0.5 cubic; stretched when downsampling); default DEFAULT_ANTIALIAS. */
  antialias?: boolean;
}

function batch(gpu: Gpu, images: RgbImage[], opts: PreprocessOptions, input: ResizeInput, output: ResizeOutput, label: string): Tensor {
  const size = opts.size ?? DNF_SIZE;
  if (!Number.isInteger(size) || size < 1) throw new Error(`${label}: invalid size ${size}`);
  if (!images.length) throw new Error(`${label}: no images`);
  const out = Tensor.empty(gpu, [images.length, 3, size, size], label);
  try {
    images.forEach((img, n) => resizeRgbInto(gpu, img, out, n, { size, antialias: opts.antialias ?? DEFAULT_ANTIALIAS, input, output }));
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/**
 * The DNF input [N, 3, size, size] in [-1, 1], as the reference computes it:
 * `x = Resize((size, size), BICUBIC, antialias)(ToTensor()(img)); x = 2 * x - 1`, i.e. the float
 * image in [0, 1] resized (bicubic overshoot is not clamped on float tensors), then scaled.
 */
export function imagesToTensor(gpu: Gpu, images: RgbImage[], opts: PreprocessOptions = {}): Tensor {
  return batch(gpu, images, opts, 'unit', 'signed', 'dnf.input');
}

/**
 * The classifier input [N, 3, size, size] in [0, 1]: torchvision's Resize on the uint8 image
 * tensor (torchvision 0.14: resized in f32, clamped to [0, 255], rounded half to even, cast to
 * uint8), then / 255 as ToTensor does.
 */
export function imagesToUnitTensor(gpu: Gpu, images: RgbImage[], opts: PreprocessOptions = {}): Tensor {
  return batch(gpu, images, opts, 'byte', 'rounded-unit', 'classifier.input');
}
