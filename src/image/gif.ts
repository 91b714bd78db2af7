/**
 * The first frame of a GIF as 8-bit RGB, pixel for pixel what Pillow 9.4's
 * `Image.open(path).convert('RGB')` gives (browser-safe: used by Node and by the web page).
 *
 * Why a decoder of our own: sharp's libnsgif and the browsers' decoders composite the frame onto
 * a transparent canvas, so the transparent index and the area outside the frame come out as
 * (0, 0, 0, 0), and alpha cannot give back the colour PIL reports. PIL's reading, followed here:
 *   - the canvas is the logical screen, grown to hold the first frame when the frame reaches past
 *     it; it is filled with the frame's transparent index when it has one, else index 0, and the
 *     frame's indices are written over it (the transparent index keeps its palette colour);
 *   - index i maps to the frame's palette (the local one, else the global one) when i is one of
 *     its entries, else to (i, i, i) (PIL's palette starts as a grey ramp; no palette: grey);
 *   - LZW as Pillow's GifDecode.c: an end code before the frame is full, a code past the table,
 *     or data that ends before the last pixel make the file unreadable (PIL: "image file is
 *     truncated" or "decoder error"); zero-length sub-blocks inside the data are skipped; codes
 *     after the last pixel are ignored; code sizes above 12 bits are refused;
 *   - a graphic control extension's transparency flag sets the index (a later one overrides);
 *     extensions too short for their fields, and files without an image descriptor, are errors.
 */
import { DnfError } from '../errors.js';
import { isGif } from './formats.js';
import { MAX_PIXELS, type RgbImage } from './pixels.js';

const TABLE = 4096; // LZW codes (12 bits)
const STACK = 4096; // longest string PIL's decoder expands

function fail(name: string, reason: string): never {
  throw new DnfError(`${name}: cannot decode image (${reason})`, 1);
}

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);

interface Frame {
  width: number;
  height: number;
  x0: number;
  y0: number;
  fw: number;
  fh: number;
  interlaced: boolean;
  palette: Uint8Array | null;
  transparency: number | null;
  codeBits: number;
  data: number;
}

/** Reads the headers up to the first image's data, as PIL's GifImageFile._open and _seek(0). */
function parse(name: string, b: Uint8Array): Frame {
  if (b.length < 13 || !isGif(b)) fail(name, 'not a GIF file');
  let width = u16(b, 6);
  let height = u16(b, 8);
  let pos = 13;
  let palette: Uint8Array | null = null;
  if (b[10] & 0x80) {
    const n = 3 << ((b[10] & 7) + 1);
    palette = b.subarray(pos, pos + n);
    pos += n;
  }
  /** One sub-block (null for the terminator or the end of the file), as GifImageFile.data(). */
  const block = (): Uint8Array | null => {
    if (pos >= b.length || b[pos] === 0) {
      pos = Math.min(pos + 1, b.length);
      return null;
    }
    const size = b[pos];
    const out = b.subarray(pos + 1, pos + 1 + size);
    pos += 1 + size;
    return out;
  };
  let transparency: number | null = null;
  for (;;) {
    if (pos >= b.length || b[pos] === 0x3b) fail(name, 'no image in the GIF');
    const s = b[pos++];
    if (s === 0x21) {
      if (pos >= b.length) fail(name, 'truncated GIF extension');
      const label = b[pos++];
      const first = block();
      if (label === 0xfe) {
        if (first) while (block());
        continue;
      }
      if (label === 0xf9) {
        if (!first || first.length < 3) fail(name, 'truncated GIF graphic control extension');
        if (first[0] & 1) {
          if (first.length < 4) fail(name, 'truncated GIF graphic control extension');
          transparency = first[3];
        }
      } else if (label === 0xff) {
        if (!first) fail(name, 'empty GIF application extension');
        if (String.fromCharCode(...first.subarray(0, 11)) === 'NETSCAPE2.0' && !block()) fail(name, 'truncated GIF application extension');
      }
      // PIL skips sub-blocks after the first even when the first was the terminator.
      while (block());
    } else if (s === 0x2c) {
      if (pos + 9 > b.length) fail(name, 'truncated GIF image descriptor');
      const x0 = u16(b, pos);
      const y0 = u16(b, pos + 2);
      const fw = u16(b, pos + 4);
      const fh = u16(b, pos + 6);
      const flags = b[pos + 8];
      pos += 9;
      width = Math.max(width, x0 + fw);
      height = Math.max(height, y0 + fh);
      if (flags & 0x80) {
        const n = 3 << ((flags & 7) + 1);
        palette = b.subarray(pos, pos + n);
        pos += n;
      }
      if (pos >= b.length) fail(name, 'truncated GIF image data');
      return { width, height, x0, y0, fw, fh, interlaced: (flags & 0x40) !== 0, palette, transparency, codeBits: b[pos], data: pos + 1 };
    }
  }
}

