/**
 * Generators of hostile image files for the decoder fuzzers: structure-aware for PNG (chunk
 * streams built from valid small images, then mutated) and JPEG (marker segments of valid small
 * JPEGs, then mutated), byte mutations of seed files for GIF, TIFF and WebP, and the check that
 * a decoded result is a well-formed image.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { expect } from 'vitest';
import { decodeImageBytes, MAX_PIXELS } from '../../src/image/decode-node.js';
import type { RgbImage } from '../../src/image/pixels.js';
import { fuzzReader, fuzzRuns } from './harness.js';

const FIXTURES = new URL('../fixtures/images/pil/', import.meta.url);
export const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIXTURES)));

/** A decoded result must be an RgbImage of width * height * 3 bytes within the pixel limit. */
export function validImage(result: unknown): void {
  const img = result as RgbImage;
  expect(Number.isSafeInteger(img.width) && img.width > 0, `width ${img.width}`).toBe(true);
  expect(Number.isSafeInteger(img.height) && img.height > 0, `height ${img.height}`).toBe(true);
  expect(img.width * img.height).toBeLessThanOrEqual(MAX_PIXELS);
  expect(img.data).toBeInstanceOf(Uint8Array);
  expect(img.data.length).toBe(img.width * img.height * 3);
}

/** Sizes a header may declare: small ones, and the hostile ones (huge, one-sided, zero). */
export const declaredSize = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[number, number]>(
      [1, 200_000], [200_000, 1], [100_000, 100_000], [65_535, 65_535], [13_000, 13_000], [0, 5], [5, 0], [0, 0],
      [2 ** 31 - 1, 1], [1, 2 ** 31 - 1], [2 ** 32 - 1, 2 ** 32 - 1], [16_384, 10_922], [30_000, 1],
    ),
  },
);

// ---------------------------------------------------------------- byte mutations

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'word'; at: number; value: number; bytes: 2 | 4; le: boolean }
  | { op: 'insert'; at: number; data: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'copy'; from: number; to: number; length: number }
  | { op: 'truncate'; at: number };

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 16_384, 65_500];
/** Positions are fractions of the length, so one mutation fits any seed. */
const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('word' as const), at, value: fc.constantFrom(...INTERESTING), bytes: fc.constantFrom(2 as const, 4 as const), le: fc.boolean() }),
  fc.record({ op: fc.constant('insert' as const), at, data: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('copy' as const), from: at, to: at, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at }),
) as fc.Arbitrary<Mutation>;

export function mutate(seed: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = seed.slice();
  for (const m of mutations) {
    if (!b.length) break;
    const pos = (f: number) => Math.min(b.length - 1, Math.floor(f * b.length));
    switch (m.op) {
      case 'flip':
        b[pos(m.at)] ^= 1 << m.bit;
        break;
      case 'set':
        b[pos(m.at)] = m.value;
        break;
      case 'word': {
        const p = pos(m.at);
        for (let k = 0; k < m.bytes && p + k < b.length; k++) {
          const shift = 8 * (m.le ? k : m.bytes - 1 - k);
          b[p + k] = Math.floor(m.value / 2 ** shift) & 255;
        }
        break;
      }
      case 'insert': {
        const p = pos(m.at);
        b = Uint8Array.from([...b.subarray(0, p), ...m.data, ...b.subarray(p)]);
        break;
      }
      case 'delete': {
        const p = pos(m.at);
        b = Uint8Array.from([...b.subarray(0, p), ...b.subarray(p + m.length)]);
        break;
      }
      case 'copy': {
        const from = pos(m.from);
        const chunk = b.slice(from, from + m.length);
        b.set(chunk.subarray(0, Math.max(0, b.length - pos(m.to))), pos(m.to));
        break;
      }
      case 'truncate':
        b = b.slice(0, pos(m.at));
        break;
    }
  }
  return b;
}

/** Seeds mutated 1 to 8 times (sometimes not at all: the seeds must decode). */
export function mutatedSeeds(seeds: Uint8Array[], extra: fc.Arbitrary<Mutation>[] = []): fc.Arbitrary<Uint8Array> {
  const one = extra.length ? fc.oneof(mutation, ...extra) : mutation;
  return fc
    .tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.oneof({ weight: 1, arbitrary: fc.constant<never[]>([]) }, { weight: 9, arbitrary: fc.array(one, { minLength: 1, maxLength: 8 }) }))
    .map(([i, ms]) => mutate(seeds[i], ms));
}

