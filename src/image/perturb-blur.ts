/**
 * Gaussian blur as CNNDetection's augmentation computes it (browser-safe): per channel,
 * `scipy.ndimage.gaussian_filter(img[:, :, c], output=img[:, :, c], sigma)` on the uint8 image,
 * i.e. scipy 1.10's separable filter with truncate 4.0 and mode 'reflect' (d c b a | a b c d |
 * d c b a), first along rows' axis 0 (vertically), then axis 1, each pass written back to uint8
 * by truncation (a C cast: 254.9999 is 254; so a flat image can lose a level per pass where the
 * float64 weights sum to just under 1, in scipy as here). The arithmetic follows scipy's in float64 and in its
 * order: the kernel exp(-x^2 / 2 sigma^2) normalised by numpy's pairwise sum, and the symmetric
 * correlation center * w0 + sum over the outermost pair inwards of (left + right) * w.
 * Math.exp and numpy's exp are different implementations that could differ in the last bit; on
 * every golden kernel (94 weights, test/perturb-goldens.test.ts) they agree exactly, and so do
 * the pixels. A last-bit difference would show only where a sum lands on an integer.
 */
import type { RgbImage } from './pixels.js';

/** numpy's pairwise summation (umath's pairwise_sum) for arrays of up to 128 elements, and beyond. */
function numpySum(a: Float64Array, lo = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i];
    return res;
  }
  if (n <= 128) {
    const r = Array.from({ length: 8 }, (_, j) => a[lo + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[lo + i + j];
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, lo, n2) + numpySum(a, lo + n2, n - n2);
}

/** scipy's _gaussian_kernel1d(sigma, 0, radius) with radius = int(4 sigma + 0.5): 2 radius + 1 weights. */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.trunc(4 * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  const c = -0.5 / (sigma * sigma);
  for (let i = 0; i < k.length; i++) {
    const x = i - radius;
    k[i] = Math.exp(c * (x * x));
  }
  const sum = numpySum(k);
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** Index i of a line of length n under scipy's 'reflect' extension. */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

/**
 * One pass along lines of `n` samples (stride `step`; line starts from `starts`), uint8 in and out
 * (out truncated). Channels are interleaved in `data`, so a pass covers all three at once.
 */
function pass(src: Uint8Array, dst: Uint8Array, lines: number, n: number, lineStride: number, step: number, k: Float64Array): void {
  const r = (k.length - 1) / 2;
  const buf = new Float64Array(n + 2 * r);
  for (let l = 0; l < lines; l++) {
    for (let c = 0; c < 3; c++) {
      const base = l * lineStride + c;
      for (let i = -r; i < n + r; i++) buf[i + r] = src[base + reflect(i, n) * step];
      for (let i = 0; i < n; i++) {
        const at = i + r;
        let v = buf[at] * k[r];
        for (let j = -r; j < 0; j++) v += (buf[at + j] + buf[at - j]) * k[r + j];
        dst[base + i * step] = v; // Uint8Array stores truncate v in [0, 256)
      }
    }
  }
}

/** The image blurred with sigma (> 0) per channel, as scipy's gaussian_filter with uint8 output. */
export function gaussianBlur(img: RgbImage, sigma: number): RgbImage {
  const { width: w, height: h } = img;
  const k = gaussianKernel(sigma);
  const tmp = new Uint8Array(img.data.length);
  const out = new Uint8Array(img.data.length);
  pass(img.data, tmp, w, h, 3, 3 * w, k); // axis 0: columns
  pass(tmp, out, h, w, 3 * w, 3, k); // axis 1: rows
  return { width: w, height: h, data: out };
}
