/**
 * Image files to 8-bit RGB with sharp (Node only), pixel for pixel what the reference's
 * `PIL.Image.open(path).convert('RGB')` gives (Pillow 9.4, checked by test/image-decode.test.ts):
 *   - grayscale is repeated to 3 channels; palette images are looked up; alpha is dropped, never
 *     composited, so RGBA pixels keep their stored colour even where fully transparent;
 *   - 16-bit RGB(A) and gray+alpha keep the high byte; 16-bit single-channel gray, with or without
 *     a tRNS chunk, is clamped to 255 (PIL opens it as a 32-bit integer image and `convert` clips);
 *   - CMYK JPEG and TIFF: the stored inks through PIL's naive formula (see `cmyk`), not a profile;
 *   - GIF: the first frame, decoded by src/image/gif.ts (PIL's canvas, fill and palette rules: the
 *     transparent index keeps its palette colour), not by sharp;
 *   - BMP: src/image/bmp.ts (sharp has no BMP reader);
 *   - embedded ICC profiles are ignored (PIL converts nothing) and the EXIF orientation is not
 *     applied (Image.open does not rotate); multi-page files give their first page.
 * Known differences from PIL: AVIF decodes here but not in the reference's Pillow; lossy decoders
 * (JPEG, WebP) are the same libraries only by chance of the builds (they agree on every fixture);
 * for corrupt files the two may disagree on which ones are readable. Sharp reads PNG, JPEG,
 * WebP, TIFF and AVIF (the list of formats: src/image/formats.ts); HEIC, SVG and the formats named
 * in `unsupportedFormat` are refused with advice. Every failure, whatever the native decoder throws, is a one-line DnfError naming
 * the file.
 */
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { DnfError } from '../errors.js';
import { decodeBmp } from './bmp.js';
import { isBmp, isGif } from './formats.js';
import { decodeGif } from './gif.js';
import { MAX_PIXELS, type RgbImage } from './pixels.js';

export { MAX_PIXELS };
/** Larger files are refused before reading them. */
export const MAX_FILE_BYTES = 1 << 30;

const RASTER_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff', 'heif']);

function fail(name: string, reason: string): never {
  throw new DnfError(`${name}: cannot decode image (${reason})`, 1);
}

/** Names formats that sharp's bundled libvips cannot read, from their leading bytes. */
function unsupportedFormat(b: Uint8Array): string | null {
  const ascii = (n: number) => String.fromCharCode(...b.subarray(0, n));
  if (/^P[1-7]\s/.test(ascii(3))) return 'PNM/PPM';
  if (b[0] === 0 && b[1] === 0 && (b[2] === 1 || b[2] === 2) && b[3] === 0) return 'ICO/CUR';
  if (ascii(4) === '8BPS') return 'PSD';
  if (ascii(4) === '%PDF') return 'PDF';
  if ((b[0] === 0xff && b[1] === 0x0a) || ascii(12).endsWith('JXL \r\n\x87\n')) return 'JPEG XL';
  if ((b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) || ascii(12).endsWith('jP  \r\n\x87\n')) return 'JPEG 2000';
  return null;
}

/** A reason for the error message, from sharp's (first line only). */
function sharpReason(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0].trim();
  if (/unsupported image format/i.test(msg)) return 'unsupported or unrecognised format';
  const detail = msg.replace(/^Input (buffer|file) has corrupt header:?\s*/i, '').slice(0, 200);
  return `corrupt or truncated data${detail ? `: ${detail}` : ''}`;
}

/** A 16-bit grayscale PNG (colour type 0), whose tRNS chunk makes sharp report 2 channels. */
function isGray16Png(b: Uint8Array): boolean {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return b.length >= 26 && sig.every((v, i) => b[i] === v) && String.fromCharCode(...b.subarray(12, 16)) === 'IHDR' && b[24] === 16 && b[25] === 0;
}

/**
 * False when a Huffman-coded JPEG is too short to hold its declared size: every 8x8 block of the
 * first component costs at least one bit (a DC code), and that component has at least one block per
 * 32x32 pixels (sampling factors are at most 4). libjpeg would otherwise make up the missing data of
 * a huge declared frame, pixel by pixel, before the truncation is reported; PIL refuses such files
 * as truncated. Arithmetic-coded JPEGs (which can spend less than a bit per block) are not judged.
 */
