/**
 * Bicubic resampling of 8-bit RGB images on the GPU, matching torch's CPU
 * `interpolate(x, size, mode='bicubic', align_corners=False, antialias=...)` (torch 1.13), the
 * operation behind torchvision's `Resize(..., interpolation=BICUBIC)` on tensors.
 *
 * The filter taps are computed here on the CPU, in the arithmetic torch uses (see cubicTaps and
 * cubicAaTaps), and applied by shaders/resize.wgsl in two separable passes, horizontal first as
 * torch does. An axis whose size does not change is not resampled at all, so an image that
 * already has the target size comes out bit-exact.
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { checkRgbImage, type RgbImage } from '../image/pixels.js';
import { Tensor } from '../tensor.js';
import { grid1d } from './grid.js';

const WG = 256;

/** How a source byte b becomes a value: b / 255 (ToTensor, float resize), or b (uint8 tensor resize). */
export type ResizeInput = 'unit' | 'byte';
/** What is stored: 2v - 1 (the DNF input range), or round(clamp(v, 0, 255)) / 255 (uint8 resize, then ToTensor). */
export type ResizeOutput = 'signed' | 'rounded-unit';

export interface ResizeOptions {
  size: number;
  antialias: boolean;
  input: ResizeInput;
  output: ResizeOutput;
  /** Largest slab of source bytes uploaded per dispatch (default: min(maxBinding, 64 MiB)). */
  slabBytes?: number;
  /** Largest horizontally resampled intermediate per run of output rows (default: min(maxBinding, 64 MiB)). */
  intermediateBytes?: number;
}

/** Per output position, `taps` (source index, weight) pairs; unused pairs are (0, 0). */
export interface Taps {
  taps: number;
  index: Int32Array;
  weight: Float32Array;
}

const f32 = Math.fround;

function tapsFrom(rows: Array<Array<[number, number]>>): Taps {
  const taps = Math.max(...rows.map((r) => r.length));
  const index = new Int32Array(rows.length * taps);
  const weight = new Float32Array(rows.length * taps);
  rows.forEach((r, o) => r.forEach(([i, w], k) => ((index[o * taps + k] = i), (weight[o * taps + k] = w))));
  return { taps, index, weight };
}

/** Keys' cubic convolution kernel with parameter a, in float64, for |x| <= 2. */
function keys(x: number, a: number): number {
  x = Math.abs(x);
  return x < 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a : 0;
}

/**
 * torch's `upsample_bicubic2d` (align_corners=False): a = -0.75, 4 taps at floor(s) - 1 .. + 2,
 * clamped to the border, s = scale * (o + 0.5) - 0.5 with an f32 scale = in / out. Fitting torch
 * 1.13's impulse responses showed s is kept in double (the fraction is not rounded to f32); the
 * coefficients are evaluated in double here (torch's f32 evaluation differs by <= ~5e-7).
 */
export function cubicTaps(inSize: number, outSize: number): Taps {
  const scale = f32(inSize / outSize);
  const rows: Array<Array<[number, number]>> = [];
  for (let o = 0; o < outSize; o++) {
    const s = scale * (o + 0.5) - 0.5;
    const i0 = Math.floor(s);
    const t = s - i0;
    rows.push([-1, 0, 1, 2].map((d) => [Math.min(Math.max(i0 + d, 0), inSize - 1), f32(keys(t - d, -0.75))]));
  }
  return tapsFrom(rows);
}

/** torch's antialiasing bicubic filter (a = -0.5, as PIL) evaluated in f32, step by step as torch does. */
function aaFilter(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return f32(f32(f32(f32(f32((a + 2) * x) - (a + 3)) * x) * x) + 1);
  if (x < 2) return f32(f32(f32(f32(f32(f32(a * x) - 5 * a) * x) + 8 * a) * x) - 4 * a);
  return 0;
}

/**
 * torch's `_upsample_bicubic2d_aa` weights (HelperInterpCubic::aa_filter and _compute_weights_aa,
 * scalar_t = float): support 2 * max(scale, 1) around center = scale * (o + 0.5), the filter
 * stretched by the scale when downsampling, weights normalised to sum 1; f32 throughout, with
 * the mixed double steps of the C++ (the `+ 0.5` literals) kept.
 */