// ---------------------------------------------------------------- PNG

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (const v of p) c = CRC_TABLE[(c ^ v) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32be = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};

interface Chunk {
  type: string;
  data: Uint8Array;
  /** Write a wrong CRC. */
  badCrc?: boolean;
  /** The CRC of the data as first built: kept through data mutations unless the plan fixes CRCs. */
  crc?: number;
  /** Declared length minus the real one. */
  lengthDelta?: number;
}

/** Valid (bit depth, colour type) pairs and the samples per pixel. */
const PNG_MODES: Array<[number, number, number]> = [
  [1, 0, 1], [2, 0, 1], [4, 0, 1], [8, 0, 1], [16, 0, 1],
  [8, 2, 3], [16, 2, 3],
  [1, 3, 1], [2, 3, 1], [4, 3, 1], [8, 3, 1],
  [8, 4, 2], [16, 4, 2],
  [8, 6, 4], [16, 6, 4],
];

const ADAM7: Array<[number, number, number, number]> = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** Bytes of the filtered scanlines (random samples, random filter bytes) of a w x h image. */
function scanlines(w: number, h: number, bitsPerPixel: number, interlaced: boolean, noise: Uint8Array): Uint8Array {
  const passes = interlaced ? ADAM7.map(([x0, y0, dx, dy]) => [Math.ceil((w - x0) / dx), Math.ceil((h - y0) / dy)]) : [[w, h]];
  const rows: Uint8Array[] = [];
  let k = 0;
  const next = () => noise[k++ % noise.length] ^ (k * 131);
  for (const [pw, ph] of passes) {
    if (pw <= 0 || ph <= 0) continue;
    const rowBytes = Math.ceil((pw * bitsPerPixel) / 8);
    for (let y = 0; y < ph; y++) {
      const row = new Uint8Array(1 + rowBytes);
      row[0] = next() % 5;
      for (let i = 1; i < row.length; i++) row[i] = next() & 255;
      rows.push(row);
    }
  }
  return concat(rows);
}

interface PngPlan {
  width: number;
  height: number;
  mode: [number, number, number];
  interlaced: boolean;
  noise: Uint8Array;
  palette: number;
  trns: boolean;
  extras: string[];
  idatSplit: number;
  declared: [number, number] | null;
  mutations: PngMutation[];
  crcFixed: boolean;
  tail: Mutation[];
}

type PngMutation =
  | { op: 'drop' | 'dup'; i: number }
  | { op: 'swap'; i: number; j: number }
  | { op: 'corrupt'; i: number; at: number; value: number }
  | { op: 'cut'; i: number; at: number }
  | { op: 'length'; i: number; delta: number }
  | { op: 'crc'; i: number }
  | { op: 'insert'; i: number; type: string; data: Uint8Array }
  | { op: 'zlib'; at: number };

const chunkIndex = fc.integer({ min: 0, max: 15 });
const pngMutation: fc.Arbitrary<PngMutation> = fc.oneof(
  ...listEdits(chunkIndex),
  fc.record({ op: fc.constant('length' as const), i: chunkIndex, delta: fc.constantFrom(-4, -1, 1, 7, 1 << 20, 0x7fffffff) }),
  fc.record({ op: fc.constant('crc' as const), i: chunkIndex }),
  fc.record({
    op: fc.constant('insert' as const), i: chunkIndex,
    type: fc.constantFrom('IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND', 'acTL', 'fcTL', 'fdAT', 'iCCP', 'zTXt', 'eXIf', 'sBIT', 'aBcD', 'IDAT'),
    data: fc.uint8Array({ maxLength: 40 }),
  }),
  fc.record({ op: fc.constant('zlib' as const), at }),
) as fc.Arbitrary<PngMutation>;

