/**
 * Perturbations of decoded images (browser-safe), applied after decoding and before the resize to
 * the model's size (src/pipeline/preprocess.ts), in the order the spec lists them
 * (src/image/perturb-spec.ts). Each step reproduces what the usual robustness protocols run:
 *   - jpeg:Q   PIL's save(quality=Q) then open (src/image/jpeg-roundtrip.ts, libjpeg-turbo's arithmetic);
 *   - blur:S   scipy.ndimage.gaussian_filter per channel, CNNDetection's blur (perturb-blur.ts);
 *   - resize:F Pillow's bicubic resize by F (perturb-resize.ts);
 *   - crop:N   torchvision's CenterCrop(N) (zero padding where the image is smaller; Python's
 *              round, half to even, for the offsets).
 * Everything is integer or float64 arithmetic in a fixed order: deterministic, the same in Node
 * and in browsers. The goldens: test/perturb-goldens.test.ts.
 */
import { gaussianBlur } from './perturb-blur.js';
import { resizeBy } from './perturb-resize.js';
import type { PerturbSpec, PerturbStep } from './perturb-spec.js';
import { jpegRoundTrip } from './jpeg-roundtrip.js';
import type { RgbImage } from './pixels.js';

/** Python's round() of a multiple of 0.5: half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** torchvision.transforms.functional.center_crop to n x n, zero-padded where the image is smaller. */
export function centerCrop(img: RgbImage, n: number): RgbImage {
  const { width: w, height: h } = img;
  // Padding (left, top) as torchvision computes it, then the crop's offset in the padded image.
  const padL = n > w ? Math.floor((n - w) / 2) : 0;
  const padT = n > h ? Math.floor((n - h) / 2) : 0;
  const pw = w + padL + (n > w ? Math.floor((n - w + 1) / 2) : 0);
  const ph = h + padT + (n > h ? Math.floor((n - h + 1) / 2) : 0);
  const left = roundHalfEven((pw - n) / 2) - padL;
  const top = roundHalfEven((ph - n) / 2) - padT;
  const out = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < n; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= w) continue;
      out.set(img.data.subarray(3 * (sy * w + sx), 3 * (sy * w + sx) + 3), 3 * (y * n + x));
    }
  }
  return { width: n, height: n, data: out };
}

function applyStep(img: RgbImage, step: PerturbStep, name: string): RgbImage {
  switch (step.kind) {
    case 'jpeg': return jpegRoundTrip(img, step.quality);
    case 'blur': return gaussianBlur(img, step.sigma);
    case 'resize': return resizeBy(img, step.factor, name);
    case 'crop': return centerCrop(img, step.size);
  }
}

/** `img` after every step of `spec`, in order (the image itself when the spec is empty); `name` for errors. */
export function perturbImage(img: RgbImage, spec: PerturbSpec, name = 'image'): RgbImage {
  return spec.reduce((cur, step) => applyStep(cur, step, name), img);
}
