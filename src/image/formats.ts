/**
 * The image formats the engine reads: one list for the CLI (which files a folder search picks up,
 * the --help text), the page (its file picker's `accept`) and the decoders (which reader a file's
 * leading bytes go to: isGif, isBmp and isTiff are the checks the decoders dispatch on). Browser-safe.
 *
 * Each format names its reader on each platform:
 *   - 'sharp': Node's libvips through sharp (src/image/decode-node.ts);
 *   - 'browser': the browser's own decoder (createImageBitmap, src/image/decode-browser.ts);
 *   - a module of src/image/: a decoder of our own, the same code on both platforms, used where
 *     the libraries cannot give the pixels PIL gives (gif.ts), or cannot read the format (bmp.ts:
 *     sharp has no BMP reader; tiff.ts: browsers have no TIFF reader).
 * AVIF is read by sharp in Node and by browsers that have an AVIF decoder (Chromium, Firefox,
 * Safari 16+).
 */

export type Reader = 'sharp' | 'browser' | 'gif.ts' | 'bmp.ts' | 'tiff.ts';

export interface ImageFormat {
  name: string;
  /** File name extensions, lower case, without the dot; the first is the usual one. */
  extensions: readonly string[];
  mime: string;
  /** Whether `b` (the file's first bytes) starts like a file of this format. */
  magic(b: Uint8Array): boolean;
  node: Reader;
  browser: Reader;
}

const ascii = (b: Uint8Array, at: number, text: string): boolean =>
  b.length >= at + text.length && [...text].every((c, i) => b[at + i] === c.charCodeAt(0));

/** True for the six bytes every GIF starts with (PIL accepts these two versions only); gif.ts decodes it. */
export const isGif = (b: Uint8Array): boolean => ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a');
/** True for the two bytes every BMP starts with (PIL's check); bmp.ts decodes it. */
export const isBmp = (b: Uint8Array): boolean => ascii(b, 0, 'BM');
/** True for the four bytes every classic TIFF starts with; tiff.ts decodes it in browsers. */
export const isTiff = (b: Uint8Array): boolean => ascii(b, 0, 'II*\0') || ascii(b, 0, 'MM\0*');

export const IMAGE_FORMATS: readonly ImageFormat[] = [
  { name: 'PNG', extensions: ['png'], mime: 'image/png', magic: (b) => ascii(b, 0, '\x89PNG\r\n\x1a\n'), node: 'sharp', browser: 'browser' },
  { name: 'JPEG', extensions: ['jpg', 'jpeg'], mime: 'image/jpeg', magic: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff, node: 'sharp', browser: 'browser' },
  { name: 'WebP', extensions: ['webp'], mime: 'image/webp', magic: (b) => ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP'), node: 'sharp', browser: 'browser' },
  { name: 'GIF', extensions: ['gif'], mime: 'image/gif', magic: isGif, node: 'gif.ts', browser: 'gif.ts' },
  { name: 'TIFF', extensions: ['tif', 'tiff'], mime: 'image/tiff', magic: isTiff, node: 'sharp', browser: 'tiff.ts' },
  { name: 'BMP', extensions: ['bmp'], mime: 'image/bmp', magic: isBmp, node: 'bmp.ts', browser: 'bmp.ts' },
  { name: 'AVIF', extensions: ['avif'], mime: 'image/avif', magic: (b) => ascii(b, 4, 'ftyp') && (ascii(b, 8, 'avif') || ascii(b, 8, 'avis')), node: 'sharp', browser: 'browser' },
];

/** Every extension of every format, e.g. for a folder search. */
export const IMAGE_EXTENSIONS: readonly string[] = IMAGE_FORMATS.flatMap((f) => f.extensions);

/** The format whose magic bytes `b` starts with, if any. */
export function formatOf(b: Uint8Array): ImageFormat | undefined {
  return IMAGE_FORMATS.find((f) => f.magic(b));
}

/** 'PNG, JPEG, WebP, GIF, TIFF, BMP, AVIF' */
export function formatNames(): string {
  return IMAGE_FORMATS.map((f) => f.name).join(', ');
}

/** The file picker's `accept` attribute: every extension and MIME type. */
export function imageAccept(): string {
  return IMAGE_FORMATS.flatMap((f) => [...f.extensions.map((e) => `.${e}`), f.mime]).join(',');
}