const pngPlan: fc.Arbitrary<PngPlan> = fc.record({
  width: fc.integer({ min: 1, max: 24 }),
  height: fc.integer({ min: 1, max: 24 }),
  mode: fc.constantFrom(...PNG_MODES),
  interlaced: fc.boolean(),
  noise: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  palette: fc.integer({ min: 1, max: 256 }),
  trns: fc.boolean(),
  extras: fc.subarray(['gAMA', 'sRGB', 'iCCP', 'tEXt', 'pHYs', 'eXIf']),
  idatSplit: fc.integer({ min: 1, max: 4 }),
  declared: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: declaredSize }),
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant<never[]>([]) }, { weight: 4, arbitrary: fc.array(pngMutation, { minLength: 1, maxLength: 5 }) }),
  crcFixed: fc.boolean(),
  tail: fc.oneof({ weight: 5, arbitrary: fc.constant<never[]>([]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
});

/** The mutations PNG chunks and JPEG segments share. */
type ListEdit =
  | { op: 'drop' | 'dup'; i: number }
  | { op: 'swap'; i: number; j: number }
  | { op: 'corrupt'; i: number; at: number; value: number }
  | { op: 'cut'; i: number; at: number };

/** Generators of the ListEdits of a list whose positions `index` draws. */
function listEdits(index: fc.Arbitrary<number>): fc.Arbitrary<ListEdit>[] {
  return [
    fc.record({ op: fc.constantFrom('drop' as const, 'dup' as const), i: index }),
    fc.record({ op: fc.constant('swap' as const), i: index, j: index }),
    fc.record({ op: fc.constant('corrupt' as const), i: index, at, value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('cut' as const), i: index, at }),
  ];
}

/** Applies `m` to `items` when it is a ListEdit (items whose data changes are replaced by copies); false for other mutations. */
function editList<T extends { data: Uint8Array }>(items: T[], m: { op: string }): boolean {
  const e = m as ListEdit;
  const i = 'i' in e ? e.i % items.length : 0;
  switch (e.op) {
    case 'drop':
      if (items.length > 1) items.splice(i, 1);
      return true;
    case 'dup':
      items.splice(i, 0, { ...items[i] });
      return true;
    case 'swap': {
      const j = e.j % items.length;
      [items[i], items[j]] = [items[j], items[i]];
      return true;
    }
    case 'corrupt':
      if (items[i].data.length) {
        const data = items[i].data.slice();
        data[Math.floor(e.at * data.length)] = e.value;
        items[i] = { ...items[i], data };
      }
      return true;
    case 'cut':
      items[i] = { ...items[i], data: items[i].data.slice(0, Math.floor(e.at * items[i].data.length)) };
      return true;
    default:
      return false;
  }
}

function buildPng(p: PngPlan): Uint8Array {
  const [depth, colour, samples] = p.mode;
  const ihdr = new Uint8Array(13);
  const [dw, dh] = p.declared ?? [p.width, p.height];
  ihdr.set(u32be(dw >>> 0), 0);
  ihdr.set(u32be(dh >>> 0), 4);
  ihdr.set([depth, colour, 0, 0, p.interlaced ? 1 : 0], 8);
  const chunks: Chunk[] = [{ type: 'IHDR', data: ihdr }];
  for (const e of p.extras) {
    const data = e === 'gAMA' ? u32be(45455) : e === 'sRGB' ? Uint8Array.of(0) : e === 'pHYs' ? concat([u32be(2835), u32be(2835), Uint8Array.of(1)])
      : e === 'iCCP' ? concat([ascii('icc\0\0'), deflateSync(p.noise)]) : e === 'eXIf' ? concat([ascii('MM\0*'), u32be(8), p.noise.subarray(0, 8)]) : ascii('Comment\0fuzz');
    chunks.push({ type: e, data });
  }
  if (colour === 3 || (colour === 2 && p.palette % 3 === 0)) {
    chunks.push({ type: 'PLTE', data: Uint8Array.from({ length: 3 * p.palette }, (_, i) => p.noise[i % p.noise.length] ^ i) });
  }
  if (p.trns) {
    const trns = colour === 0 ? Uint8Array.of(0, p.noise[0]) : colour === 2 ? Uint8Array.of(0, 1, 0, 2, 0, 3) : colour === 3 ? p.noise.subarray(0, Math.min(p.noise.length, p.palette)) : Uint8Array.of(0, 0);
    chunks.push({ type: 'tRNS', data: trns });
  }
  const z = deflateSync(scanlines(p.width, p.height, depth * samples, p.interlaced, p.noise));
  const part = Math.ceil(z.length / p.idatSplit);
  for (let o = 0; o < z.length; o += part) chunks.push({ type: 'IDAT', data: new Uint8Array(z.subarray(o, o + part)) });
  chunks.push({ type: 'IEND', data: new Uint8Array(0) });
  for (const c of chunks) c.crc = crc32([ascii(c.type), c.data]);

  for (const m of p.mutations) {
    const i = 'i' in m ? m.i % chunks.length : 0;
    const c = chunks[i];
    if (editList(chunks, m)) continue;
    switch (m.op) {
      case 'length':
        c.lengthDelta = m.delta;
        break;
      case 'crc':
        c.badCrc = true;
        break;
      case 'insert':
        chunks.splice(i, 0, { type: m.type, data: m.data });
        break;
      case 'zlib': {
        const idat = chunks.find((x) => x.type === 'IDAT');
        if (idat && idat.data.length) {
          idat.data = idat.data.slice();
          idat.data[Math.floor(m.at * idat.data.length)] ^= 0x5a;
        }
        break;
      }
    }
  }
  const parts: Uint8Array[] = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)];
  for (const c of chunks) {
    const type = ascii(c.type);
    const crc = p.crcFixed || c.crc === undefined ? crc32([type, c.data]) : c.crc;
    parts.push(u32be((c.data.length + (c.lengthDelta ?? 0)) >>> 0), type, c.data, u32be(c.badCrc ? (crc ^ 1) >>> 0 : crc));
  }
  return mutate(concat(parts), p.tail);
}