export function cubicAaTaps(inSize: number, outSize: number): Taps {
  const scale = f32(inSize / outSize);
  const support = scale >= 1 ? f32(2 * scale) : 2;
  const invscale = scale >= 1 ? f32(1 / scale) : 1;
  const rows: Array<Array<[number, number]>> = [];
  for (let o = 0; o < outSize; o++) {
    const center = f32(scale * (o + 0.5));
    const lo = Math.max(Math.trunc(f32(center - support) + 0.5), 0);
    const hi = Math.min(Math.trunc(f32(center + support) + 0.5), inSize);
    const ws: number[] = [];
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = aaFilter(f32((f32(j - center) + 0.5) * invscale));
      ws.push(w);
      total = f32(total + w);
    }
    rows.push(ws.map((w, k) => [lo + k, total !== 0 ? f32(w / total) : w]));
  }
  return tapsFrom(rows);
}

function identityTaps(n: number): Taps {
  return { taps: 1, index: Int32Array.from({ length: n }, (_, i) => i), weight: new Float32Array(n).fill(1) };
}

function tapsFor(inSize: number, outSize: number, antialias: boolean): Taps {
  if (inSize === outSize) return identityTaps(inSize);
  return antialias ? cubicAaTaps(inSize, outSize) : cubicTaps(inSize, outSize);
}

function uploadTaps(gpu: Gpu, t: Taps, label: string): GPUBuffer {
  const table = new Uint32Array(t.index.length * 2);
  const bits = new Uint32Array(t.weight.buffer, t.weight.byteOffset, t.weight.length);
  for (let i = 0; i < t.index.length; i++) {
    table[2 * i] = t.index[i];
    table[2 * i + 1] = bits[i];
  }
  return gpu.upload(table, label);
}

const OUT_MODE: Record<ResizeOutput, number> = { signed: 1, 'rounded-unit': 2 };

interface Pass {
  entry: 'rows_u8' | 'cols';
  src: GPUBuffer;
  taps: Taps;
  dst: GPUBuffer;
  params: Record<string, number>;
  count: number;
}

function run(gpu: Gpu, p: Pass): void {
  const table = uploadTaps(gpu, p.taps, `resize.${p.entry}.taps`);
  const g = grid1d(p.count, WG, gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    shader: 'resize',
    entry: p.entry,
    params: { ...p.params, count: p.count, row: g.row, taps: p.taps.taps },
    buffers: [p.src, table, p.dst],
    workgroups: g.workgroups,
  });
  gpu.pool.release(table);
}

/** A run of output rows and the source rows [lo, hi) their taps read. */
interface RowChunk {
  o0: number;
  o1: number;
  lo: number;
  hi: number;
}

/** The source rows output row o reads (pairs of weight 0 are padding and read nothing). */
function rowSpan(t: Taps, o: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < t.taps; k++) {
    if (t.weight[o * t.taps + k] === 0) continue;
    const i = t.index[o * t.taps + k];
    lo = Math.min(lo, i);
    hi = Math.max(hi, i + 1);
  }
  return lo <= hi ? [lo, hi] : [t.index[o * t.taps], t.index[o * t.taps] + 1];
}

/**
 * Output rows in runs whose source rows fit `maxSpan` rows of the intermediate. The spans of
 * successive output rows move forward (both filters are monotone), so a greedy split is tight.
 */
export function rowChunks(t: Taps, outRows: number, maxSpan: number): RowChunk[] | null {
  const chunks: RowChunk[] = [];
  let cur: RowChunk | null = null;
  for (let o = 0; o < outRows; o++) {
    const [lo, hi] = rowSpan(t, o);
    if (hi - lo > maxSpan) return null;
    if (cur && Math.max(cur.hi, hi) - Math.min(cur.lo, lo) <= maxSpan) {
      cur.o1 = o + 1;
      cur.lo = Math.min(cur.lo, lo);
      cur.hi = Math.max(cur.hi, hi);
    } else {
      cur = { o0: o, o1: o + 1, lo, hi };
      chunks.push(cur);
    }
  }
  return chunks;
}

/** The taps of output rows [o0, o1), with source indices counted from `lo` (padding stays in range). */
function subTaps(t: Taps, o0: number, o1: number, lo: number, span: number): Taps {
  const index = new Int32Array((o1 - o0) * t.taps);
  for (let i = 0; i < index.length; i++) index[i] = Math.min(Math.max(t.index[o0 * t.taps + i] - lo, 0), span - 1);
  return { taps: t.taps, index, weight: t.weight.slice(o0 * t.taps, o1 * t.taps) };
}