function jpegCanHold(b: Uint8Array, width: number, height: number): boolean {
  for (let i = 2; i + 4 <= b.length && b[i] === 0xff; ) {
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if ([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7].includes(marker)) return b.length * 8 >= Math.ceil(width / 32) * Math.ceil(height / 32);
    if (marker === 0xda || (marker >= 0xc8 && marker <= 0xcf && marker !== 0xcc)) return true;
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  return true;
}

/**
 * False when a PNG's file is too short to hold its IHDR's pixels even at deflate's best ratio
 * (258 bytes for 2 bits: under 1032:1). libpng would otherwise allocate and filter rows of a
 * hostile width (tens of millions of pixels) before finding the data missing; PIL refuses such
 * files as truncated.
 */
function pngCanHold(b: Uint8Array, width: number, height: number): boolean {
  if (b.length < 26 || String.fromCharCode(...b.subarray(12, 16)) !== 'IHDR') return true;
  const samples = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[b[25]] ?? 1;
  return (width * height * samples * b[24]) / 8 <= b.length * 1032 + 1024;
}

/** Decodes an image held in memory; `name` is used in error messages. */
export async function decodeImageBytes(name: string, bytes: Uint8Array): Promise<RgbImage> {
  try {
    return await decode(name, bytes);
  } catch (e) {
    if (e instanceof DnfError) throw e;
    fail(name, sharpReason(e)); // native decoders may throw anything: still one line naming the file
  }
}

async function decode(name: string, bytes: Uint8Array): Promise<RgbImage> {
  if (!bytes.length) fail(name, 'empty file');
  const other = unsupportedFormat(bytes);
  if (other) fail(name, `${other} is not supported: convert it to PNG`);
  if (isGif(bytes)) return decodeGif(name, bytes);
  if (isBmp(bytes)) return decodeBmp(name, bytes);
  // ignoreIcc: keep the stored values, as PIL does; failOn 'error': truncated data fails, as in PIL.
  const open = (limitInputPixels: number | false) => sharp(bytes, { failOn: 'error', ignoreIcc: true, limitInputPixels, pages: 1 });
  let meta: Metadata;
  try {
    meta = await open(false).metadata(); // reads the header only; the size is checked below
  } catch (e) {
    fail(name, sharpReason(e));
  }
  const { format, width = 0, height = 0 } = meta;
  if (!RASTER_FORMATS.has(format ?? '')) fail(name, `${format ?? 'unknown'} is not a supported raster format: convert it to PNG`);
  if (format === 'heif' && meta.compression !== 'av1') fail(name, 'HEIC is not supported (no HEVC decoder in sharp): convert it to PNG');
  if (!(width > 0 && height > 0)) fail(name, `invalid size ${width}x${height}`);
  if (width * height > MAX_PIXELS) fail(name, `${width}x${height} is more than the ${MAX_PIXELS}-pixel limit`);
  if (format === 'jpeg' && !jpegCanHold(bytes, width, height)) fail(name, `corrupt or truncated data: ${bytes.length} bytes cannot hold a ${width}x${height} JPEG`);
  if (format === 'png' && !pngCanHold(bytes, width, height)) fail(name, `corrupt or truncated data: ${bytes.length} bytes cannot hold a ${width}x${height} PNG`);
  try {
    if (meta.space === 'cmyk') return await cmyk(name, open(MAX_PIXELS), width, height);
    if (meta.depth === 'ushort' && (meta.channels === 1 || isGray16Png(bytes))) return await gray16(open(MAX_PIXELS), width, height);
    const { data, info } = await open(MAX_PIXELS).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) fail(name, `unexpected ${info.channels}-channel output`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    if (e instanceof DnfError) throw e;
    fail(name, sharpReason(e));
  }
}

/** 16-bit gray (alpha from tRNS ignored): values clamped to 255, then repeated to RGB (PIL's I -> RGB convert). */
async function gray16(img: Sharp, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await img.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const n = width * height;
  const c = info.channels;
  const samples = new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + n * c * 2)); // host order, as sharp writes
  if (samples.length !== n * c) throw new Error(`unexpected ${c}-channel 16-bit output`);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = Math.min(samples[c * i], 255);
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
  }
  return { width, height, data: out };
}

/**
 * CMYK: the ink values as PIL holds them, then PIL's CMYK -> RGB convert, R = (255 - C)(255 - K) / 255
 * rounded (Convert.c's cmyk2rgb, likewise G and B). libvips and PIL read the same values: TIFF
 * samples as stored, JPEG samples as libjpeg gives them (YCCK already turned into CMYK), inverted
 * (PIL's "CMYK;I" rawmode and libvips assume Adobe's inverted storage, with or without an APP14
 * marker). sharp's CMYK pipeline without an ICC transform hands over exactly those values; 16-bit
 * CMYK keeps the high byte.
 */
async function cmyk(name: string, img: Sharp, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await img.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
  const n = width * height;
  const c = info.channels;
  const wide = data.length === n * c * 2; // 16-bit samples
  if (c < 4 || info.width !== width || info.height !== height || (!wide && data.length !== n * c)) fail(name, `unexpected ${c}-channel CMYK output`);
  const ink = wide ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)).map((v) => v >> 8) : data;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const nk = 255 - ink[c * i + 3];
    for (let k = 0; k < 3; k++) {
      const t = ink[c * i + k] * nk + 128;
      out[3 * i + k] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return { width, height, data: out };
}

/** Reads and decodes an image file. */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    const st = await stat(path);
    if (!st.isFile()) fail(path, 'not a regular file');
    if (st.size > MAX_FILE_BYTES) fail(path, `${st.size} bytes is more than the ${MAX_FILE_BYTES}-byte limit`);
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof DnfError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    fail(path, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot read it: ${(e as Error).message}`);
  }
  return decodeImageBytes(path, bytes);
}
