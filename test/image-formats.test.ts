/**
 * The supported formats (src/image/formats.ts) and the decoders of our own for the formats a
 * library cannot give: BMP (src/image/bmp.ts, Node and page) and TIFF on the page
 * (src/image/tiff.ts). Against the reference's `PIL.Image.open(f).convert('RGB')` on the files of
 * tools/golden/bmp_tiff_files.py (exact bytes), and TIFF against Node's sharp decode (exact bytes),
 * so the page gives the CLI's pixels.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { decodeBmp } from '../src/image/bmp.js';
import { decodeImageFile, MAX_PIXELS } from '../src/image/decode-node.js';
import { formatNames, formatOf, IMAGE_EXTENSIONS, IMAGE_FORMATS, imageAccept } from '../src/image/formats.js';
import { decodeTiff } from '../src/image/tiff.js';
import { IMAGE_EXTENSIONS as BATCH_EXTENSIONS } from '../src/node/batch/inputs.js';
import { imageDimensions } from '../src/node/batch/memory.js';
import { dir, expectedIn } from './image-goldens.js';

const bmps = expectedIn('bmp');
const tiffs = expectedIn('tiff');
const bytesOf = (path: string) => new Uint8Array(readFileSync(path));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

function oneLineFailure(fn: () => unknown, path: string, reason: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, path).toBeInstanceOf(DnfError);
  const e = err as DnfError;
  expect(e.exitCode).toBe(1);
  expect(e.message.startsWith(`${path}: cannot decode image (`)).toBe(true);
  expect(e.message).toMatch(reason);
  expect(e.message).not.toContain('\n');
}

describe('BMP (src/image/bmp.ts) equals PIL convert("RGB")', () => {
  it.each(Object.keys(bmps))('%s: the pure decoder and Node\'s decodeImageFile', async (name) => {
    const e = bmps[name];
    const want = Buffer.from(e.rgb, 'base64');
    const pure = decodeBmp(name, bytesOf(dir('bmp') + name));
    expect([pure.width, pure.height]).toEqual([e.width, e.height]);
    expect(same(pure.data, want)).toBe(true);
    const node = await decodeImageFile(dir('bmp') + name);
    expect(same(node.data, want)).toBe(true);
  });

  it('covers the layouts: OS/2 and V3-V5 headers, 1/4/8/16/24/32 bits, bit fields, RLE4/8, top-down', () => {
    const names = Object.keys(bmps);
    for (const part of ['os2_', 'v3_', 'v4_', 'v5_', '_p1', '_p4', '_p8', '_16', '24', '_32', 'bitfields', '565', 'rle4', 'rle8', '_top']) {
      expect(names.some((n) => n.includes(part)), part).toBe(true);
    }
  });

  it('batch jobs read a BMP\'s size off its header for their memory budget (sharp cannot)', async () => {
    for (const [name, e] of Object.entries(bmps)) expect(await imageDimensions(dir('bmp') + name), name).toEqual({ width: e.width, height: e.height });
    expect(await imageDimensions(dir('bmp/bad') + 'huge.bmp')).toEqual({ width: 100000, height: 100000 });
  });

  it('the BMP that PIL wrote beside the PNG of the same pixels decodes to them', async () => {
    const png = await decodeImageFile(dir('pil') + 'rgb.png');
    expect(same((await decodeImageFile(dir('bad') + 'rgb.bmp')).data, png.data)).toBe(true);
  });

  it.each<[string, RegExp]>([
    ['truncated.bmp', /truncated data: \d+ bytes cannot hold a 13x7 BMP at 24 bits/],
    ['header-only.bmp', /truncated BMP header/],
    ['huge.bmp', new RegExp(`100000x100000 is more than the ${MAX_PIXELS}-pixel limit`)],
    ['odd-masks.bmp', /BMP bit masks f000,ff0,f at 16 bits are not supported/],
  ])('refuses %s (PIL does too) in one line', (name, reason) => {
    const path = dir('bmp/bad') + name;
    oneLineFailure(() => decodeBmp(path, bytesOf(path)), path, reason);
  });

  it('refuses RLE data that ends before the image is full', () => {
    const b = bytesOf(dir('bmp') + 'rle8.bmp');
    const offset = new DataView(b.buffer).getUint32(10, true);
    oneLineFailure(() => decodeBmp('cut.bmp', b.subarray(0, offset + 20)), 'cut.bmp', /truncated RLE data: \d+ of 91 pixels/);
  });
});

describe('TIFF on the page (src/image/tiff.ts) equals Node\'s sharp decode and PIL', () => {
  it.each(Object.keys(tiffs))('%s', async (name) => {
    const e = tiffs[name];
    const path = dir('tiff') + name;
    const page = decodeTiff(name, bytesOf(path));
    const node = await decodeImageFile(path);
    expect([page.width, page.height]).toEqual([node.width, node.height]);
    expect(same(page.data, node.data)).toBe(true);
    expect(same(node.data, Buffer.from(e.rgb, 'base64'))).toBe(true);
  });

  it('covers RGB, RGBA, gray, palette, 1-bit and CMYK, uncompressed, LZW (with predictor) and deflate', () => {
    const names = Object.keys(tiffs);
    for (const part of ['rgb_', 'rgba_', 'l_', 'p_', 'bit1', 'cmyk', '_none', '_lzw', '_deflate', 'predictor']) expect(names.some((n) => n.includes(part)), part).toBe(true);
    expect(new Set(Object.values(tiffs).map((e) => e.mode))).toEqual(new Set(['RGB', 'RGBA', 'L', 'P', '1', 'CMYK']));
  });

  it('the TIFFs of the Node decoder\'s fixtures (RGB, CMYK, 16-bit gray clamped) give Node\'s pixels', async () => {
    for (const name of ['rgb.tif', 'cmyk.tif', 'l16.tif']) {
      const path = dir('pil') + name;
      expect(same(decodeTiff(name, bytesOf(path)).data, (await decodeImageFile(path)).data), name).toBe(true);
    }
  });

  it('refuses truncated files and unsupported compression in one line', () => {
    const b = bytesOf(dir('tiff') + 'rgb_lzw.tif');
    oneLineFailure(() => decodeTiff('cut.tif', b.subarray(0, 40)), 'cut.tif', /corrupt, truncated or unsupported TIFF/);
    oneLineFailure(() => decodeTiff('x.tif', new TextEncoder().encode('not a tiff')), 'x.tif', /not a TIFF file/);
  });
});

describe('one list of formats', () => {
  it('batch commands pick up exactly the formats\' extensions', () => {
    expect([...BATCH_EXTENSIONS]).toEqual([...IMAGE_EXTENSIONS]);
    expect(IMAGE_EXTENSIONS).toEqual(['png', 'jpg', 'jpeg', 'webp', 'gif', 'tif', 'tiff', 'bmp', 'avif']);
    expect(formatNames()).toBe('PNG, JPEG, WebP, GIF, TIFF, BMP, AVIF');
  });

  it('the page\'s file picker accepts exactly these formats', () => {
    const html = readFileSync(fileURLToPath(new URL('../web/index.html', import.meta.url)), 'utf8');
    expect(html).toContain(`<input type="file" id="images" accept="${imageAccept()}" multiple />`);
  });

  it('each fixture\'s magic bytes name its format, and every format has a fixture that Node decodes', async () => {
    const seen = new Set<string>();
    for (const sub of ['pil', 'bmp', 'tiff']) {
      for (const name of readdirSync(dir(sub))) {
        const ext = name.split('.').pop()!.toLowerCase();
        const format = IMAGE_FORMATS.find((f) => f.extensions.includes(ext));
        if (!format) continue;
        expect(formatOf(bytesOf(dir(sub) + name))?.name, name).toBe(format.name);
        seen.add(format.name);
      }
    }
    expect([...seen].sort()).toEqual(['BMP', 'GIF', 'JPEG', 'PNG', 'TIFF', 'WebP']); // AVIF: no fixture (PIL 9.4 cannot read it)
  });
});
