/**
 * Lossless PNG of an 8-bit RGB image in the browser: the pixels go opaque (alpha 255) into an
 * OffscreenCanvas, whose PNG encoder then writes exactly those bytes back (no premultiplication
 * loss at alpha 255, no colour conversion for an sRGB canvas).
 */
import type { RgbImage } from '../src/index.js';

/** The RGBA pixels of `img` with alpha 255. */
export function opaqueImageData(img: RgbImage): ImageData {
  const pixels = new ImageData(img.width, img.height);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    pixels.data[j] = img.data[i];
    pixels.data[j + 1] = img.data[i + 1];
    pixels.data[j + 2] = img.data[i + 2];
    pixels.data[j + 3] = 255;
  }
  return pixels;
}

export async function encodePng(img: RgbImage): Promise<Uint8Array> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  // A software canvas (willReadFrequently): encoding it reads no pixels back from a GPU.
  canvas.getContext('2d', { willReadFrequently: true })!.putImageData(opaqueImageData(img), 0, 0);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new Uint8Array(await blob.arrayBuffer());
}
