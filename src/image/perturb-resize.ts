/**
 * PIL's bicubic resize, bit for bit (browser-safe): Pillow 9.4's `img.resize(size, Image.BICUBIC)`
 * on 8-bit RGB (libImaging/Resample.c). Per output pixel a = -0.5 cubic weights over the input
 * pixels within support 2 (stretched by the scale when shrinking: antialiased), normalised in
 * double, then turned into 22-bit fixed point (PRECISION_BITS = 32 - 8 - 2) and summed in
 * integers with a half for rounding, clipped to 0..255; the horizontal pass first (into a uint8
 * image of the rows the vertical pass reads), then the vertical one. An axis whose size does not
 * change is not resampled.
 */
import { MAX_PIXELS, type RgbImage } from './pixels.js';
import { DnfError } from '../errors.js';

const PRECISION_BITS = 22;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  /** Per output index: first input index and count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  kk: Int32Array;
}

/** Resample.c precompute_coeffs + normalize_coeffs_8bpc, for the box [0, inSize). */
function coeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(1, scale);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? k[x] / ww : k[x];
      kk[xx * ksize + x] = Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

const clip8 = (ss: number) => {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** `img` resized to outW x outH as Pillow's BICUBIC resize does. */
export function pilBicubicResize(img: RgbImage, outW: number, outH: number): RgbImage {
  let cur = img;
  if (outW !== cur.width) {
    const { ksize, bounds, kk } = coeffs(cur.width, outW);
    const out = new Uint8Array(outW * cur.height * 3);
    for (let y = 0; y < cur.height; y++) {
      const row = y * cur.width * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx], n = bounds[2 * xx + 1], k = xx * ksize;
        for (let c = 0; c < 3; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < n; x++) ss += cur.data[row + (xmin + x) * 3 + c] * kk[k + x];
          out[(y * outW + xx) * 3 + c] = clip8(ss);
        }
      }
    }
    cur = { width: outW, height: cur.height, data: out };
  }
  if (outH !== cur.height) {
    const { ksize, bounds, kk } = coeffs(cur.height, outH);
    const w = cur.width;
    const out = new Uint8Array(w * outH * 3);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[2 * yy], n = bounds[2 * yy + 1], k = yy * ksize;
      for (let i = 0; i < w * 3; i++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < n; y++) ss += cur.data[(ymin + y) * w * 3 + i] * kk[k + y];
        out[yy * w * 3 + i] = clip8(ss);
      }
    }
    cur = { width: w, height: outH, data: out };
  }
  return cur === img ? { width: img.width, height: img.height, data: img.data.slice() } : cur;
}

/** The size resize:F gives a w x h image: each side times F, rounded half up, at least 1. */
export function scaledSize(w: number, h: number, factor: number): [number, number] {
  return [Math.max(1, Math.floor(w * factor + 0.5)), Math.max(1, Math.floor(h * factor + 0.5))];
}

/** resize:F on one image; `name` for the error when the result would exceed the pixel limit. */
export function resizeBy(img: RgbImage, factor: number, name: string): RgbImage {
  const [w, h] = scaledSize(img.width, img.height, factor);
  if (w * h > MAX_PIXELS) throw new DnfError(`${name}: resize:${factor} makes ${w}x${h}, more than the ${MAX_PIXELS}-pixel limit: use a smaller factor`, 1);
  return pilBicubicResize(img, w, h);
}
