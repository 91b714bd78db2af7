/**
 * DIRE's input preparation (browser-safe, on the CPU): guided-diffusion's `center_crop_arr`, which
 * DIRE's compute_dire.py reads its images through, then `arr / 127.5 - 1`:
 *
 *   while min(w, h) >= 2 * size:  img = img.resize((w // 2, h // 2), Image.BOX)
 *   s = size / min(w, h);          img = img.resize((round(w * s), round(h * s)), Image.BICUBIC)
 *   crop size x size at ((h - size) // 2, (w - size) // 2)
 *
 * Unlike the DNF input (src/pipeline/preprocess.ts: torch's float resize of the whole image to a
 * square, stretching it), this keeps the aspect ratio and resizes the 8-bit image with Pillow's
 * resampler, so the pixels here are integers equal to Pillow 9.4's (Resample.c, reproduced below:
 * filter weights in float64, normalised per output pixel, then fixed point with 22 fraction bits;
 * horizontal pass first into an 8-bit image, then vertical; an axis of unchanged size is skipped).
 * Python's round() rounds half to even, as `roundHalfEven` does.
 */
import type { Gpu } from '../gpu/gpu.js';
import { checkRgbImage, type RgbImage } from '../image/pixels.js';
import { Tensor } from '../tensor.js';

/** A Pillow resampling filter: its kernel and support (in source pixels at scale 1). */
interface Filter {
  kernel: (x: number) => number;
  support: number;
}

const BOX: Filter = { kernel: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0), support: 0.5 };
const BICUBIC: Filter = {
  kernel: (x) => {
    const a = -0.5;
    x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  },
  support: 2,
};

const PRECISION_BITS = 32 - 8 - 2;

/** Python 3's round() of a float: to the nearest integer, halves to even. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resample.c precompute_coeffs + normalize_coeffs_8bpc: per output pixel, first source index and integer weights. */
function coefficients(inSize: number, outSize: number, filter: Filter): { first: Int32Array; weights: Int32Array[] } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const first = new Int32Array(outSize);
  const weights: Int32Array[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = new Float64Array(Math.max(xmax, 0));
    let ww = 0;
    for (let x = 0; x < xmax; x++) ww += k[x] = filter.kernel((x + xmin - center + 0.5) / filterscale);
    const w = new Int32Array(k.length);
    for (let x = 0; x < k.length; x++) {
      const v = (ww !== 0 ? k[x] / ww : k[x]) * (1 << PRECISION_BITS);
      w[x] = Math.trunc(v < 0 ? v - 0.5 : v + 0.5);
    }
    first[o] = xmin;
    weights.push(w);
  }
  return { first, weights };
}

const clip8 = (ss: number) => (ss >= 1 << (PRECISION_BITS + 8) ? 255 : ss <= 0 ? 0 : Math.floor(ss / (1 << PRECISION_BITS)));

/** One separable pass along x (axis 'x') or y of an 8-bit RGB image. */
function resamplePass(img: RgbImage, outSize: number, axis: 'x' | 'y', filter: Filter): RgbImage {
  const inSize = axis === 'x' ? img.width : img.height;
  const { first, weights } = coefficients(inSize, outSize, filter);
  const width = axis === 'x' ? outSize : img.width;
  const height = axis === 'x' ? img.height : outSize;
  const data = new Uint8Array(width * height * 3);
  const src = img.data;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = axis === 'x' ? x : y;
      const w = weights[o];
      for (let c = 0; c < 3; c++) {
        let ss = 1 << (PRECISION_BITS - 1); // exact in float64: every partial sum stays below 2^53
        for (let i = 0; i < w.length; i++) {
          const s = first[o] + i;
          ss += src[(axis === 'x' ? y * img.width + s : s * img.width + x) * 3 + c] * w[i];
        }
        data[(y * width + x) * 3 + c] = clip8(ss);
      }
    }
  }
  return { width, height, data };
}

/** PIL's `img.resize((width, height), filter)` of an RGB image (two passes, horizontal first). */
export function pilResize(img: RgbImage, width: number, height: number, filter: 'box' | 'bicubic'): RgbImage {
  const f = filter === 'box' ? BOX : BICUBIC;
  let out = img;
  if (width !== img.width) out = resamplePass(out, width, 'x', f);
  if (height !== img.height) out = resamplePass(out, height, 'y', f);
  return out === img ? { width, height, data: img.data.slice() } : out;
}

/** guided-diffusion's center_crop_arr (see the header): an 8-bit size x size RGB image. */
export function direCrop(img: RgbImage, size: number): RgbImage {
  checkRgbImage(img, 'DIRE input');
  let cur = img;
  while (Math.min(cur.width, cur.height) >= 2 * size) cur = pilResize(cur, Math.floor(cur.width / 2), Math.floor(cur.height / 2), 'box');
  const scale = size / Math.min(cur.width, cur.height);
  cur = pilResize(cur, roundHalfEven(cur.width * scale), roundHalfEven(cur.height * scale), 'bicubic');
  const top = Math.floor((cur.height - size) / 2);
  const left = Math.floor((cur.width - size) / 2);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) data.set(cur.data.subarray(((top + y) * cur.width + left) * 3, ((top + y) * cur.width + left + size) * 3), y * size * 3);
  return { width: size, height: size, data };
}

/** The DIRE input [N, 3, size, size]: each image cropped (direCrop), then float32(b / 127.5) - 1 as numpy does. */
export function direInput(gpu: Gpu, images: RgbImage[], size: number): { x: Tensor; crops: RgbImage[] } {
  const crops = images.map((img) => direCrop(img, size));
  const plane = size * size;
  const values = new Float32Array(images.length * 3 * plane);
  crops.forEach((crop, n) => {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) values[(n * 3 + c) * plane + p] = Math.fround(Math.fround(crop.data[p * 3 + c] / 127.5) - 1);
    }
  });
  return { x: Tensor.from(gpu, values, [images.length, 3, size, size], 'dire.input'), crops };
}