/** Decodes a GIF held in memory; `name` is used in error messages. */
export function decodeGif(name: string, bytes: Uint8Array): RgbImage {
  const f = parse(name, bytes);
  const { width, height } = f;
  if (!(width > 0 && height > 0)) fail(name, `invalid size ${width}x${height}`);
  if (width * height > MAX_PIXELS) fail(name, `${width}x${height} is more than the ${MAX_PIXELS}-pixel limit`);
  // PIL's tile: the frame's box, or the whole canvas when the box is empty at x = 0.
  let { x0, y0, fw, fh } = f;
  if (x0 === 0 && fw === 0) [y0, fw, fh] = [0, width, height];
  if (fw <= 0 || fh <= 0) fail(name, `empty GIF frame ${fw}x${fh}`);
  if (f.codeBits > 12) fail(name, `invalid GIF code size ${f.codeBits}`);
  // Each code gives at most STACK + 1 pixels: a frame that the remaining bytes cannot fill is truncated.
  if (fw * fh > (bytes.length - f.data) * 8 * (STACK + 1)) fail(name, 'corrupt or truncated data: the GIF ends before its last pixel');
  // The frame's indices on their own (the rest of the canvas is one colour: filled, not mapped).
  const index = new Uint8Array(fw * fh); // every one is written, or the file is refused
  const fill = f.transparency ?? 0;
  lzw(name, bytes, f.data, f.codeBits, index, fw, fh, f.interlaced);
  const pal = f.palette;
  const entries = pal ? Math.floor(pal.length / 3) : 0;
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut.set(i < entries ? pal!.subarray(3 * i, 3 * i + 3) : [i, i, i], 3 * i);
  const rgb = new Uint8Array(width * height * 3);
  if (fw !== width || fh !== height) {
    rgb.set(lut.subarray(3 * fill, 3 * fill + 3));
    for (let n = 3; n < rgb.length; n *= 2) rgb.copyWithin(n, 0, Math.min(n, rgb.length - n));
  }
  for (let y = 0; y < fh; y++) {
    let o = ((y0 + y) * width + x0) * 3;
    for (let i = y * fw, end = i + fw; i < end; i++, o += 3) {
      const k = 3 * index[i];
      rgb[o] = lut[k];
      rgb[o + 1] = lut[k + 1];
      rgb[o + 2] = lut[k + 2];
    }
  }
  return { width, height, data: rgb };
}

/** Pillow's GifDecode.c: LZW codes from the sub-blocks at `pos` into `out`, the frame's xsize x ysize indices. */
function lzw(name: string, b: Uint8Array, pos: number, bits: number, out: Uint8Array, xsize: number, ysize: number, interlaced: boolean): void {
  const broken = () => fail(name, 'corrupt GIF data: invalid LZW code');
  const truncated = () => fail(name, 'corrupt or truncated data: the GIF ends before its last pixel');
  const clear = 1 << bits;
  const end = clear + 1;
  const data = new Uint8Array(TABLE);
  const link = new Uint16Array(TABLE);
  const stack = new Uint8Array(STACK);
  let next = 0;
  let codesize = 0;
  let codemask = 0;
  let fresh = true; // the next code is the first after a clear
  let lastdata = 0;
  let lastcode = 0;
  let bitbuffer = 0;
  let bitcount = 0;
  let blocksize = 0;
  // Output position; interlace pass (1..3 while interlaced, 0 when done or not interlaced).
  let x = 0;
  let y = 0;
  let pass = interlaced ? 1 : 0;
  let step = interlaced ? 8 : 1;
  let row = 0;
  /** Writes one pixel; false once the frame is full. */
  const put = (v: number): boolean => {
    out[row + x] = v;
    if (++x < xsize) return true;
    x = 0;
    y += step;
    while (y >= ysize) {
      if (pass === 1) [y, pass] = [4, 2];
      else if (pass === 2) [step, y, pass] = [4, 2, 3];
      else if (pass === 3) [step, y, pass] = [2, 1, 0];
      else return false;
    }
    row = y * xsize;
    return true;
  };
  const reset = () => {
    next = clear + 2;
    codesize = bits + 1;
    codemask = (1 << codesize) - 1;
    fresh = true;
  };
  reset();
  for (;;) {
    while (bitcount < codesize) {
      if (blocksize > 0) {
        bitbuffer |= b[pos++] << bitcount;
        bitcount += 8;
        blocksize--;
      } else {
        // A new sub-block, decoded only when it is whole (a zero size is skipped).
        if (pos >= b.length || pos + 1 + b[pos] > b.length) truncated();
        blocksize = b[pos++];
      }
    }
    let c = bitbuffer & codemask;
    bitbuffer >>>= codesize;
    bitcount -= codesize;
    if (c === clear) {
      if (!fresh) reset();
      continue;
    }
    if (c === end) truncated(); // PIL stops there and finds the frame unfinished
    if (fresh) {
      if (c > clear) broken();
      lastdata = c & 255;
      lastcode = c;
      fresh = false;
      if (!put(lastdata)) return;
      continue;
    }
    const thiscode = c;
    if (c > next) broken();
    let sp = STACK;
    if (c === next) {
      if (sp <= 0) broken();
      stack[--sp] = lastdata;
      c = lastcode;
    }
    while (c >= clear) {
      if (sp <= 0 || c >= TABLE) broken();
      stack[--sp] = data[c];
      c = link[c];
    }
    lastdata = c & 255;
    if (next < TABLE) {
      data[next] = lastdata;
      link[next] = lastcode;
      if (next === codemask && codesize < 12) {
        codesize++;
        codemask = (1 << codesize) - 1;
      }
      next++;
    }
    lastcode = thiscode;
    if (!put(lastdata)) return;
    while (sp < STACK) if (!put(stack[sp++])) return;
  }
}
