/**
 * JPEG compression as a pixel operation (browser-safe, pure TypeScript): the pixels that
 * `Image.open(io)` gives after PIL 9.4's `img.save(io, 'JPEG', quality=Q)` (default options:
 * baseline, IJG tables at quality Q, 4:2:0 chroma, islow DCT, no optimisation), computed without
 * writing the bitstream. Entropy coding is lossless, so encode-then-decode is exactly
 *   colour convert -> downsample -> forward DCT -> quantise -> dequantise -> inverse DCT
 *   -> fancy upsample -> colour convert back,
 * and each step here is libjpeg-turbo's integer arithmetic, line for line (libjpeg-turbo 2.1:
 * jccolor.c rgb_ycc_convert, jcsample.c h2v2_downsample with its 1,2,1,2 rounding bias and
 * edge replication, jcprepct.c bottom padding, jfdctint.c jpeg_fdct_islow, jcdctmgr.c's
 * reciprocal quantiser, jidctint.c jpeg_idct_islow with its range-limit table, jdsample.c
 * h2v2_fancy_upsample with jdmainct.c's duplicated edge rows, jdcolor.c ycc_rgb_convert).
 * libjpeg-turbo's SIMD paths for these (used by PIL's build) are bit-exact with that C code.
 * test/perturb-goldens.test.ts compares against PIL on fixtures of several sizes and qualities.
 */
import { ijgTables } from './jpeg-tables.js';
import { checkRgbImage, type RgbImage } from './pixels.js';

const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/** libjpeg's DESCALE: x / 2^n rounded half up (arithmetic shift). */
const descale = (x: number, n: number) => {
  const v = x + (1 << (n - 1));
  return v >= -0x80000000 && v <= 0x7fffffff ? v >> n : Math.floor(v / 2 ** n); // JLONG (64-bit) in libjpeg: past int32, divide
};

/** One 1-D pass of jpeg_fdct_islow over d[o], d[o + s], ..., d[o + 7s]; `rows`: the first (row) pass. */
function fdct1d(d: Int32Array, o: number, s: number, rows: boolean): void {
  const i0 = o, i1 = o + s, i2 = o + 2 * s, i3 = o + 3 * s, i4 = o + 4 * s, i5 = o + 5 * s, i6 = o + 6 * s, i7 = o + 7 * s;
  const oddBits = rows ? CONST_BITS - PASS1_BITS : CONST_BITS + PASS1_BITS;
  const tmp0 = d[i0] + d[i7], tmp7 = d[i0] - d[i7];
  const tmp1 = d[i1] + d[i6], tmp6 = d[i1] - d[i6];
  const tmp2 = d[i2] + d[i5], tmp5 = d[i2] - d[i5];
  const tmp3 = d[i3] + d[i4], tmp4 = d[i3] - d[i4];
  const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3;
  const tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  if (rows) {
    d[i0] = (tmp10 + tmp11) << PASS1_BITS;
    d[i4] = (tmp10 - tmp11) << PASS1_BITS;
  } else {
    d[i0] = descale(tmp10 + tmp11, PASS1_BITS);
    d[i4] = descale(tmp10 - tmp11, PASS1_BITS);
  }
  let z1 = (tmp12 + tmp13) * FIX_0_541196100;
  d[i2] = descale(z1 + tmp13 * FIX_0_765366865, oddBits);
  d[i6] = descale(z1 - tmp12 * FIX_1_847759065, oddBits);
  z1 = tmp4 + tmp7;
  let z2 = tmp5 + tmp6, z3 = tmp4 + tmp6, z4 = tmp5 + tmp7;
  const z5 = (z3 + z4) * FIX_1_175875602;
  const t4 = tmp4 * FIX_0_298631336, t5 = tmp5 * FIX_2_053119869;
  const t6 = tmp6 * FIX_3_072711026, t7 = tmp7 * FIX_1_501321110;
  z1 *= -FIX_0_899976223;
  z2 *= -FIX_2_562915447;
  z3 = z3 * -FIX_1_961570560 + z5;
  z4 = z4 * -FIX_0_390180644 + z5;
  d[i7] = descale(t4 + z1 + z3, oddBits);
  d[i5] = descale(t5 + z2 + z4, oddBits);
  d[i3] = descale(t6 + z2 + z3, oddBits);
  d[i1] = descale(t7 + z1 + z4, oddBits);
}

