/**
 * Image files to 8-bit RGB in the browser, with the stored pixel values that Node's decoder
 * (src/image/decode-node.ts, matching PIL's `convert('RGB')`) gives:
 *   - the EXIF block dropped first (src/image/exif.ts): Chromium would apply its orientation, PIL does not;
 *   - createImageBitmap with premultiplyAlpha 'none' and colorSpaceConversion 'none': no alpha
 *     premultiplication, embedded ICC profiles ignored (as PIL does);
 *   - the bitmap copied to an rgba8unorm texture with premultipliedAlpha false, then read back
 *     through a buffer, alpha dropped. A 2D canvas would not do: it stores premultiplied pixels,
 *     which changes the colour of translucent pixels and blackens transparent ones, where Node keeps
 *     the stored colour.
 * GIFs skip the browser's decoder: src/image/gif.ts gives Node's (and PIL's) first frame, where
 * Chromium would turn the transparent index and the canvas outside the frame into (0, 0, 0, 0).
 * BMPs go to src/image/bmp.ts, the decoder Node uses (so both give PIL's pixels, alpha dropped
 * rather than premultiplied), and TIFFs, which browsers cannot read, to src/image/tiff.ts (equal to
 * Node's sharp decode on the fixtures of test/image-formats.test.ts). The formats: src/image/formats.ts.
 * Known differences from Node:
 *   - 16-bit grayscale PNGs (with or without tRNS), which PIL (and so Node) clamps to 255 while
 *     Chromium keeps the high byte; no 8-bit decode in the browser can reproduce that;
 *   - CMYK JPEGs: Chromium converts the inks with its own rounding (measured: within 1 level of
 *     PIL's formula, on about half the values); the browser never hands over the inks themselves;
 *   - JPEG decoders are not bound to be bit-exact (sharp's libjpeg-turbo and Chromium's may be
 *     different builds and settings), so JPEG pixels may differ by a level here and there.
 * Other PNG inputs (gray, palette, alpha, 16-bit RGB: high byte) give the same bytes as in Node, and
 * so do the small JPEG and lossless WebP files test/browser.test.ts checks.
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { decodeBmp } from './bmp.js';
import { isBmp, isGif, isTiff } from './formats.js';
import { decodeGif } from './gif.js';
import { decodeTiff } from './tiff.js';
import type { RgbImage } from './pixels.js';
import { withoutExif } from './exif.js';

const ROW_ALIGN = 256; // copyTextureToBuffer's bytesPerRow alignment

/** Decodes `blob` (a File or fetched bytes); errors name `name` and say what to do. */
export async function decodeImageBlob(gpu: Gpu, blob: Blob, name: string): Promise<RgbImage> {
  if (!blob.size) throw new DnfError(`${name}: cannot decode image (empty file)`, 1);
  const file = new Uint8Array(await blob.arrayBuffer());
  if (isGif(file)) return decodeGif(name, file);
  if (isBmp(file)) return decodeBmp(name, file);
  if (isTiff(file)) return decodeTiff(name, file);
  let bitmap: ImageBitmap;
  try {
    const bytes = withoutExif(file);
    bitmap = await createImageBitmap(new Blob([bytes as BlobPart]), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch {
    throw new DnfError(`${name}: cannot decode image (corrupt, truncated, or a format this browser cannot read): convert it to PNG`, 1);
  }
  try {
    const max = gpu.limits.maxTextureDimension2D;
    if (bitmap.width > max || bitmap.height > max) {
      throw new DnfError(`${name}: ${bitmap.width}x${bitmap.height} exceeds this GPU's ${max}-pixel texture limit: scale it down first`, 1);
    }
    return await bitmapToRgb(gpu, bitmap);
  } finally {
    bitmap.close();
  }
}

/** The bitmap's unpremultiplied RGB bytes, copied through the GPU in bands of rows. */
async function bitmapToRgb(gpu: Gpu, bitmap: ImageBitmap): Promise<RgbImage> {
  const { width: w, height: h } = bitmap;
  const device = gpu.device;
  const texture = device.createTexture({
    label: 'decode.image',
    size: [w, h],
    format: 'rgba8unorm',
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
  });
  const rowBytes = Math.ceil((w * 4) / ROW_ALIGN) * ROW_ALIGN;
  const bandRows = Math.max(1, Math.min(h, Math.floor(Math.min(device.limits.maxBufferSize, 64 << 20) / rowBytes)));
  const staging = device.createBuffer({ label: 'decode.staging', size: rowBytes * bandRows, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const rgb = new Uint8Array(w * h * 3);
  try {
    device.queue.copyExternalImageToTexture({ source: bitmap }, { texture, premultipliedAlpha: false }, [w, h]);
    for (let y0 = 0; y0 < h; y0 += bandRows) {
      const rows = Math.min(bandRows, h - y0);
      const encoder = device.createCommandEncoder({ label: 'decode.copy' });
      encoder.copyTextureToBuffer({ texture, origin: [0, y0] }, { buffer: staging, bytesPerRow: rowBytes }, [w, rows]);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, rowBytes * rows);
      const rgba = new Uint8Array(staging.getMappedRange(0, rowBytes * rows));
      for (let y = 0; y < rows; y++) {
        let src = y * rowBytes;
        let dst = (y0 + y) * w * 3;
        for (let x = 0; x < w; x++, src += 4, dst += 3) {
          rgb[dst] = rgba[src];
          rgb[dst + 1] = rgba[src + 1];
          rgb[dst + 2] = rgba[src + 2];
        }
      }
      staging.unmap();
    }
  } finally {
    staging.destroy();
    texture.destroy();
  }
  return { width: w, height: h, data: rgb };
}
