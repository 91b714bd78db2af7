// Winograd F(4x4, 3x3) transforms for the 3x3 stride-1 'same' convolution (Lavin & Gray 2016,
// interpolation points 0, +-1, +-2, infinity): out = A^T [ (G g G^T) . (B^T d B) ] A per 4x4
// output tile, where d is the tile's 6x6 input patch (rows and columns -1 .. 4 around it, zero
// outside the image) and g a 3x3 kernel. Multiplies per output: 36 / 16 = 2.25 per input channel
// and tap set, against 9 for the direct convolution. src/kernels/conv2d-winograd.ts records the
// three passes, the product over input channels in between being winograd_gemm.wgsl:
//   weights: Wt [blocks][Cin][3][3][16] (conv2d's layout) -> U [36][Cin][blocks][16], once per layer
//   input:   X [N, Cin, H, W] -> V [36][Cin][tpad], tiles t0 .. t0+tc-1 of the batch (a chunk);
//            optionally GroupNorm (+ swish) applied as it loads: x' = (x - mean) * scale + shift
//            from group_norm.wgsl's statistics, so the normalised activation is never written
//            (the padding stays zero: it pads the normalised map)
//   output:  M [36][co_pad][tpad] -> Y [N, Cout, H, W] plus bias, activation, residual as conv2d;
//            the residual may be per image and channel ([N, Cout], broadcast over the pixels:
//            the UNet's timestep projection)
// Position q = 6 * row + column of the transformed 6x6 tile. Tiles are numbered over the batch,
// image by image, tile row by tile row: t = (n * tiles_y + ty) * tiles_x + tx.
// weights6, input6 and output6 (at the end) are the same three passes for F(6x6, 3x3).
struct Params {
  cin: u32,          // input channels
  cout: u32,         // output channels
  h: u32,            // image height (input and output)
  w: u32,            // image width
  tiles_y: u32,      // ceil(h / 4)
  tiles_x: u32,      // ceil(w / 4)
  t0: u32,           // first tile of this chunk
  tc: u32,           // tiles in this chunk
  tpad: u32,         // tc rounded up to winograd_gemm's tiles per invocation: the row length of V and M
  co_pad: u32,       // cout rounded up to 16: channels per position of M
  has_bias: u32,     // 1: add bias (binding 2)
  has_residual: u32, // 1: add residual (binding 3) [N, Cout, H, W], 2: [N, Cout]; after swish, before relu
  act: u32,          // 0: none, 1: swish(conv + bias) + residual, 2: relu(conv + bias + residual)
  row: u32,          // lanes per grid row (workgroups along x * WG)
  norm: u32,         // input: 0 as is, 1 GroupNorm from stats (binding 5), 2 GroupNorm then swish
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<vec4<f32>>; // (mean, rstd * gamma, beta, 0) per plane n * Cin + ci
// S_TEXELS: an r32float mirror of src's binding (src/gpu/texels.ts), value i at texel (i % 4096, i / 4096).
@group(0) @binding(6) var St: texture_2d<f32>;
// input6x4's V, as vec4 (four tiles at one position and channel); the other entries write dst.
@group(0) @binding(7) var<storage, read_write> dst4: array<vec4<f32>>;

override WG: u32 = 64u;
// The transforms read x (input) or M (output) from its mirror St rather than from storage (CPU
// adapters where the probe of src/gpu/lane-reads.ts finds it faster: llvmpipe's AVX2 code). The
// same values.
override S_TEXELS: bool = false;
const TEXEL_ROW_SHIFT = 12u; // TEXEL_ROW = 4096

// src's value i, x or M (of the storage binding or its mirror).
fn at1(i: u32) -> f32 {
  if (S_TEXELS) { return textureLoad(St, vec2<u32>(i & ((1u << TEXEL_ROW_SHIFT) - 1u), i >> TEXEL_ROW_SHIFT), 0).x; }
  return src[i];
}

// Six values along one axis of a tile.
struct Six {
  a: f32, b: f32, c: f32, d: f32, e: f32, f: f32,
}

// G g: a 3-tap kernel interpolated at 0, 1, -1, 2, -2, infinity.
fn kernelG(g0: f32, g1: f32, g2: f32) -> Six {
  let even = g0 + g2;
  let q = g0 * 0.25 + g2;
  return Six(g0 * 0.25, -(even + g1) / 6.0, -(even - g1) / 6.0, (q + g1 * 0.5) / 6.0, (q - g1 * 0.5) / 6.0, g2);
}

// B^T d: six inputs to six interpolated values.
fn inputB(d: Six) -> Six {
  return Six(
    4.0 * d.a - 5.0 * d.c + d.e,
    -4.0 * (d.b + d.c) + d.d + d.e,
    4.0 * (d.b - d.c) - d.d + d.e,
    2.0 * (d.d - d.b) - d.c + d.e,
    2.0 * (d.b - d.d) - d.c + d.e,
    4.0 * d.b - 5.0 * d.d + d.f,
  );
}

// A^T m: six products to four outputs.
fn outputA(m: Six) -> vec4<f32> {
  let s12 = m.b + m.c;
  let d12 = m.b - m.c;
  let s34 = m.d + m.e;
  let d34 = m.d - m.e;
  return vec4<f32>(m.a + s12 + s34, d12 + 2.0 * d34, s12 + 4.0 * s34, d12 + 8.0 * d34 + m.f);
}

fn at(s: Six, i: u32) -> f32 {
  switch i {
    case 0u: { return s.a; }
    case 1u: { return s.b; }
    case 2u: { return s.c; }
    case 3u: { return s.d; }
    case 4u: { return s.e; }
    default: { return s.f; }
  }
}

// Column i of six rows.
fn column(r: array<Six, 6>, i: u32) -> Six {
  return Six(at(r[0], i), at(r[1], i), at(r[2], i), at(r[3], i), at(r[4], i), at(r[5], i));
}

// U = G g G^T for output channel c of block b and input channel ci: lanes over (b, ci, c).
@compute @workgroup_size(WG)
fn weights(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * p.row + gid.x;
  let blocks = p.co_pad / 16u;
  if (i >= blocks * p.cin * 16u) { return; }
  let c = i % 16u;
  let ci = (i / 16u) % p.cin;
  let b = i / (16u * p.cin);
  let gb = (b * p.cin + ci) * 144u + c;
  // Rows of G g (each the column transform of one kernel column), then G applied along rows.
  var cols: array<Six, 3>;
  for (var kx = 0u; kx < 3u; kx++) {
    cols[kx] = kernelG(src[gb + kx * 16u], src[gb + (3u + kx) * 16u], src[gb + (6u + kx) * 16u]);
  }
  let ub = (ci * blocks + b) * 16u + c;
  for (var r = 0u; r < 6u; r++) {
    let u = kernelG(at(cols[0], r), at(cols[1], r), at(cols[2], r));
    for (var j = 0u; j < 6u; j++) {
      dst[ub + (6u * r + j) * p.cin * p.co_pad] = at(u, j);
    }
  }
}

// V's index of input channel ci and chunk tile t at position 0 (positions p.cin * p.tpad apart).
fn vIndex(ci: u32, t: u32) -> u32 {
  return ci * p.tpad + t;
}

// GroupNorm as group_norm.wgsl's normalize computes it (the same bits), then swish if asked.
fn normalized(x: f32, st: vec4<f32>) -> f32 {
  if (p.norm == 0u) { return x; }
  let y = fma(x - st.x, st.y, st.z);
  if (p.norm == 2u) { return y / (1.0 + exp(-y)); }
  return y;
}

// V = B^T d B for tile t0 + t and input channel ci: x over tiles, y over input channels.
@compute @workgroup_size(WG)
fn input(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let ci = gid.y;
  if (t >= p.tc) { return; }
  let g = p.t0 + t;
  let per = p.tiles_y * p.tiles_x;
  let n = g / per;
  let r = g - n * per;
  let iy0 = i32(r / p.tiles_x) * 4 - 1;
  let ix0 = i32(r % p.tiles_x) * 4 - 1;
  let plane = n * p.cin + ci;
  let base = plane * p.h * p.w;
  var st = vec4<f32>(0.0);
  if (p.norm != 0u) { st = stats[plane]; }
  // B^T applied down each of the six patch columns, then along each resulting row.
  var rows: array<Six, 6>;
  for (var y = 0; y < 6; y++) {
    let iy = iy0 + y;
    var v = array<f32, 6>();
    if (iy >= 0 && iy < i32(p.h)) {
      let rb = base + u32(iy) * p.w;
      for (var x = 0; x < 6; x++) {
        let ix = ix0 + x;
        if (ix >= 0 && ix < i32(p.w)) { v[x] = normalized(at1(rb + u32(ix)), st); }
      }
    }
    rows[y] = Six(v[0], v[1], v[2], v[3], v[4], v[5]);
  }
  var cols: array<Six, 6>;
  for (var x = 0u; x < 6u; x++) { cols[x] = inputB(column(rows, x)); }
  let stride = p.cin * p.tpad;
  let vb = vIndex(ci, t);
  for (var q = 0u; q < 6u; q++) {
    let v = inputB(column(cols, q));
    for (var j = 0u; j < 6u; j++) { dst[vb + (6u * q + j) * stride] = at(v, j); }
  }
}

// Y = A^T M A for tile t0 + t and output channel co, plus bias, activation and residual as
// conv2d.wgsl: x over tiles, y over output channels.
@compute @workgroup_size(WG)
fn output(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let co = gid.y;
  if (t >= p.tc || co >= p.cout) { return; }
  var m: array<Six, 6>;
  let stride = p.co_pad * p.tpad;
  let mb = co * p.tpad + t;
  for (var r = 0u; r < 6u; r++) {
    let i = mb + 6u * r * stride;
    m[r] = Six(at1(i), at1(i + stride), at1(i + 2u * stride), at1(i + 3u * stride), at1(i + 4u * stride), at1(i + 5u * stride));
  }
  // A^T down the columns (6 -> 4 rows), then along each row.
  var cols: array<vec4<f32>, 6>;
  for (var x = 0u; x < 6u; x++) { cols[x] = outputA(column(m, x)); }
  let g = p.t0 + t;
  let per = p.tiles_y * p.tiles_x;
  let n = g / per;
  let r = g - n * per;
  let oy0 = (r / p.tiles_x) * 4u;
  let ox0 = (r % p.tiles_x) * 4u;
  var b = 0.0;
  if (p.has_bias == 1u) { b = bias[co]; }
  let ob = (n * p.cout + co) * p.h * p.w;
  for (var y = 0u; y < 4u; y++) {
    let oy = oy0 + y;
    if (oy >= p.h) { break; }
    let v = outputA(Six(cols[0][y], cols[1][y], cols[2][y], cols[3][y], cols[4][y], cols[5][y]));
    for (var x = 0u; x < 4u; x++) {
      let ox = ox0 + x;
      if (ox < p.w) {
        let o = ob + oy * p.w + ox;
        var s = v[x] + b;
        if (p.act == 1u) { s = s / (1.0 + exp(-s)); }
        if (p.has_residual == 1u) { s += residual[o]; }
        if (p.has_residual == 2u) { s += residual[n * p.cout + co]; }
        if (p.act == 2u) { s = max(s, 0.0); }
        dst[o] = s;
      }
    }
  }
}

// ---- F(6x6, 3x3): 8x8 transformed tiles (interpolation points 0, +-1, +-2, +-1/2, infinity),
// 64 / 36 = 1.78 multiplies per output, input channel and tap set. Entries weights6, input6 and
// output6 as above with 6x6 output tiles, 8x8 input patches (rows and columns -1 .. 6 around a
// tile) and q = 8 * row + column; tiles_y = ceil(h / 6), tiles_x = ceil(w / 6).

struct Eight {
  a: f32, b: f32, c: f32, d: f32, e: f32, f: f32, g: f32, h: f32,
}

// G g: a 3-tap kernel interpolated at 0, 1, -1, 1/2, -1/2, 2, -2, infinity (scaled as the transforms need).
fn kernelG8(g0: f32, g1: f32, g2: f32) -> Eight {
  let even = g0 + g2;
  let q = g0 / 90.0 + g2 * (2.0 / 45.0);
  let r = g0 * (32.0 / 45.0) + g2 * (8.0 / 45.0);
  return Eight(g0, -(even + g1) * (2.0 / 9.0), -(even - g1) * (2.0 / 9.0), q + g1 / 45.0, q - g1 / 45.0, r + g1 * (16.0 / 45.0), r - g1 * (16.0 / 45.0), g2);
}

// B^T d: eight inputs to eight interpolated values.
fn inputB8(d: Eight) -> Eight {
  let p12 = d.c + d.g - 4.25 * d.e;
  let m12 = d.b + d.f - 4.25 * d.d;
  let p34 = 0.25 * d.c - 1.25 * d.e + d.g;
  let m34 = 0.5 * d.b - 2.5 * d.d + 2.0 * d.f;
  let p56 = 4.0 * d.c - 5.0 * d.e + d.g;
  let m56 = 2.0 * d.b - 2.5 * d.d + 0.5 * d.f;
  return Eight(
    d.a - d.g + 5.25 * (d.e - d.c),
    p12 + m12,
    p12 - m12,
    p34 + m34,
    p34 - m34,
    p56 + m56,
    p56 - m56,
    d.h - d.b + 5.25 * (d.d - d.f),
  );
}

// A^T m: eight products to six outputs (.x .. .w of [0], .x .. .y of [1]).
fn outputA8(m: Eight) -> array<vec4<f32>, 2> {
  let s12 = m.b + m.c;
  let d12 = m.b - m.c;
  let s34 = m.d + m.e;
  let d34 = m.d - m.e;
  let s56 = m.f + m.g;
  let d56 = m.f - m.g;
  return array<vec4<f32>, 2>(
    vec4<f32>(m.a + s12 + s34 + s56, d12 + 2.0 * d34 + 0.5 * d56, s12 + 4.0 * s34 + 0.25 * s56, d12 + 8.0 * d34 + 0.125 * d56),
    vec4<f32>(s12 + 16.0 * s34 + 0.0625 * s56, d12 + 32.0 * d34 + 0.03125 * d56 + m.h, 0.0, 0.0),
  );
}

fn at8(s: Eight, i: u32) -> f32 {
  switch i {
    case 0u: { return s.a; }
    case 1u: { return s.b; }
    case 2u: { return s.c; }
    case 3u: { return s.d; }
    case 4u: { return s.e; }
    case 5u: { return s.f; }
    case 6u: { return s.g; }
    default: { return s.h; }
  }
}


// U = G g G^T (8x8) for output channel c of block b and input channel ci: lanes over (b, ci, c).
@compute @workgroup_size(WG)
fn weights6(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * p.row + gid.x;
  let blocks = p.co_pad / 16u;
  if (i >= blocks * p.cin * 16u) { return; }
  let c = i % 16u;
  let ci = (i / 16u) % p.cin;
  let b = i / (16u * p.cin);
  let gb = (b * p.cin + ci) * 144u + c;
  var cols: array<Eight, 3>;
  for (var kx = 0u; kx < 3u; kx++) {
    cols[kx] = kernelG8(src[gb + kx * 16u], src[gb + (3u + kx) * 16u], src[gb + (6u + kx) * 16u]);
  }
  let ub = (ci * blocks + b) * 16u + c;
  for (var r = 0u; r < 8u; r++) {
    let u = kernelG8(at8(cols[0], r), at8(cols[1], r), at8(cols[2], r));
    for (var j = 0u; j < 8u; j++) {
      dst[ub + (8u * r + j) * p.cin * p.co_pad] = at8(u, j);
    }
  }
}

// B^T applied to eight vec4 at once (four patch columns, or four rows' values): inputB8's formulas.
fn inputB8x4(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>, e: vec4<f32>, f: vec4<f32>, g: vec4<f32>, h: vec4<f32>) -> array<vec4<f32>, 8> {
  let p12 = c + g - 4.25 * e;
  let m12 = b + f - 4.25 * d;
  let p34 = 0.25 * c - 1.25 * e + g;
  let m34 = 0.5 * b - 2.5 * d + 2.0 * f;
  let p56 = 4.0 * c - 5.0 * e + g;
  let m56 = 2.0 * b - 2.5 * d + 0.5 * f;
  return array<vec4<f32>, 8>(a - g + 5.25 * (e - c), p12 + m12, p12 - m12, p34 + m34, p34 - m34, p56 + m56, p56 - m56, h - b + 5.25 * (d - f));
}

// A^T applied to eight vec4 at once: outputA8's formulas, six vec4.
fn outputA8x4(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>, e: vec4<f32>, f: vec4<f32>, g: vec4<f32>, h: vec4<f32>) -> array<vec4<f32>, 6> {
  let s12 = b + c;
  let d12 = b - c;
  let s34 = d + e;
  let d34 = d - e;
  let s56 = f + g;
  let d56 = f - g;
  return array<vec4<f32>, 6>(a + s12 + s34 + s56, d12 + 2.0 * d34 + 0.5 * d56, s12 + 4.0 * s34 + 0.25 * s56, d12 + 8.0 * d34 + 0.125 * d56, s12 + 16.0 * s34 + 0.0625 * s56, d12 + 32.0 * d34 + 0.03125 * d56 + h);
}

// Eight values as two vec4 (0..3, 4..7): a patch row, or a row of M.
struct Row8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

// Input at column ix of the row starting at rb, normalised; zero outside the image.
fn input1(rb: u32, ix: i32, st: vec4<f32>) -> f32 {
  if (ix < 0 || ix >= i32(p.w)) { return 0.0; }
  return normalized(at1(rb + u32(ix)), st);
}

// Patch row iy (columns ix0 .. ix0+7) of the plane at base; zero outside the image.
fn patchRow(base: u32, iy: i32, ix0: i32, st: vec4<f32>) -> Row8 {
  if (iy < 0 || iy >= i32(p.h)) { return Row8(vec4<f32>(0.0), vec4<f32>(0.0)); }
  let rb = base + u32(iy) * p.w;
  return Row8(
    vec4<f32>(input1(rb, ix0, st), input1(rb, ix0 + 1, st), input1(rb, ix0 + 2, st), input1(rb, ix0 + 3, st)),
    vec4<f32>(input1(rb, ix0 + 4, st), input1(rb, ix0 + 5, st), input1(rb, ix0 + 6, st), input1(rb, ix0 + 7, st)),
  );
}

// Row q of B^T d (its eight values in lo, hi) through B^T along it: V positions 8q .. 8q+7.
fn storeV(vb: u32, stride: u32, q: u32, lo: vec4<f32>, hi: vec4<f32>) {
  let v = inputB8(Eight(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w));
  let o = vb + 8u * q * stride;
  dst[o] = v.a;
  dst[o + stride] = v.b;
  dst[o + 2u * stride] = v.c;
  dst[o + 3u * stride] = v.d;
  dst[o + 4u * stride] = v.e;
  dst[o + 5u * stride] = v.f;
  dst[o + 6u * stride] = v.g;
  dst[o + 7u * stride] = v.h;
}

// V = B^T d B (8x8) for tile t0 + t and input channel ci: x over tiles, y over input channels.
// Written out without loops: on llvmpipe a loop over a local array indexes it in memory.
@compute @workgroup_size(WG)
fn input6(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let ci = gid.y;
  if (t >= p.tc) { return; }
  let d = patchB(t, ci);
  let stride = p.cin * p.tpad;
  let vb = vIndex(ci, t);
  storeV(vb, stride, 0u, d[0], d[8]);
  storeV(vb, stride, 1u, d[1], d[9]);
  storeV(vb, stride, 2u, d[2], d[10]);
  storeV(vb, stride, 3u, d[3], d[11]);
  storeV(vb, stride, 4u, d[4], d[12]);
  storeV(vb, stride, 5u, d[5], d[13]);
  storeV(vb, stride, 6u, d[6], d[14]);
  storeV(vb, stride, 7u, d[7], d[15]);
}

// B^T d (B^T down the patch's columns, four at a time) for chunk tile t and input channel ci: its rows 0 .. 7, the
// patch's columns 0 .. 3 in [0 .. 7] and 4 .. 7 in [8 .. 15]; zero for the padding past tc.
fn patchB(t: u32, ci: u32) -> array<vec4<f32>, 16> {
  if (t >= p.tc) { return array<vec4<f32>, 16>(); }
  let g = p.t0 + t;
  let per = p.tiles_y * p.tiles_x;
  let n = g / per;
  let r = g - n * per;
  let iy0 = i32(r / p.tiles_x) * 6 - 1;
  let ix0 = i32(r % p.tiles_x) * 6 - 1;
  let plane = n * p.cin + ci;
  let base = plane * p.h * p.w;
  var st = vec4<f32>(0.0);
  if (p.norm != 0u) { st = stats[plane]; }
  let d0 = patchRow(base, iy0, ix0, st);
  let d1 = patchRow(base, iy0 + 1, ix0, st);
  let d2 = patchRow(base, iy0 + 2, ix0, st);
  let d3 = patchRow(base, iy0 + 3, ix0, st);
  let d4 = patchRow(base, iy0 + 4, ix0, st);
  let d5 = patchRow(base, iy0 + 5, ix0, st);
  let d6 = patchRow(base, iy0 + 6, ix0, st);
  let d7 = patchRow(base, iy0 + 7, ix0, st);
  let lo = inputB8x4(d0.lo, d1.lo, d2.lo, d3.lo, d4.lo, d5.lo, d6.lo, d7.lo);
  let hi = inputB8x4(d0.hi, d1.hi, d2.hi, d3.hi, d4.hi, d5.hi, d6.hi, d7.hi);
  return array<vec4<f32>, 16>(lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7], hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7]);
}

