/**
 * BMP files as 8-bit RGB, pixel for pixel what Pillow 9.4's `Image.open(path).convert('RGB')`
 * gives (browser-safe: used by Node, where sharp cannot read BMP, and by the web page, so both
 * give the same pixels). PIL's reading (BmpImagePlugin), followed here:
 *   - headers: OS/2 v1 (12 bytes: 16-bit sizes, 3-byte palette entries) and BITMAPINFOHEADER (40),
 *     OS/2 v2 (64), V4 (108) and V5 (124) (4-byte palette entries); 52/56-byte headers are refused
 *     as PIL refuses them. A height whose top byte is 0xff (negative) means rows top-down, else
 *     bottom-up; rows are padded to 4 bytes;
 *   - 1, 4 and 8 bits per pixel through the palette (its size from the header, else 2^bits; an
 *     index past it gives (i, i, i): PIL's palette starts as a grey ramp), 16 bits as 5-5-5, 24 as
 *     BGR, 32 as BGRX; with BI_BITFIELDS (masks after a 40-byte header, inside larger ones) only
 *     the layouts PIL knows (5-6-5 and 5-5-5 at 16 bits, BGR at 24, six byte orders at 32); 5- and
 *     6-bit channels scale as v * 255 / max, truncated; alpha is dropped, never composited;
 *   - RLE8 and RLE4 as PIL's BmpRleDecoder, quirks included (a delta reads two bytes past its
 *     own, RLE4 absolute runs of odd length lose their last pixel, runs align to even file offsets);
 *     data that ends before the image is full is an error ("not enough image data" in PIL);
 *   - when the pixel offset is 0, pixels follow the palette; when it points just past the header
 *     of a palette image, the palette is skipped (PIL's offset rule).
 * Not followed: PIL's shortcut for grey palettes (2 entries black and white, or entry i = (i, i, i)
 * for every i), which reads 4- and 8-bit pixels with a 1- or 8-bit unpacker; here such palettes
 * are looked up like any other (the same pixels for 1-bit black-and-white and 8-bit grey files).
 * Sizes above MAX_PIXELS and files too short for their pixels fail in one line before anything
 * large is allocated.
 */
import { DnfError } from '../errors.js';
import { isBmp } from './formats.js';
import { MAX_PIXELS, type RgbImage } from './pixels.js';

const RAW = 0;
const RLE8 = 1;
const RLE4 = 2;
const BITFIELDS = 3;

/** The size a BMP header declares (null when it is not a BMP header it can read): for memory planning. */
export function bmpDimensions(b: Uint8Array): { width: number; height: number } | null {
  if (!isBmp(b) || b.length < 26) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(14, true) === 12) return { width: dv.getUint16(18, true), height: dv.getUint16(20, true) };
  return { width: Math.abs(dv.getInt32(18, true)), height: Math.abs(dv.getInt32(22, true)) };
}

function fail(name: string, reason: string): never {
  throw new DnfError(`${name}: cannot decode image (${reason})`, 1);
}

/** How 16-, 24- and 32-bit pixels give R, G, B: bit masks of the little-endian pixel word. */
interface Masks {
  r: number;
  g: number;
  b: number;
}

const BGR15: Masks = { r: 0x7c00, g: 0x3e0, b: 0x1f };
const BGRX: Masks = { r: 0xff0000, g: 0xff00, b: 0xff };

/** PIL's supported BI_BITFIELDS layouts, as 'bits:r,g,b,a' (hex); the alpha mask matters for 32 bits only. */
const KNOWN_LAYOUTS = new Set([
  '32:ff0000,ff00,ff,0', '32:ff000000,ff0000,ff00,0', '32:ff000000,ff0000,ff00,ff', '32:ff,ff00,ff0000,ff000000',
  '32:ff0000,ff00,ff,ff000000', '32:0,0,0,0', '24:ff0000,ff00,ff', '16:f800,7e0,1f', '16:7c00,3e0,1f',
]);

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bits: number;
  compression: number;
  colors: number;
  /** Bytes per palette entry (3 for OS/2 v1, else 4). */
  entry: number;
  masks: Masks | null;
  /** Where the palette starts. */
  paletteAt: number;
  /** The header's size field. */
  size: number;
}