export const pngFiles: fc.Arbitrary<Uint8Array> = pngPlan.map(buildPng);

// ---------------------------------------------------------------- JPEG

interface Segment {
  marker: number;
  /** The segment's payload after the length field (or, for the scan, the entropy-coded data). */
  data: Uint8Array;
}

/** Marker segments of a JPEG up to and including SOS, then the scan data and the rest (a last "segment" with marker 0). */
export function jpegSegments(b: Uint8Array): Segment[] {
  const out: Segment[] = [];
  let i = 2;
  while (i + 4 <= b.length && b[i] === 0xff) {
    const marker = b[i + 1];
    const n = (b[i + 2] << 8) | b[i + 3];
    out.push({ marker, data: b.slice(i + 4, i + 2 + n) });
    i += 2 + n;
    if (marker === 0xda) break;
  }
  out.push({ marker: 0, data: b.slice(i) });
  return out;
}

function joinJpeg(segments: Segment[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(0xff, 0xd8)];
  for (const s of segments) {
    if (s.marker === 0) parts.push(s.data);
    else {
      const n = Math.min(0xffff, s.data.length + 2);
      parts.push(Uint8Array.of(0xff, s.marker, n >> 8, n & 255), s.data);
    }
  }
  return concat(parts);
}

type JpegMutation =
  | { op: 'drop' | 'dup'; i: number }
  | { op: 'swap'; i: number; j: number }
  | { op: 'corrupt'; i: number; at: number; value: number }
  | { op: 'cut'; i: number; at: number }
  | { op: 'sof'; size: [number, number] }
  | { op: 'components'; n: number; sampling: number }
  | { op: 'marker'; i: number; marker: number }
  | { op: 'scan'; at: number; data: Uint8Array };