/** jpeg_fdct_islow on 64 level-shifted samples, in place (rows, then columns); outputs are 8x the true DCT. */
function fdctIslow(d: Int32Array): void {
  for (let r = 0; r < 8; r++) fdct1d(d, r * 8, 1, true);
  for (let c = 0; c < 8; c++) fdct1d(d, c, 8, false);
}

/** jcdctmgr.c compute_reciprocal for divisor q << 3: [reciprocal, correction, shift]. */
function reciprocal(divisor: number): [number, number, number] {
  const b = 31 - Math.clz32(divisor);
  let r = 16 + b;
  let fq = Math.floor(2 ** r / divisor);
  const fr = 2 ** r % divisor;
  let c = divisor >> 1;
  if (fr === 0) {
    fq = Math.floor(fq / 2);
    r--;
  } else if (fr <= divisor >> 1) c++;
  else fq++;
  return [fq, c, r];
}

/** Quantised then dequantised coefficients, in place: libjpeg-turbo's quantize(), then coef * q. */
function quantizeDequantize(d: Int32Array, q: readonly number[], recips: Array<[number, number, number]>): void {
  for (let i = 0; i < 64; i++) {
    const r = recips[i];
    const v = d[i];
    const mag = Math.floor(((v < 0 ? -v : v) + r[1]) * r[0] / 2 ** r[2]);
    d[i] = (v < 0 ? -mag : mag) * q[i];
  }
}

/**
 * jdmaster.c's sample_range_limit as the IDCT indexes it (idctLimit[x & 1023] for a pre-centring
 * value x): -128..127 -> 0..255; up to 383 -> 255; 384..895 (wrapped) -> 0; 896..1023 -> 0..127.
 */
const IDCT_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let x = 0; x < 1024; x++) t[x] = x < 128 ? x + 128 : x < 384 ? 255 : x < 896 ? 0 : x - 896;
  return t;
})();

/** Outputs of idct1d, descaled, in sample order. */
const idctOut = new Int32Array(8);

/** One 1-D pass of jpeg_idct_islow over src[o], src[o + s], ..., src[o + 7s], descaled by `shift`, into idctOut. */
function idct1d(src: Int32Array, o: number, s: number, shift: number): void {
  let z2 = src[o + 2 * s], z3 = src[o + 6 * s];
  let z1 = (z2 + z3) * FIX_0_541196100;
  const tmp2e = z1 - z3 * FIX_1_847759065;
  const tmp3e = z1 + z2 * FIX_0_765366865;
  z2 = src[o];
  z3 = src[o + 4 * s];
  const tmp0e = (z2 + z3) * (1 << CONST_BITS);
  const tmp1e = (z2 - z3) * (1 << CONST_BITS);
  const tmp10 = tmp0e + tmp3e, tmp13 = tmp0e - tmp3e;
  const tmp11 = tmp1e + tmp2e, tmp12 = tmp1e - tmp2e;
  let tmp0 = src[o + 7 * s], tmp1 = src[o + 5 * s], tmp2 = src[o + 3 * s], tmp3 = src[o + s];
  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  let z4 = tmp1 + tmp3;
  const z5 = (z3 + z4) * FIX_1_175875602;
  tmp0 *= FIX_0_298631336;
  tmp1 *= FIX_2_053119869;
  tmp2 *= FIX_3_072711026;
  tmp3 *= FIX_1_501321110;
  z1 *= -FIX_0_899976223;
  z2 *= -FIX_2_562915447;
  z3 = z3 * -FIX_1_961570560 + z5;
  z4 = z4 * -FIX_0_390180644 + z5;
  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;
  idctOut[0] = descale(tmp10 + tmp3, shift);
  idctOut[7] = descale(tmp10 - tmp3, shift);
  idctOut[1] = descale(tmp11 + tmp2, shift);
  idctOut[6] = descale(tmp11 - tmp2, shift);
  idctOut[2] = descale(tmp12 + tmp1, shift);
  idctOut[5] = descale(tmp12 - tmp1, shift);
  idctOut[3] = descale(tmp13 + tmp0, shift);
  idctOut[4] = descale(tmp13 - tmp0, shift);
}

