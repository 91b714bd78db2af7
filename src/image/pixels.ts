/** Decoded images as every platform hands them to the GPU code (browser-safe: no Node imports). */

/** PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS * 2): larger images fail in the reference too. */
export const MAX_PIXELS = 178_956_970;

/** 8-bit sRGB pixels, 3 bytes per pixel (R, G, B), rows top to bottom, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Throws unless `img` is a non-empty RgbImage whose data holds exactly width * height * 3 bytes. */
export function checkRgbImage(img: RgbImage, what = 'image'): void {
  const { width: w, height: h, data } = img;
  if (!Number.isSafeInteger(w) || !Number.isSafeInteger(h) || w <= 0 || h <= 0) throw new Error(`${what}: invalid size ${w}x${h}`);
  if (!(data instanceof Uint8Array) || data.length !== w * h * 3) {
    throw new Error(`${what}: ${w}x${h} RGB needs ${w * h * 3} bytes, got ${data?.length}`);
  }
}