function readHeader(name: string, b: Uint8Array, dv: DataView): Header {
  if (b.length < 18) fail(name, 'truncated BMP header');
  const size = dv.getUint32(14, true);
  const at = 18; // the header's fields, after its size
  if (b.length < 14 + size) fail(name, 'truncated BMP header');
  let h: Header;
  if (size === 12) {
    h = { width: dv.getUint16(at, true), height: dv.getUint16(at + 2, true), topDown: false, bits: dv.getUint16(at + 6, true), compression: RAW, colors: 0, entry: 3, masks: null, paletteAt: 14 + size, size };
  } else if (size === 40 || size === 64 || size === 108 || size === 124) {
    const topDown = b[at + 7] === 0xff;
    const rawHeight = dv.getUint32(at + 4, true);
    h = {
      width: dv.getInt32(at, true),
      height: topDown ? 2 ** 32 - rawHeight : rawHeight,
      topDown,
      bits: dv.getUint16(at + 10, true),
      compression: dv.getUint32(at + 12, true),
      colors: dv.getUint32(at + 28, true),
      entry: 4,
      masks: null,
      paletteAt: 14 + size,
      size,
    };
    if (h.compression === BITFIELDS) {
      let m: number[];
      if (size >= 52) {
        m = [0, 1, 2, 3].map((k) => dv.getUint32(at + 36 + 4 * k, true));
      } else {
        if (b.length < 14 + size + 12) fail(name, 'truncated BMP bit masks');
        m = [0, 1, 2].map((k) => dv.getUint32(14 + size + 4 * k, true)).concat(0);
        h.paletteAt += 12;
      }
      const key = `${h.bits}:${(h.bits === 32 ? m : m.slice(0, 3)).map((v) => v.toString(16)).join(',')}`;
      if (!KNOWN_LAYOUTS.has(key)) fail(name, `BMP bit masks ${key.slice(key.indexOf(':') + 1)} at ${h.bits} bits are not supported: convert it to PNG`);
      // The all-zero 32-bit layout reads as BGRA in PIL.
      h.masks = m[0] === 0 && m[1] === 0 && m[2] === 0 ? BGRX : { r: m[0], g: m[1], b: m[2] };
    }
  } else {
    fail(name, `unsupported BMP header size ${size}`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(h.bits)) fail(name, `unsupported BMP pixel depth ${h.bits}`);
  if (![RAW, RLE8, RLE4, BITFIELDS].includes(h.compression)) fail(name, `unsupported BMP compression ${h.compression}`);
  if (h.colors === 0) h.colors = 2 ** h.bits;
  if (!(h.width > 0 && h.height > 0)) fail(name, `invalid size ${h.width}x${h.height}`);
  if (h.width * h.height > MAX_PIXELS) fail(name, `${h.width}x${h.height} is more than the ${MAX_PIXELS}-pixel limit`);
  return h;
}

/** The palette as RGB triples over all 256 indices: the file's entries, then PIL's grey ramp. */
function readPalette(name: string, b: Uint8Array, h: Header): Uint8Array {
  if (!(h.colors > 0 && h.colors <= 65536)) fail(name, `unsupported BMP palette size ${h.colors}`);
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut[3 * i] = lut[3 * i + 1] = lut[3 * i + 2] = i;
  const n = Math.min(h.colors, 256);
  if (b.length < h.paletteAt + h.entry * n) fail(name, 'truncated BMP palette');
  for (let i = 0; i < n; i++) {
    const p = h.paletteAt + h.entry * i;
    lut[3 * i] = b[p + 2];
    lut[3 * i + 1] = b[p + 1];
    lut[3 * i + 2] = b[p];
  }
  return lut;
}

/** One channel of a pixel word: its masked bits scaled to 0..255 (exact for 8-bit masks). */
function channel(v: number, mask: number): number {
  if (!mask) return 0;
  const shift = 31 - Math.clz32(mask & -mask);
  const max = mask >>> shift;
  const x = (v & mask) >>> shift;
  return max === 255 ? x : Math.floor((x * 255) / max);
}

/** Decodes a BMP file held in memory; `name` is used in error messages. */
export function decodeBmp(name: string, b: Uint8Array): RgbImage {
  if (!isBmp(b)) fail(name, 'not a BMP file');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const h = readHeader(name, b, dv);
  const paletted = h.bits <= 8;
  const lut = paletted ? readPalette(name, b, h) : null;
  let offset = dv.getUint32(10, true);
  if (paletted && offset === 14 + h.size) offset += 4 * h.colors; // PIL: an offset just past the header skips the palette
  if (offset === 0) offset = h.paletteAt + (paletted ? h.entry * h.colors : 0);
  const { width: w, height: ht } = h;

  if (h.compression === RLE8 || h.compression === RLE4) {
    if (!paletted) fail(name, `RLE compression at ${h.bits} bits is not supported: convert it to PNG`);
    const idx = decodeRle(name, b, offset, w, ht, h.compression === RLE4);
    const out = new Uint8Array(w * ht * 3);
    for (let y = 0; y < ht; y++) {
      const row = h.topDown ? y : ht - 1 - y; // file row y holds image row `row`
      for (let x = 0; x < w; x++) {
        const i = idx[y * w + x];
        const d = 3 * (row * w + x);
        out[d] = lut![3 * i];
        out[d + 1] = lut![3 * i + 1];
        out[d + 2] = lut![3 * i + 2];
      }
    }
    return { width: w, height: ht, data: out };
  }

  const stride = ((w * h.bits + 31) >>> 3) & ~3;
  if (offset > b.length || b.length - offset < stride * ht) fail(name, `truncated data: ${b.length} bytes cannot hold a ${w}x${ht} BMP at ${h.bits} bits`);
  const masks = h.masks ?? (h.bits === 16 ? BGR15 : BGRX);
  const out = new Uint8Array(w * ht * 3);
  for (let y = 0; y < ht; y++) {
    const src = offset + y * stride;
    const row = h.topDown ? y : ht - 1 - y;
    let d = 3 * row * w;
    for (let x = 0; x < w; x++, d += 3) {
      if (paletted) {
        const bit = x * h.bits;
        const byte = b[src + (bit >>> 3)];
        const i = h.bits === 8 ? byte : (byte >>> (8 - h.bits - (bit & 7))) & ((1 << h.bits) - 1);
        out[d] = lut![3 * i];
        out[d + 1] = lut![3 * i + 1];
        out[d + 2] = lut![3 * i + 2];
      } else {
        const p = src + x * (h.bits >>> 3);
        const v = h.bits === 16 ? dv.getUint16(p, true) : h.bits === 24 ? b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) : dv.getUint32(p, true);
        out[d] = channel(v, masks.r);
        out[d + 1] = channel(v, masks.g);
        out[d + 2] = channel(v, masks.b);
      }
    }
  }
  return { width: w, height: ht, data: out };
}