const segIndex = fc.integer({ min: 0, max: 20 });
const jpegMutation: fc.Arbitrary<JpegMutation> = fc.oneof(
  ...listEdits(segIndex),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sof' as const), size: declaredSize.map(([w, h]) => [w & 0xffff, h & 0xffff] as [number, number]) }) },
  fc.record({ op: fc.constant('components' as const), n: fc.constantFrom(0, 1, 2, 3, 4, 5, 255), sampling: fc.constantFrom(0x11, 0x22, 0x21, 0x12, 0x44, 0x00, 0xff, 0x31) }),
  fc.record({ op: fc.constant('marker' as const), i: segIndex, marker: fc.constantFrom(0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc9, 0xcc, 0xd0, 0xd8, 0xd9, 0xda, 0xdb, 0xdd, 0xe0, 0xe1, 0xe2, 0xee, 0xfe, 0x01, 0xff) }),
  fc.record({ op: fc.constant('scan' as const), at, data: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
) as fc.Arbitrary<JpegMutation>;

function mutateJpeg(seed: Uint8Array, ms: JpegMutation[], tail: Mutation[]): Uint8Array {
  const segs = jpegSegments(seed);
  for (const m of ms) {
    const i = 'i' in m ? m.i % segs.length : 0;
    if (editList(segs, m)) continue;
    switch (m.op) {
      case 'sof': {
        const sof = segs.find((s) => s.marker >= 0xc0 && s.marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(s.marker));
        if (sof && sof.data.length >= 5) {
          sof.data = sof.data.slice();
          sof.data.set([m.size[1] >> 8, m.size[1] & 255, m.size[0] >> 8, m.size[0] & 255], 1);
        }
        break;
      }
      case 'components': {
        const sof = segs.find((s) => s.marker === 0xc0 || s.marker === 0xc2);
        if (sof && sof.data.length >= 6) {
          sof.data = sof.data.slice();
          sof.data[5] = m.n;
          for (let k = 7; k < sof.data.length; k += 3) sof.data[k] = m.sampling;
        }
        break;
      }
      case 'marker':
        if (segs[i].marker !== 0) segs[i] = { ...segs[i], marker: m.marker };
        break;
      case 'scan': {
        const scan = segs[segs.length - 1];
        const p = Math.floor(m.at * scan.data.length);
        scan.data = concat([scan.data.subarray(0, p), m.data, scan.data.subarray(p)]);
        break;
      }
    }
  }
  return mutate(joinJpeg(segs), tail);
}

/** Small valid JPEGs of several kinds (gray, 4:2:0, 4:4:4, progressive, restart markers, CMYK). */
export async function jpegSeeds(): Promise<Uint8Array[]> {
  const px = (w: number, h: number, c: 1 | 3) => sharp(Buffer.from(Array.from({ length: w * h * c }, (_, i) => (i * 37 + (i >> 5) * 11) & 255)), { raw: { width: w, height: h, channels: c } });
  const made = await Promise.all([
    px(5, 3, 3).jpeg({ quality: 80 }).toBuffer(),
    px(17, 9, 3).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(),
    px(16, 16, 3).jpeg({ quality: 70, progressive: true }).toBuffer(),
    px(9, 20, 1).jpeg({ quality: 85 }).toBuffer(),
    px(24, 8, 3).jpeg({ quality: 60, optimiseCoding: false }).toBuffer(),
  ]);
  return [...made.map((b) => new Uint8Array(b)), fixture('gray.jpg'), fixture('q420.jpg'), fixture('cmyk.jpg'), fixture('orient6.jpg')];
}

export function jpegFiles(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.oneof({ weight: 1, arbitrary: fc.constant<never[]>([]) }, { weight: 6, arbitrary: fc.array(jpegMutation, { minLength: 1, maxLength: 5 }) }),
      fc.oneof({ weight: 4, arbitrary: fc.constant<never[]>([]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }) }),
    )
    .map(([i, ms, tail]) => mutateJpeg(seeds[i], ms, tail));
}

// ---------------------------------------------------------------- GIF, TIFF, WebP seeds

export const gifSeeds = (): Uint8Array[] =>
  ['p.gif', 'p_trns.gif', 'anim.gif', 'interlaced_trns.gif', 'local_palette.gif', 'screen_trns.gif', 'short_palette.gif', 'l.gif'].map(fixture);

/** Sets the logical screen or the first frame's size of a GIF to a declared (possibly hostile) size. */
export function gifDims(b: Uint8Array, size: [number, number], frame: boolean): Uint8Array {
  const out = b.slice();
  let at = 6;
  if (frame) {
    at = 13 + (out.length > 10 && out[10] & 0x80 ? 3 << ((out[10] & 7) + 1) : 0);
    while (at < out.length && out[at] === 0x21) for (at += 2; at < out.length && out[at]; at += 1 + out[at]);
    if (at >= out.length || out[at] !== 0x2c) return out;
    at += 5;
  }
  if (at + 4 > out.length) return out;
  out.set([size[0] & 255, (size[0] >> 8) & 255, size[1] & 255, (size[1] >> 8) & 255], at);
  return out;
}