// Row q of four tiles' B^T d through B^T along it: V positions 8q .. 8q+7 of the four, a vec4 each.
fn storeV4(o: u32, stride: u32, a: Eight, b: Eight, c: Eight, d: Eight) {
  dst4[o] = vec4<f32>(a.a, b.a, c.a, d.a);
  dst4[o + stride] = vec4<f32>(a.b, b.b, c.b, d.b);
  dst4[o + 2u * stride] = vec4<f32>(a.c, b.c, c.c, d.c);
  dst4[o + 3u * stride] = vec4<f32>(a.d, b.d, c.d, d.d);
  dst4[o + 4u * stride] = vec4<f32>(a.e, b.e, c.e, d.e);
  dst4[o + 5u * stride] = vec4<f32>(a.f, b.f, c.f, d.f);
  dst4[o + 6u * stride] = vec4<f32>(a.g, b.g, c.g, d.g);
  dst4[o + 7u * stride] = vec4<f32>(a.h, b.h, c.h, d.h);
}

fn eight(lo: vec4<f32>, hi: vec4<f32>) -> Eight {
  return inputB8(Eight(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w));
}

// input6 for four consecutive chunk tiles 4 * gid.x .. + 3 (tpad a multiple of 4), the same
// values, written as one vec4 per position: llvmpipe stores storage lane by lane, so a vec4 per
// lane costs about what one f32 does. Unrolled, as input6. (src/kernels/conv2d-winograd.ts says
// where it pays.)
@compute @workgroup_size(WG)
fn input6x4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = 4u * gid.x;
  let ci = gid.y;
  if (t >= p.tc) { return; }
  let a = patchB(t, ci);
  let b = patchB(t + 1u, ci);
  let c = patchB(t + 2u, ci);
  let d = patchB(t + 3u, ci);
  let stride = p.cin * p.tpad / 4u;
  let vb = vIndex(ci, t) / 4u;
  storeV4(vb, stride, eight(a[0], a[8]), eight(b[0], b[8]), eight(c[0], c[8]), eight(d[0], d[8]));
  storeV4(vb + 8u * stride, stride, eight(a[1], a[9]), eight(b[1], b[9]), eight(c[1], c[9]), eight(d[1], d[9]));
  storeV4(vb + 16u * stride, stride, eight(a[2], a[10]), eight(b[2], b[10]), eight(c[2], c[10]), eight(d[2], d[10]));
  storeV4(vb + 24u * stride, stride, eight(a[3], a[11]), eight(b[3], b[11]), eight(c[3], c[11]), eight(d[3], d[11]));
  storeV4(vb + 32u * stride, stride, eight(a[4], a[12]), eight(b[4], b[12]), eight(c[4], c[12]), eight(d[4], d[12]));
  storeV4(vb + 40u * stride, stride, eight(a[5], a[13]), eight(b[5], b[13]), eight(c[5], c[13]), eight(d[5], d[13]));
  storeV4(vb + 48u * stride, stride, eight(a[6], a[14]), eight(b[6], b[14]), eight(c[6], c[14]), eight(d[6], d[14]));
  storeV4(vb + 56u * stride, stride, eight(a[7], a[15]), eight(b[7], b[15]), eight(c[7], c[15]), eight(d[7], d[15]));
}

