/**
 * TIFF files as 8-bit RGB in the browser (which has no TIFF reader), with the pixels Node's
 * decoder (sharp, matching PIL's `convert('RGB')`) gives: a pure function of the bytes on the
 * `tiff` package (browser-safe), so Node tests compare the two directly. The first page only:
 *   - RGB(A): the first three samples, alpha dropped; 16-bit samples keep the high byte;
 *   - gray (BlackIsZero, WhiteIsZero inverted; 1-bit as 0/255): repeated to RGB; 16-bit gray is
 *     clamped to 255 (PIL opens it as an integer image and `convert` clips);
 *   - palette: the colour map's 16-bit entries, high byte (PIL's `b // 256`);
 *   - CMYK (Separated): the stored inks through PIL's formula, R = 255 - round((C)(255 - K)...)
 *     as Node's decoder has it (`cmykToRgb`). The `tiff` package refuses Separated images, so the
 *     PhotometricInterpretation tag of a copy is set to RGB to have its four samples unpacked.
 * Compression: none, LZW (with or without the horizontal predictor) and deflate, as the package
 * reads them; PackBits, JPEG-in-TIFF, CCITT and rotated (Orientation != 1) files fail with a
 * one-line message. Sizes above MAX_PIXELS fail before the pixels are decoded.
 */
import { decode, TiffIfd } from 'tiff';
import { DnfError } from '../errors.js';
import { isTiff } from './formats.js';
import { MAX_PIXELS, type RgbImage } from './pixels.js';

// TIFF 6.0 makes BitsPerSample default to 1, and PIL writes 1-bit files without the tag; the
// package reads the missing tag as undefined and refuses them. Its getter gets the default.
const bitsGetter = Object.getOwnPropertyDescriptor(TiffIfd.prototype, 'bitsPerSample')?.get;
if (bitsGetter) {
  Object.defineProperty(TiffIfd.prototype, 'bitsPerSample', {
    configurable: true,
    get(this: TiffIfd) {
      return bitsGetter.call(this) ?? 1;
    },
  });
}

const SEPARATED = 5;
const PHOTOMETRIC = 262;

function fail(name: string, reason: string): never {
  throw new DnfError(`${name}: cannot decode image (${reason})`, 1);
}

/** PIL's CMYK -> RGB (Convert.c cmyk2rgb): each of R, G, B is (255 - ink)(255 - K) / 255, rounded. */
export function cmykToRgb(c: number, k: number): number {
  const nk = 255 - k;
  const t = c * nk + 128;
  return nk - (((t >> 8) + t) >> 8);
}

/**
 * A copy of `b` whose first IFD's PhotometricInterpretation says RGB, or null when the tag is not
 * where a classic TIFF keeps it (then the package reports the file).
 */
function asRgbPhotometric(b: Uint8Array): Uint8Array | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = b[0] === 0x49;
  if (b.length < 8) return null;
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > b.length) return null;
  const n = dv.getUint16(ifd, le);
  for (let i = 0; i < n; i++) {
    const at = ifd + 2 + 12 * i;
    if (at + 12 > b.length) return null;
    if (dv.getUint16(at, le) !== PHOTOMETRIC) continue;
    const copy = b.slice();
    new DataView(copy.buffer).setUint16(at + 8, 2, le); // a SHORT value sits in the entry itself
    return copy;
  }
  return null;
}

/** Decodes the first page of a TIFF held in memory; `name` is used in error messages. */
export function decodeTiff(name: string, bytes: Uint8Array): RgbImage {
  if (!isTiff(bytes)) fail(name, 'not a TIFF file');
  try {
    return decodeFirstPage(name, bytes);
  } catch (e) {
    if (e instanceof DnfError) throw e;
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 200);
    fail(name, `corrupt, truncated or unsupported TIFF: ${msg}`);
  }
}

function decodeFirstPage(name: string, bytes: Uint8Array): RgbImage {
  const [head] = decode(bytes, { pages: [0], ignoreImageData: true });
  const w = head.width;
  const h = head.height;
  if (!(w > 0 && h > 0)) fail(name, `invalid size ${w}x${h}`);
  if (w * h > MAX_PIXELS) fail(name, `${w}x${h} is more than the ${MAX_PIXELS}-pixel limit`);
  const separated = head.type === SEPARATED;
  const source = separated ? asRgbPhotometric(bytes) : bytes;
  if (!source) fail(name, 'CMYK TIFF without a readable PhotometricInterpretation tag');
  const [ifd] = decode(source, { pages: [0] });
  const data = ifd.data;
  const spp = ifd.samplesPerPixel;
  const bits = ifd.bitsPerSample;
  if (bits !== 1 && bits !== 8 && bits !== 16) fail(name, `${bits}-bit samples are not supported: convert it to PNG`);
  if (data.length < w * h * spp) fail(name, `truncated data: ${data.length} of ${w * h * spp} samples`);
  const to8 = bits === 16 ? (v: number) => v >> 8 : (v: number) => v;
  const out = new Uint8Array(w * h * 3);
  const n = w * h;
  if (separated) {
    if (spp < 4) fail(name, `CMYK with ${spp} samples per pixel`);
    for (let i = 0; i < n; i++) {
      const k = to8(data[spp * i + 3]);
      for (let c = 0; c < 3; c++) out[3 * i + c] = cmykToRgb(to8(data[spp * i + c]), k);
    }
  } else if (ifd.type === 2) {
    if (spp < 3) fail(name, `RGB with ${spp} samples per pixel`);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = to8(data[spp * i + c]);
  } else if (ifd.type === 3) {
    const palette = ifd.palette;
    if (!palette) fail(name, 'palette image without a colour map');
    for (let i = 0; i < n; i++) {
      const entry = palette[data[spp * i]] ?? [0, 0, 0];
      for (let c = 0; c < 3; c++) out[3 * i + c] = entry[c] >> 8;
    }
  } else if (ifd.type === 0 || ifd.type === 1) {
    const grey = bits === 1 ? (v: number) => (v ? 255 : 0) : bits === 16 ? (v: number) => Math.min(v, 255) : (v: number) => v;
    for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = grey(data[spp * i]);
  } else {
    fail(name, `TIFF photometric interpretation ${ifd.type} is not supported: convert it to PNG`);
  }
  return { width: w, height: h, data: out };
}