export async function tiffSeeds(): Promise<Uint8Array[]> {
  const rgb = sharp(Buffer.from(Array.from({ length: 9 * 7 * 3 }, (_, i) => (i * 53) & 255)), { raw: { width: 9, height: 7, channels: 3 } });
  const made = await Promise.all([
    rgb.clone().tiff({ compression: 'lzw', predictor: 'horizontal' }).toBuffer(),
    rgb.clone().tiff({ compression: 'deflate' }).toBuffer(),
    rgb.clone().tiff({ compression: 'packbits' }).toBuffer(),
    rgb.clone().tiff({ compression: 'jpeg', quality: 80 }).toBuffer(),
    rgb.clone().tiff({ tile: true, tileWidth: 16, tileHeight: 16 }).toBuffer(),
    rgb.clone().toColourspace('b-w').tiff({ bitdepth: 1 }).toBuffer(),
  ]);
  return [...made.map((b) => new Uint8Array(b)), fixture('rgb.tif'), fixture('cmyk.tif'), fixture('l16.tif')];
}

const BMP_FIXTURES = new URL('../fixtures/images/bmp/', import.meta.url);

/** The BMP goldens of tools/golden/bmp_tiff_files.py: every header, depth, bit-field and RLE layout. */
export const bmpSeeds = (): Uint8Array[] =>
  readdirSync(BMP_FIXTURES).filter((f) => f.endsWith('.bmp')).sort().map((f) => new Uint8Array(readFileSync(new URL(f, BMP_FIXTURES))));

/** Sets a BMP's declared width and height (16-bit for OS/2 v1 headers, else 32-bit, negative height: top-down). */
export function bmpDims(b: Uint8Array, [w, h]: [number, number], topDown: boolean): Uint8Array {
  const out = b.slice();
  if (out.length < 26) return out;
  const dv = new DataView(out.buffer);
  if (dv.getUint32(14, true) === 12) {
    dv.setUint16(18, w & 0xffff, true);
    dv.setUint16(20, h & 0xffff, true);
  } else {
    dv.setUint32(18, w >>> 0, true);
    dv.setUint32(22, (topDown ? -h : h) >>> 0, true);
  }
  return out;
}

/** The TIFF goldens of tools/golden/bmp_tiff_files.py (the page's decoder reads these layouts). */
export const tiffPageSeeds = (): Uint8Array[] => {
  const dir = new URL('../fixtures/images/tiff/', import.meta.url);
  return readdirSync(dir).filter((f) => f.endsWith('.tif')).sort().map((f) => new Uint8Array(readFileSync(new URL(f, dir))));
};

export async function webpSeeds(): Promise<Uint8Array[]> {
  const rgba = sharp(Buffer.from(Array.from({ length: 11 * 6 * 4 }, (_, i) => (i * 29 + (i >> 3)) & 255)), { raw: { width: 11, height: 6, channels: 4 } });
  const made = await Promise.all([
    rgba.clone().webp({ quality: 70 }).toBuffer(),
    rgba.clone().webp({ lossless: true }).toBuffer(),
    rgba.clone().webp({ nearLossless: true, quality: 60 }).toBuffer(),
    rgba.clone().removeAlpha().webp({ quality: 90 }).toBuffer(),
  ]);
  return [...made.map((b) => new Uint8Array(b)), fixture('lossy.webp'), fixture('lossless_rgba.webp')];
}

/**
 * The decoder's contract on files `arb` makes, named `fuzz.<ext>`: a valid image (validImage) or a
 * one-line DnfError naming the file, within `maxMs` and 64 MiB of heap per case.
 */
export function fuzzDecoder(
  reader: string,
  arb: fc.Arbitrary<Uint8Array>,
  ext: string,
  runs: number,
  maxMs: number,
  decode: (name: string, bytes: Uint8Array) => Promise<RgbImage> | RgbImage = decodeImageBytes,
) {
  const name = `fuzz.${ext}`;
  return fuzzReader(reader, arb, async (bytes) => decode(name, bytes), {
    runs: fuzzRuns(runs), fileName: name, maxMs, maxHeapBytes: 64 << 20, validate: validImage,
  });
}
