/** Lossless PNG writing with sharp (Node only). */
import sharp from 'sharp';
import { checkRgbImage, type RgbImage } from './pixels.js';

/**
 * Encodes 8-bit RGB as a PNG (lossless, no metadata). Compression level 6, zlib's default:
 * level 9 takes several times longer for a few percent on noise-like DNFs.
 */
export async function encodePng(img: RgbImage): Promise<Uint8Array> {
  checkRgbImage(img, 'encodePng');
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}
