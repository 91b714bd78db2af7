/**
 * Decoding with sharp against the reference's `PIL.Image.open(f).convert('RGB')` (Pillow 9.4,
 * tools/golden/image_files.py): exact byte equality for every format and mode (CMYK, 16-bit gray
 * with tRNS, GIF canvases and palettes included), plus the errors for files the reference cannot
 * read either, and the PNG writer's lossless round trip.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { decodeImageBytes, decodeImageFile, MAX_PIXELS } from '../src/image/decode-node.js';
import { decodeGif } from '../src/image/gif.js';
import { encodePng } from '../src/image/encode-node.js';
import { dir, expectedIn } from './image-goldens.js';

const expected = expectedIn('pil');
const names = Object.keys(expected);

describe('decodeImageFile matches PIL convert("RGB")', () => {
  it.each(names)('%s', async (name) => {
    const e = expected[name];
    const img = await decodeImageFile(dir('pil') + name);
    expect([img.width, img.height]).toEqual([e.width, e.height]);
    expect(Buffer.from(img.data).equals(Buffer.from(e.rgb, 'base64'))).toBe(true);
  });

  it('covers the modes (RGBA, LA, L, P, 1-bit, 16-bit, CMYK) and every readable format', () => {
    const modes = new Set(Object.values(expected).map((e) => e.mode));
    for (const m of ['RGB', 'RGBA', 'LA', 'L', 'P', '1', 'I', 'I;16', 'CMYK']) expect(modes).toContain(m);
    const exts = new Set(names.map((n) => n.split('.').pop()));
    for (const x of ['png', 'jpg', 'webp', 'gif', 'tif']) expect(exts).toContain(x);
  });

  it('keeps the colour of fully transparent RGBA pixels (alpha dropped, not composited)', async () => {
    const img = await decodeImageFile(dir('pil') + 'rgba.png');
    const { data } = await sharp(dir('pil') + 'rgba.png').raw().toBuffer({ resolveWithObject: true });
    expect(data[3]).toBe(0); // pixel (0, 0) is fully transparent in the fixture
    expect([...img.data.subarray(0, 3)]).toEqual([...data.subarray(0, 3)]);
  });

  it('GIF: the transparent index keeps its palette colour (sharp would give black)', async () => {
    const e = expected['p_trns.gif'];
    const { data } = await sharp(dir('pil') + 'p_trns.gif').raw().toBuffer({ resolveWithObject: true });
    const got = (await decodeImageFile(dir('pil') + 'p_trns.gif')).data;
    const want = Buffer.from(e.rgb, 'base64');
    let transparent = 0;
    for (let p = 0; p < e.width * e.height; p++) {
      if (data[4 * p + 3] !== 0) continue;
      transparent++;
      expect([...got.subarray(3 * p, 3 * p + 3)]).toEqual([...want.subarray(3 * p, 3 * p + 3)]);
    }
    expect(transparent).toBeGreaterThan(0);
  });

  it('decodes AVIF (which the reference cannot read)', async () => {
    const png = readFileSync(dir('pil') + 'rgb.png');
    const avif = await sharp(png).avif({ quality: 90 }).toBuffer();
    const img = await decodeImageBytes('x.avif', avif);
    expect([img.width, img.height, img.data.length]).toEqual([13, 7, 13 * 7 * 3]);
  });
});

describe('bad input', () => {
  const cases: Array<[string, RegExp]> = [
    ['empty.jpg', /empty file/],
    ['not-an-image.png', /unsupported or unrecognised format/],
    ['truncated.png', /corrupt or truncated/],
    ['truncated.jpg', /corrupt or truncated/],
    ['huge.png', new RegExp(`100000x100000 is more than the ${MAX_PIXELS}-pixel limit`)],
    ['zero-width.png', /corrupt or truncated|invalid size/],
  ];
  it.each(cases)('%s', async (name, reason) => {
    const path = dir('bad') + name;
    const err = await decodeImageFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnfError);
    const e = err as DnfError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toMatch(reason);
    expect(e.message.startsWith(`${path}: cannot decode image (`)).toBe(true);
    expect(e.message).not.toContain('\n');
  });

  it('missing files and directories', async () => {
    await expect(decodeImageFile(dir('bad') + 'nope.png')).rejects.toThrow(/nope\.png: cannot decode image \(no such file\)/);
    await expect(decodeImageFile(dir('bad'))).rejects.toThrow(/cannot decode image \(not a regular file\)/);
  });

  it('GIF data PIL cannot read either: truncated, an early end code, a bad code, a code size past 12, no image', () => {
    const gif = new Uint8Array(readFileSync(dir('pil') + 'p.gif'));
    // The first image descriptor and its LZW minimum code size, found the way the decoder finds them.
    let at = 13 + (gif[10] & 0x80 ? 3 << ((gif[10] & 7) + 1) : 0);
    while (gif[at] === 0x21) for (at += 2; gif[at]; at += 1 + gif[at]);
    expect(gif[at]).toBe(0x2c);
    const lzwAt = at + 10;
    const bad = (edit: (b: Uint8Array) => Uint8Array) => () => decodeGif('x.gif', edit(gif.slice()));
    expect(bad((b) => b.subarray(0, lzwAt + 6))).toThrow(/^x\.gif: cannot decode image \(corrupt or truncated data: the GIF ends before its last pixel\)$/);
    expect(bad((b) => b.subarray(0, at))).toThrow(/no image in the GIF/);
    expect(bad((b) => ((b[lzwAt] = 13), b))).toThrow(/invalid GIF code size 13/);
    // Sub-block of one byte holding the end code (clear + 1) first: the frame stays unfinished.
    const bits = gif[lzwAt];
    const endFirst = (b: Uint8Array) => Uint8Array.from([...b.subarray(0, lzwAt + 1), 2, ((1 << bits) + 1) & 255, ((1 << bits) + 1) >> 8, 0, 0x3b]);
    expect(bad(endFirst)).toThrow(/ends before its last pixel/);
    // A first code past the clear code is invalid (PIL: decoder error).
    const pastClear = (b: Uint8Array) => Uint8Array.from([...b.subarray(0, lzwAt + 1), 2, ((1 << bits) + 2) & 255, ((1 << bits) + 2) >> 8, 0, 0x3b]);
    expect(bad(pastClear)).toThrow(/invalid LZW code/);
  });

  it('a JPEG whose SOF declares far more pixels than its data can hold fails at once (found by test/fuzz/decode-jpeg)', async () => {
    for (const name of ['q420.jpg', 'cmyk.jpg']) {
      const jpeg = new Uint8Array(readFileSync(dir('pil') + name));
      let at = 2;
      while (jpeg[at + 1] !== 0xc0) at += 2 + ((jpeg[at + 2] << 8) | jpeg[at + 3]);
      jpeg.set([10922 >> 8, 10922 & 255, 16384 >> 8, 16384 & 255], at + 5); // 16384x10922: just under the pixel limit
      const t0 = performance.now();
      await expect(decodeImageBytes('big.jpg', jpeg)).rejects.toThrow(`big.jpg: cannot decode image (corrupt or truncated data: ${jpeg.length} bytes cannot hold a 16384x10922 JPEG)`);
      expect(performance.now() - t0).toBeLessThan(1000); // libjpeg would make up 179M pixels first (seconds)
    }
  });

  it('a PNG whose IHDR declares far more pixels than its data can hold fails at once (found by test/fuzz/decode-png)', async () => {
    const png = new Uint8Array(readFileSync(dir('pil') + 'rgba16.png'));
    const view = new DataView(png.buffer, png.byteOffset);
    view.setUint32(16, 67_108_866); // 67108866 x 2 at 16-bit RGBA: a 1 GiB row pair from a few hundred bytes
    view.setUint32(20, 2); // (the IHDR's CRC goes stale: the size is judged before decoding)
    const t0 = performance.now();
    await expect(decodeImageBytes('wide.png', png)).rejects.toThrow(`wide.png: cannot decode image (corrupt or truncated data: ${png.length} bytes cannot hold a 67108866x2 PNG)`);
    expect(performance.now() - t0).toBeLessThan(1000); // libpng took seconds on such rows
  });

  it('refuses SVG (vector input; the reference cannot read it)', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
    await expect(decodeImageBytes('a.svg', svg)).rejects.toThrow(/a\.svg: cannot decode image \(svg is not a supported raster format/);
  });
});

describe('encodePng', () => {
  it('round-trips exactly through decode', async () => {
    const width = 37;
    const height = 23;
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i + 1, 2654435761) >>> 24) & 0xff;
    const png = await encodePng({ width, height, data });
    expect([...png.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]); // 'PNG'
    const back = await decodeImageBytes('roundtrip.png', png);
    expect([back.width, back.height]).toEqual([width, height]);
    expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
    const meta = await sharp(png).metadata();
    expect([meta.channels, meta.depth, meta.isPalette]).toEqual([3, 'uchar', false]);
  });

  it('rejects a wrong byte count', async () => {
    await expect(encodePng({ width: 2, height: 2, data: new Uint8Array(11) })).rejects.toThrow(/needs 12 bytes/);
  });
});