/** Palette indices, w * h in file row order, as PIL's BmpRleDecoder reads them (see the header). */
function decodeRle(name: string, b: Uint8Array, start: number, w: number, h: number, rle4: boolean): Uint8Array {
  const total = w * h;
  const data = new Uint8Array(total);
  let n = 0; // indices so far (zeros where the decoder skips)
  let x = 0;
  let p = start;
  const push = (v: number) => {
    if (n < total) data[n] = v;
    n++;
  };
  while (n < total) {
    if (p + 2 > b.length) break;
    let count = b[p];
    const byte = b[p + 1];
    p += 2;
    if (count) {
      if (x + count > w) count = Math.max(0, w - x);
      for (let k = 0; k < count; k++) push(rle4 ? (k % 2 === 0 ? byte >> 4 : byte & 15) : byte);
      x += count;
    } else if (byte === 0) {
      while (n % w !== 0) push(0); // end of line
      x = 0;
    } else if (byte === 1) {
      break; // end of bitmap
    } else if (byte === 2) {
      if (p + 4 > b.length) fail(name, 'truncated RLE data');
      const right = b[p + 2];
      const up = b[p + 3];
      p += 4;
      n += right + up * w; // zeros: data starts zeroed
      x = n % w;
    } else {
      const bytes = rle4 ? byte >> 1 : byte;
      const got = Math.min(bytes, b.length - p);
      for (let k = 0; k < got; k++) {
        const v = b[p + k];
        if (rle4) {
          push(v >> 4);
          push(v & 15);
        } else push(v);
      }
      p += got;
      if (got < bytes) break;
      x += byte;
      if (p % 2 !== 0) p++; // runs end on an even file offset
    }
  }
  if (n < total) fail(name, `truncated RLE data: ${n} of ${total} pixels`);
  return data;
}