// Row r of M (positions 8r .. 8r+7) for the tile and channel at mb.
fn rowM(mb: u32, stride: u32, r: u32) -> Row8 {
  let i = mb + 8u * r * stride;
  return Row8(
    vec4<f32>(at1(i), at1(i + stride), at1(i + 2u * stride), at1(i + 3u * stride)),
    vec4<f32>(at1(i + 4u * stride), at1(i + 5u * stride), at1(i + 6u * stride), at1(i + 7u * stride)),
  );
}

// Output row oy0 + y (its eight column values in lo, hi, through A^T along it) plus bias,
// activation and residual, within bounds.
fn storeY(lo: vec4<f32>, hi: vec4<f32>, y: u32, oy0: u32, ox0: u32, n: u32, co: u32, b: f32) {
  let oy = oy0 + y;
  if (oy >= p.h) { return; }
  let v = outputA8(Eight(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w));
  let ob = ((n * p.cout + co) * p.h + oy) * p.w;
  let out = array<f32, 6>(v[0].x, v[0].y, v[0].z, v[0].w, v[1].x, v[1].y);
  for (var x = 0u; x < 6u; x++) {
    let ox = ox0 + x;
    if (ox < p.w) {
      let o = ob + ox;
      var s = out[x] + b;
      if (p.act == 1u) { s = s / (1.0 + exp(-s)); }
      if (p.has_residual == 1u) { s += residual[o]; }
      if (p.has_residual == 2u) { s += residual[n * p.cout + co]; }
      if (p.act == 2u) { s = max(s, 0.0); }
      dst[o] = s;
    }
  }
}