/** jpeg_idct_islow: 64 dequantised coefficients to samples, written to out[outAt + y * stride + x]. */
function idctIslow(coef: Int32Array, ws: Int32Array, out: Uint8Array, outAt: number, stride: number): void {
  for (let c = 0; c < 8; c++) { // columns of the coefficients into the workspace
    idct1d(coef, c, 8, CONST_BITS - PASS1_BITS);
    for (let k = 0; k < 8; k++) ws[k * 8 + c] = idctOut[k];
  }
  for (let r = 0; r < 8; r++) { // rows of the workspace to samples, through the range limit
    idct1d(ws, r * 8, 1, CONST_BITS + PASS1_BITS + 3);
    const o = outAt + r * stride;
    for (let k = 0; k < 8; k++) out[o + k] = IDCT_LIMIT[idctOut[k] & 1023];
  }
}

/** A sample plane, padded to whole blocks. */
interface Plane {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Every 8x8 block of `p` through DCT, quantiser and inverse DCT, in place. */
function compressPlane(p: Plane, q: readonly number[]): void {
  const recips = q.map((v) => reciprocal(v << 3));
  const block = new Int32Array(64);
  const ws = new Int32Array(64);
  for (let by = 0; by < p.height; by += 8) {
    for (let bx = 0; bx < p.width; bx += 8) {
      const at = by * p.width + bx;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = p.data[at + y * p.width + x] - 128;
      fdctIslow(block);
      quantizeDequantize(block, q, recips);
      idctIslow(block, ws, p.data, at, p.width);
    }
  }
}

const ceilDiv = (a: number, b: number) => Math.floor((a + b - 1) / b);
const FIX16 = (x: number) => Math.floor(x * 65536 + 0.5);

/** The pixels of `img` after JPEG compression at `quality` (1..100), as PIL saves and reads it back. */
export function jpegRoundTrip(img: RgbImage, quality: number): RgbImage {
  checkRgbImage(img, 'jpegRoundTrip');
  const { width: w, height: h, data: rgb } = img;
  const tables = ijgTables(quality);

  // Colour conversion (jccolor.c), full size; Cb and Cr padded for the downsampler: right edge to
  // 16 * ceil(w / 16) columns, bottom to an even number of rows, by repeating the last pixel.
  const lw = 8 * ceilDiv(w, 8), lh = 8 * ceilDiv(h, 8); // luma blocks
  const cw = 8 * ceilDiv(w, 16), ch = 8 * ceilDiv(h, 16); // chroma blocks
  const fw = 2 * cw, fh = 2 * ceilDiv(h, 2);
  const y = { width: lw, height: lh, data: new Uint8Array(lw * lh) };
  const cbFull = new Uint8Array(fw * fh), crFull = new Uint8Array(fw * fh);
  const [rY, gY, bY] = [FIX16(0.299), FIX16(0.587), FIX16(0.114)];
  const [rCb, gCb, half] = [FIX16(0.16874), FIX16(0.33126), FIX16(0.5)];
  const [gCr, bCr] = [FIX16(0.41869), FIX16(0.08131)];
  const offset = (128 << 16) + (1 << 15) - 1;
  for (let yy = 0; yy < Math.max(lh, fh); yy++) {
    const sy = Math.min(yy, h - 1);
    for (let xx = 0; xx < Math.max(lw, fw); xx++) {
      const s = 3 * (sy * w + Math.min(xx, w - 1));
      const r = rgb[s], g = rgb[s + 1], b = rgb[s + 2];
      if (yy < lh && xx < lw) y.data[yy * lw + xx] = (rY * r + gY * g + bY * b + (1 << 15)) >> 16;
      if (yy < fh && xx < fw) {
        cbFull[yy * fw + xx] = (-rCb * r - gCb * g + half * b + offset) >> 16;
        crFull[yy * fw + xx] = (half * r - gCr * g - bCr * b + offset) >> 16;
      }
    }
  }

  // h2v2_downsample: 2x2 means with the alternating bias 1, 2; rows below ceil(h / 2) repeat the last.
  const chromaRows = ceilDiv(h, 2);
  const down = (full: Uint8Array): Plane => {
    const out = new Uint8Array(cw * ch);
    for (let oy = 0; oy < ch; oy++) {
      const iy = 2 * Math.min(oy, chromaRows - 1);
      for (let ox = 0; ox < cw; ox++) {
        const i0 = iy * fw + 2 * ox, i1 = i0 + fw;
        out[oy * cw + ox] = (full[i0] + full[i0 + 1] + full[i1] + full[i1 + 1] + (ox & 1 ? 2 : 1)) >> 2;
      }
    }
    return { width: cw, height: ch, data: out };
  };
  const cb = down(cbFull), cr = down(crFull);

  compressPlane(y, tables.luma);
  compressPlane(cb, tables.chroma);
  compressPlane(cr, tables.chroma);

  const cbUp = fancyUpsample(cb, ceilDiv(w, 2), chromaRows);
  const crUp = fancyUpsample(cr, ceilDiv(w, 2), chromaRows);
  return { width: w, height: h, data: yccToRgb(y, cbUp, crUp, w, h) };
}

/**
 * jdsample.c h2v2_fancy_upsample over the first `cols` x `rows` samples of `p` (the rest is
 * padding): a triangle filter, 3/4 nearer + 1/4 farther in each direction, with jdmainct.c's edge
 * rows (the first row above the top, the last real row below the bottom). Output 2 cols x 2 rows.
 * Planes of 1 or 2 columns are upsampled by repetition instead, as libjpeg-turbo chooses.
 */
function fancyUpsample(p: Plane, cols: number, rows: number): Plane {
  const ow = 2 * cols, oh = 2 * rows;
  const out = new Uint8Array(ow * oh);
  const src = p.data, pw = p.width;
  if (cols <= 2) {
    // jinit_upsampler: no fancy upsampling unless downsampled_width > 2; h2v2_upsample repeats each sample 2x2.
    for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) out[y * ow + x] = src[(y >> 1) * pw + (x >> 1)];
    return { width: ow, height: oh, data: out };
  }
  for (let iy = 0; iy < rows; iy++) {
    for (let v = 0; v < 2; v++) {
      const r0 = iy * pw;
      const r1 = Math.min(Math.max(iy + (v === 0 ? -1 : 1), 0), rows - 1) * pw;
      const o = (2 * iy + v) * ow;
      const sum = (x: number) => src[r0 + x] * 3 + src[r1 + x];
      let thiscol = sum(0);
      let nextcol = sum(1);
      out[o] = (thiscol * 4 + 8) >> 4;
      out[o + 1] = (thiscol * 3 + nextcol + 7) >> 4;
      let lastcol = thiscol;
      thiscol = nextcol;
      for (let x = 2; x < cols; x++) {
        nextcol = sum(x);
        out[o + 2 * x - 2] = (thiscol * 3 + lastcol + 8) >> 4;
        out[o + 2 * x - 1] = (thiscol * 3 + nextcol + 7) >> 4;
        lastcol = thiscol;
        thiscol = nextcol;
      }
      out[o + 2 * cols - 2] = (thiscol * 3 + lastcol + 8) >> 4;
      out[o + 2 * cols - 1] = (thiscol * 4 + 7) >> 4;
    }
  }
  return { width: ow, height: oh, data: out };
}

/** jdcolor.c ycc_rgb_convert with its rounding tables, clamped to 0..255. */
function yccToRgb(y: Plane, cb: Plane, cr: Plane, w: number, h: number): Uint8Array {
  const crR = new Int32Array(256), cbB = new Int32Array(256), crG = new Int32Array(256), cbG = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    const x = i - 128;
    crR[i] = (FIX16(1.402) * x + (1 << 15)) >> 16;
    cbB[i] = (FIX16(1.772) * x + (1 << 15)) >> 16;
    crG[i] = -FIX16(0.71414) * x;
    cbG[i] = -FIX16(0.34414) * x + (1 << 15);
  }
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
  const out = new Uint8Array(w * h * 3);
  for (let yy = 0; yy < h; yy++) {
    for (let xx = 0; xx < w; xx++) {
      const l = y.data[yy * y.width + xx];
      const b = cb.data[yy * cb.width + xx], r = cr.data[yy * cr.width + xx];
      const o = 3 * (yy * w + xx);
      out[o] = clamp(l + crR[r]);
      out[o + 1] = clamp(l + ((cbG[b] + crG[r]) >> 16));
      out[o + 2] = clamp(l + cbB[b]);
    }
  }
  return out;
}
