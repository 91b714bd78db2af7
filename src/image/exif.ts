/**
 * Image bytes without their EXIF block, so that the browser keeps the stored pixel order as Node
 * does (sharp, like the reference's PIL Image.open, does not apply the EXIF orientation). Chromium
 * rotates JPEG (APP1 "Exif" segment) and PNG (eXIf chunk) images by their EXIF orientation whatever
 * createImageBitmap's imageOrientation says. EXIF holds metadata only, so dropping it leaves the
 * pixels as they are. Other formats, files without EXIF and malformed files come back unchanged
 * (the decoder then reports what is wrong with them).
 */

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function withoutExif(b: Uint8Array): Uint8Array {
  if (b[0] === 0xff && b[1] === 0xd8) return cut(b, jpegExif(b));
  if (PNG_SIGNATURE.every((v, i) => b[i] === v)) return cut(b, pngExif(b));
  return b;
}

const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** [begin, end) of each APP1 Exif segment among the segments before the first scan. */
function jpegExif(b: Uint8Array): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const marker = b[p + 1];
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image
    const end = p + 2 + ((b[p + 2] << 8) | b[p + 3]);
    if (end > b.length) return [];
    if (marker === 0xe1 && ascii(b, p + 4, 6) === 'Exif\0\0') found.push([p, end]);
    p = end;
  }
  return found;
}

/** [begin, end) of each eXIf chunk (length, type, data, CRC). */
function pngExif(b: Uint8Array): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = PNG_SIGNATURE.length;
  while (p + 12 <= b.length) {
    const type = ascii(b, p + 4, 4);
    const end = p + 12 + view.getUint32(p);
    if (end > b.length) return [];
    if (type === 'eXIf') found.push([p, end]);
    if (type === 'IEND') break;
    p = end;
  }
  return found;
}

/** `b` without the given ranges (ascending, disjoint). */
function cut(b: Uint8Array, ranges: Array<[number, number]>): Uint8Array {
  if (!ranges.length) return b;
  const out = new Uint8Array(b.length - ranges.reduce((n, [s, e]) => n + e - s, 0));
  let from = 0;
  let at = 0;
  for (const [s, e] of [...ranges, [b.length, b.length] as [number, number]]) {
    out.set(b.subarray(from, s), at);
    at += s - from;
    from = e;
  }
  return out;
}