// Y = A^T M A (6x6) for tile t0 + t and output channel co, plus bias, activation and residual as output.
@compute @workgroup_size(WG)
fn output6(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let co = gid.y;
  if (t >= p.tc || co >= p.cout) { return; }
  let stride = p.co_pad * p.tpad;
  let mb = co * p.tpad + t;
  let m0 = rowM(mb, stride, 0u);
  let m1 = rowM(mb, stride, 1u);
  let m2 = rowM(mb, stride, 2u);
  let m3 = rowM(mb, stride, 3u);
  let m4 = rowM(mb, stride, 4u);
  let m5 = rowM(mb, stride, 5u);
  let m6 = rowM(mb, stride, 6u);
  let m7 = rowM(mb, stride, 7u);
  // A^T down the columns (four at a time: 8 -> 6 rows), then along each row.
  let lo = outputA8x4(m0.lo, m1.lo, m2.lo, m3.lo, m4.lo, m5.lo, m6.lo, m7.lo);
  let hi = outputA8x4(m0.hi, m1.hi, m2.hi, m3.hi, m4.hi, m5.hi, m6.hi, m7.hi);
  let g = p.t0 + t;
  let per = p.tiles_y * p.tiles_x;
  let n = g / per;
  let r = g - n * per;
  let oy0 = (r / p.tiles_x) * 6u;
  let ox0 = (r % p.tiles_x) * 6u;
  var b = 0.0;
  if (p.has_bias == 1u) { b = bias[co]; }
  storeY(lo[0], hi[0], 0u, oy0, ox0, n, co, b);
  storeY(lo[1], hi[1], 1u, oy0, ox0, n, co, b);
  storeY(lo[2], hi[2], 2u, oy0, ox0, n, co, b);
  storeY(lo[3], hi[3], 3u, oy0, ox0, n, co, b);
  storeY(lo[4], hi[4], 4u, oy0, ox0, n, co, b);
  storeY(lo[5], hi[5], 5u, oy0, ox0, n, co, b);
}