/** A taps table must fit one binding: extreme aspect ratios with antialiasing need one that does not. */
function checkTaps(gpu: Gpu, t: Taps, what: string, w: number, h: number): void {
  const bytes = t.index.length * 8;
  if (bytes > Math.min(gpu.maxBinding, 256 << 20)) {
    throw new DnfError(`a ${w}x${h} image is too far from square to resize (its ${what} filter needs ${bytes} bytes of taps); crop or pad it closer to square first`, 1);
  }
}

/**
 * Records the resize of `img` to size x size into image `n` of `out` ([N, 3, size, size]). The
 * source bytes go up in slabs of rows, and when the height changes the horizontally resampled
 * intermediate is made in runs of output rows, each for the source rows its taps read: memory
 * stays bounded for any decodable image, and every output is computed with the same taps in the
 * same order as in one piece, so the result does not depend on the split. A DnfError (exit 1) is
 * thrown only for aspect ratios so extreme that one output row's filter does not fit the GPU.
 */
export function resizeRgbInto(gpu: Gpu, img: RgbImage, out: Tensor, n: number, opts: ResizeOptions): void {
  const { width: w, height: h } = img;
  const s = opts.size;
  const [N, C, H, W] = out.shape;
  if (out.shape.length !== 4 || C !== 3 || H !== s || W !== s || !(n >= 0 && n < N)) {
    throw new Error(`resize: output [${out.shape}] cannot hold image ${n} at ${s}x${s}`);
  }
  checkRgbImage(img, `resize: image ${n}`);
  const slabBytes = opts.slabBytes ?? Math.min(gpu.maxBinding, 64 << 20);
  if (w * 3 > slabBytes) throw new DnfError(`a ${w}x${h} image has rows too long for this GPU (${w * 3} bytes, more than ${slabBytes}); crop it narrower first`, 1);
  const outMode = OUT_MODE[opts.output];
  const image = n * 3 * s * s;
  const xTaps = tapsFor(w, s, opts.antialias);
  checkTaps(gpu, xTaps, 'horizontal', w, h);
  const slabRows = Math.floor(slabBytes / (w * 3));

  /** The horizontal pass of source rows [lo, hi), slab by slab, into lines [0, hi - lo) of dst. */
  const horizontal = (lo: number, hi: number, dst: GPUBuffer, dstLines: number, dstOffset: number, mode: number) => {
    for (let r0 = lo; r0 < hi; r0 += slabRows) {
      const lines = Math.min(slabRows, hi - r0);
      const src = gpu.upload(img.data.subarray(r0 * w * 3, (r0 + lines) * w * 3), 'resize.src');
      run(gpu, {
        entry: 'rows_u8', src, taps: xTaps, dst, count: 3 * lines * s,
        params: {
          len: s, lines, src_len: w, dst_lines: dstLines, dst_line0: r0 - lo, dst_offset: dstOffset,
          in_mode: opts.input === 'byte' ? 1 : 0, out_mode: mode,
        },
      });
      gpu.pool.release(src);
    }
  };
  if (h === s) { // the height stays: straight into `out`
    horizontal(0, h, out.buffer, s, image, outMode);
    return;
  }
  const yTaps = tapsFor(h, s, opts.antialias);
  checkTaps(gpu, yTaps, 'vertical', w, h);
  const tempBytes = opts.intermediateBytes ?? Math.min(gpu.maxBinding, 64 << 20);
  const chunks = rowChunks(yTaps, s, Math.floor(tempBytes / (3 * s * 4)));
  if (!chunks) throw new DnfError(`a ${w}x${h} image is too far from square to resize on this GPU (one output row reads more rows than ${tempBytes} bytes hold); crop or pad it closer to square first`, 1);
  for (const { o0, o1, lo, hi } of chunks) {
    const span = hi - lo;
    const temp = Tensor.empty(gpu, [3, span, s], 'resize.rows');
    horizontal(lo, hi, temp.buffer, span, 0, 0);
    run(gpu, {
      entry: 'cols', src: temp.buffer, taps: subTaps(yTaps, o0, o1, lo, span), dst: out.buffer, count: 3 * (o1 - o0) * s,
      params: { len: s, lines: o1 - o0, src_len: span, dst_lines: s, dst_line0: o0, dst_offset: image, in_mode: 0, out_mode: outMode },
    });
    temp.dispose();
  }
}
