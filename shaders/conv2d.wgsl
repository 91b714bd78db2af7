// 2-D convolution as an implicit GEMM (no im2col buffer): out = swish(conv(x, w) + bias) + residual
// or relu(conv(x, w) + bias + residual), NCHW f32. x [N, Cin, H, W]; out and residual [N, Cout, Ho, Wo]
// (or a residual [N, Cout] added to every pixel: the UNet's timestep projection); input coordinates
// iy = oy*stride + ky - pad (likewise x), taps outside the input read zero, which also gives the
// implicit bottom/right padding of the DDPM Downsample. With NORM the conv reads GroupNorm(x) (then
// swish) instead of x, normalised as it loads from group_norm.wgsl's per-plane statistics with
// group_norm.wgsl's normalize formula (the same bits), so the normalised activation is never
// written; the padding stays zero (it pads the normalised map).
// Weights re-laid out by src/kernels/conv2d.ts as [ceil(Cout/16)][Cin][k][k][16] (zero-padded
// output channels): the 16 output channels of one tap are four consecutive vec4; bias likewise
// padded to a multiple of 16.
//
// Entry points (same Params and bindings), both computing 4*PV consecutive pixels of a row x 16
// output channels per invocation:
//   conv3x3: k 3, stride 1, pad 1. Per input channel and kernel row an invocation loads the
//            4*PV+2 inputs its pixels share and 3 x 16 weights, then performs 3 x 16 x 4*PV FMAs.
//   conv1x1: k 1, pad 0, any stride: per input channel 4*PV inputs and 16 weights, column
//            indices computed once.
//   conv:    any k, stride and pad; loads the 4*PV inputs and 16 weights of each tap.
// and, for 3x3 'same' with CPU tiles (PV 4; see their comments below), conv3x3block (4 x 4
// output blocks) and conv3x3quad (four 2 x 2 images per invocation).
// The accumulators are named registers, never indexed from a loop, so they stay in registers
// whatever a driver's unrolling heuristics decide. No workgroup memory: barriers are expensive on
// CPU adapters, where every storage load costs a per-lane loop (even for addresses uniform across
// the workgroup) while arithmetic is cheap SIMD; there the largest tile (PV 4) maximises FMAs per
// load, while GPUs want PV 1 (fewer registers); the host lowers PV on narrow outputs so that a
// lane computes no pixels past the row. workgroup_id.y picks the block of 16 output channels
// (weight loads uniform across the workgroup: one cache line on GPUs). Invocations run over the
// pixel tiles of the whole batch, image by image and row by row within an image (lane index
// i = n * ho * tiles_x + oy * tiles_x + tile), so the few tiles of small images fill the
// workgroups; workgroup_id.x, plus workgroup_id.z * groups_x where the lanes need more than the
// adapter's workgroups per dimension, counts workgroups along that index.
struct Params {
  cin: u32,          // input channels
  h: u32,            // input height
  w: u32,            // input width
  cout: u32,         // output channels
  ho: u32,           // output height
  wo: u32,           // output width
  k: u32,            // kernel size (conv; conv3x3 assumes 3)
  stride: u32,       // stride (conv; conv3x3 assumes 1)
  pad: u32,          // zero rows/columns added above and left of the input (conv3x3 assumes 1)
  tiles_x: u32,      // pixel tiles per output row: ceil(wo / (4 * PV))
  has_bias: u32,     // 1: add bias (binding 3)
  has_residual: u32, // 1: add residual (binding 4) [N, Cout, Ho, Wo], 2: [N, Cout]; after swish, before relu
  act: u32,          // 0: none, 1: swish(conv + bias) + residual, 2: relu(conv + bias + residual)
  n: u32,            // images in the batch
  groups_x: u32,     // workgroups along x (the lane index is (wid.z * groups_x + wid.x) * WG + lid.x)
  blocks: u32,       // blocks of 16 output channels: workgroup_id.y = split * blocks + block
  splits: u32,       // conv3x3: the input channels summed in this many consecutive parts (split-K)
  split_plane: u32,  // with splits > 1: elements per part's plane of partial sums in Y
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;
// NORM: per (image, input channel) plane, GroupNorm's (mean, scale, shift, -) (kernels/group-norm.ts).
@group(0) @binding(6) var<storage, read> stats: array<vec4<f32>>;
// W_TEXELS: a texel mirror of Wt's binding (src/gpu/texels.ts), vec4 i at texel (i % 4096, i / 4096).
@group(0) @binding(7) var Wtex: texture_2d<f32>;
// X_TEXELS: an r32float mirror of X's binding, value i at texel (i % 4096, i / 4096).
@group(0) @binding(8) var Xtex: texture_2d<f32>;
const TEXEL_ROW_SHIFT = 12u; // TEXEL_ROW = 4096

// The part of the input channels this invocation sums (conv3x3 with splits > 1; else 0).
var<private> split: u32 = 0u;
// NORM: the statistics of the plane being read (set by planeStats at each input channel).
var<private> st: vec4<f32>;

override WG: u32 = 64u; // invocations per workgroup
override PV: u32 = 4u;  // groups of 4 consecutive output pixels per invocation (1..4)
override NORM: u32 = 0u; // 0: read x as it is; 1: GroupNorm(x) from `stats`; 2: swish(GroupNorm(x))
// Read the weights from their texel mirror Wtex rather than from storage (CPU adapters): on
// llvmpipe a storage load is a loop over the lanes even where, as here, every invocation of the
// workgroup reads the same address, while a texel fetch is vector code. The same values.
override W_TEXELS: bool = false;
// Read x from its r32float mirror Xtex rather than from storage (CPU adapters where the probe of
// src/gpu/lane-reads.ts finds it faster: llvmpipe's AVX2 code). The same values.
override X_TEXELS: bool = false;

// Selects the statistics of image n's input channel ci for the loads that follow (NORM only).
fn planeStats(n: u32, ci: u32) {
  if (NORM != 0u) { st = stats[n * p.cin + ci]; }
}

// What the conv reads of four input values of the current plane: x, or GroupNorm(x) (then swish).
fn normed(x: vec4<f32>) -> vec4<f32> {
  if (NORM == 0u) { return x; }
  let y = fma(x - st.x, vec4(st.y), vec4(st.z));
  if (NORM == 2u) { return y / (1.0 + exp(-y)); }
  return y;
}

// Four consecutive output pixels x 16 output channels: column c of m<v> holds channel 4v + c.
struct Acc {
  m0: mat4x4<f32>,
  m1: mat4x4<f32>,
  m2: mat4x4<f32>,
  m3: mat4x4<f32>,
}

// The weights of one tap (or the bias) for the 16 output channels.
struct Tap {
  w0: vec4<f32>,
  w1: vec4<f32>,
  w2: vec4<f32>,
  w3: vec4<f32>,
}

// The weights' vec4 i (of the storage binding or its mirror).
fn weight(i: u32) -> vec4<f32> {
  if (W_TEXELS) { return textureLoad(Wtex, vec2<u32>(i & ((1u << TEXEL_ROW_SHIFT) - 1u), i >> TEXEL_ROW_SHIFT), 0); }
  return Wt[i];
}

// The input's value i (of the storage binding or its mirror).
fn xat(i: u32) -> f32 {
  if (X_TEXELS) { return textureLoad(Xtex, vec2<u32>(i & ((1u << TEXEL_ROW_SHIFT) - 1u), i >> TEXEL_ROW_SHIFT), 0).x; }
  return X[i];
}

fn tap(i: u32) -> Tap {
  return Tap(weight(i), weight(i + 1u), weight(i + 2u), weight(i + 3u));
}

fn outer(x: vec4<f32>, w: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(x * w.x, x * w.y, x * w.z, x * w.w);
}

// a + x (4 pixels) outer t (16 channels).
fn step(a: Acc, x: vec4<f32>, t: Tap) -> Acc {
  return Acc(a.m0 + outer(x, t.w0), a.m1 + outer(x, t.w1), a.m2 + outer(x, t.w2), a.m3 + outer(x, t.w3));
}

// Input columns ix clamped into the image, and whether they lie inside it.
fn clampCol(ix: vec4<i32>) -> vec4<u32> {
  return vec4<u32>(clamp(ix, vec4<i32>(0), vec4<i32>(i32(p.w) - 1)));
}
fn insideCol(ix: vec4<i32>) -> vec4<bool> {
  return (ix >= vec4<i32>(0)) & (ix < vec4<i32>(i32(p.w)));
}

// Four input values at row offset `rb`, columns `col`; zero where `ok` is false (padding).
fn load4(rb: u32, col: vec4<u32>, ok: vec4<bool>) -> vec4<f32> {
  return select(vec4<f32>(0.0), normed(vec4<f32>(xat(rb + col.x), xat(rb + col.y), xat(rb + col.z), xat(rb + col.w))), ok);
}

// Offset of input row iy of the current channel (clamped), and whether it lies inside the image.
fn rowOffset(xb: u32, iy: i32) -> u32 {
  return xb + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w;
}
fn rowInside(iy: i32) -> vec4<bool> {
  return vec4<bool>(iy >= 0 && iy < i32(p.h));
}

fn activate(v: vec4<f32>) -> vec4<f32> {
  if (p.act == 1u) { return v / (1.0 + exp(-v)); }
  return v;
}

// Writes output channel co at pixels (oy, ox..ox+3) of image n, within bounds: swish(v) + residual
// (the UNet's order) or relu(v + residual) (ResNet's). With split-K, part `split`'s raw sums go to
// its plane of Y (the host then sets no bias, residual or activation; conv2d_splitk.wgsl adds the
// parts and applies them).
fn put(n: u32, co: u32, oy: u32, ox: u32, v: vec4<f32>) {
  if (co >= p.cout) { return; }
  let ob = ((n * p.cout + co) * p.ho + oy) * p.wo + ox + split * p.split_plane;
  let r = activate(v);
  for (var j = 0u; j < 4u; j++) {
    if (ox + j < p.wo) {
      var y = r[j];
      if (p.has_residual != 0u) { y += residual[select(ob + j, n * p.cout + co, p.has_residual == 2u)]; }
      if (p.act == 2u) { y = max(y, 0.0); }
      Y[ob + j] = y;
    }
  }
}

// Writes the 16 channels x 4 pixels of `a` (channels co..co+15, pixels ox..ox+3) plus bias b.
fn emit(a: Acc, b: Tap, n: u32, co: u32, oy: u32, ox: u32) {
  let m = array<mat4x4<f32>, 4>(a.m0, a.m1, a.m2, a.m3);
  let bv = array<vec4<f32>, 4>(b.w0, b.w1, b.w2, b.w3);
  for (var v = 0u; v < 4u; v++) {
    put(n, co + 4u * v, oy, ox, m[v][0] + bv[v].x);
    put(n, co + 4u * v + 1u, oy, ox, m[v][1] + bv[v].y);
    put(n, co + 4u * v + 2u, oy, ox, m[v][2] + bv[v].z);
    put(n, co + 4u * v + 3u, oy, ox, m[v][3] + bv[v].w);
  }
}

// Writes the PV pixel groups of an invocation: output channels 16*block.., pixels ox0...
fn emitAll(a0: Acc, a1: Acc, a2: Acc, a3: Acc, block: u32, n: u32, oy: u32, ox0: u32) {
  let b = biasOf(block);
  let co = block * 16u;
  emit(a0, b, n, co, oy, ox0);
  if (PV > 1u) { emit(a1, b, n, co, oy, ox0 + 4u); }
  if (PV > 2u) { emit(a2, b, n, co, oy, ox0 + 8u); }
  if (PV > 3u) { emit(a3, b, n, co, oy, ox0 + 12u); }
}

// The pixel tile of one invocation: image n, output row oy, first column ox0. Lanes past the
// batch's last tile (live false) compute the last tile again and store nothing.
struct Lane {
  n: u32,
  oy: u32,
  ox0: u32,
  live: bool,
}

fn lane(wid: vec3<u32>, lid: vec3<u32>) -> Lane {
  let i = (wid.z * p.groups_x + wid.x) * WG + lid.x;
  let tiles = p.ho * p.tiles_x;
  let lanes = p.n * tiles;
  let j = min(i, lanes - 1u);
  let n = j / tiles;
  let t = j - n * tiles;
  return Lane(n, t / p.tiles_x, (t % p.tiles_x) * 4u * PV, i < lanes);
}

fn biasOf(block: u32) -> Tap {
  let i = block * 4u;
  if (p.has_bias == 1u) { return Tap(bias[i], bias[i + 1u], bias[i + 2u], bias[i + 3u]); }
  return Tap();
}

@compute @workgroup_size(WG)
fn conv3x3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let l = lane(wid, lid);
  let n = l.n;
  let oy = l.oy;
  let ox0 = l.ox0;

  // The input columns ox0-1 .. ox0+4*PV the tile reads, as PV+1 vec4 (the last uses .xy).
  let ix = vec4<i32>(i32(ox0) - 1) + vec4<i32>(0, 1, 2, 3);
  let col0 = clampCol(ix);
  let col1 = clampCol(ix + 4);
  let col2 = clampCol(ix + 8);
  let col3 = clampCol(ix + 12);
  let col4 = clampCol(ix + 16);
  let in0 = insideCol(ix);
  let in1 = insideCol(ix + 4);
  let in2 = insideCol(ix + 8);
  let in3 = insideCol(ix + 12);
  let in4 = insideCol(ix + 16);

  // a<k>: pixels ox0+4k .. ox0+4k+3 (k < PV; the others stay zero and are never stored).
  var a0 = Acc();
  var a1 = Acc();
  var a2 = Acc();
  var a3 = Acc();
  // Split-K: part `split` of the input channels, ci0 .. ci1 - 1 (all of them when splits is 1).
  let block = wid.y % p.blocks;
  split = wid.y / p.blocks;
  let part = (p.cin + p.splits - 1u) / p.splits;
  let ci0 = min(p.cin, split * part);
  let ci1 = min(p.cin, ci0 + part);
  let plane = p.h * p.w;
  var xb = (n * p.cin + ci0) * plane;
  var wb = (block * p.cin + ci0) * 36u;
  for (var ci = ci0; ci < ci1; ci++) {
    planeStats(n, ci);
    for (var ky = 0u; ky < p.k; ky++) {
      let iy = i32(oy + ky) - 1;
      let rowIn = rowInside(iy);
      let rb = rowOffset(xb, iy);
      let e0 = load4(rb, col0, in0 & rowIn);
      let e1 = load4(rb, col1, in1 & rowIn);
      var e2 = vec4<f32>(0.0);
      var e3 = vec4<f32>(0.0);
      var e4 = vec4<f32>(0.0);
      if (PV > 1u) { e2 = load4(rb, col2, in2 & rowIn); }
      if (PV > 2u) { e3 = load4(rb, col3, in3 & rowIn); }
      if (PV > 3u) { e4 = load4(rb, col4, in4 & rowIn); }
      // kx = 0: pixel ox reads column ox-1, i.e. e<k> itself; kx = 1, 2: the window shifted by
      // one and two columns.
      let t0 = tap(wb);
      let t1 = tap(wb + 4u);
      let t2 = tap(wb + 8u);
      a0 = step(step(step(a0, e0, t0), vec4<f32>(e0.yzw, e1.x), t1), vec4<f32>(e0.zw, e1.xy), t2);
      if (PV > 1u) { a1 = step(step(step(a1, e1, t0), vec4<f32>(e1.yzw, e2.x), t1), vec4<f32>(e1.zw, e2.xy), t2); }
      if (PV > 2u) { a2 = step(step(step(a2, e2, t0), vec4<f32>(e2.yzw, e3.x), t1), vec4<f32>(e2.zw, e3.xy), t2); }
      if (PV > 3u) { a3 = step(step(step(a3, e3, t0), vec4<f32>(e3.yzw, e4.x), t1), vec4<f32>(e3.zw, e4.xy), t2); }
      wb += 12u;
    }
    xb += plane;
  }

  if (!l.live) { return; }
  emitAll(a0, a1, a2, a3, block, n, oy, ox0);
}

@compute @workgroup_size(WG)
fn conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let l = lane(wid, lid);
  let n = l.n;
  let oy = l.oy;
  let ox0 = l.ox0;

  // Input columns of pixels ox0..ox0+3 for kx = 0; tap kx adds kx, pixel group k adds 4k*stride.
  let ix = vec4<i32>((vec4<u32>(ox0) + vec4<u32>(0u, 1u, 2u, 3u)) * p.stride) - i32(p.pad);
  let dx = i32(4u * p.stride);
  let iy0 = i32(oy * p.stride) - i32(p.pad);

  // a<k>: pixels ox0+4k .. ox0+4k+3 (k < PV).
  var a0 = Acc();
  var a1 = Acc();
  var a2 = Acc();
  var a3 = Acc();
  let plane = p.h * p.w;
  var xb = n * p.cin * plane;
  var wb = wid.y * p.cin * p.k * p.k * 4u;
  for (var ci = 0u; ci < p.cin; ci++) {
    planeStats(n, ci);
    for (var ky = 0u; ky < p.k; ky++) {
      let iy = iy0 + i32(ky);
      let rowIn = rowInside(iy);
      let rb = rowOffset(xb, iy);
      for (var kx = 0; kx < i32(p.k); kx++) {
        let t = tap(wb);
        let c0 = ix + kx;
        a0 = step(a0, load4(rb, clampCol(c0), insideCol(c0) & rowIn), t);
        if (PV > 1u) {
          let c1 = c0 + dx;
          a1 = step(a1, load4(rb, clampCol(c1), insideCol(c1) & rowIn), t);
        }
        if (PV > 2u) {
          let c2 = c0 + 2 * dx;
          a2 = step(a2, load4(rb, clampCol(c2), insideCol(c2) & rowIn), t);
        }
        if (PV > 3u) {
          let c3 = c0 + 3 * dx;
          a3 = step(a3, load4(rb, clampCol(c3), insideCol(c3) & rowIn), t);
        }
        wb += 4u;
      }
    }
    xb += plane;
  }

  if (!l.live) { return; }
  emitAll(a0, a1, a2, a3, wid.y, n, oy, ox0);
}

@compute @workgroup_size(WG)
fn conv1x1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let l = lane(wid, lid);
  let n = l.n;
  let oy = l.oy;
  let ox0 = l.ox0;

  // Input columns of pixel group k (no padding: rows are always inside, columns may overhang
  // only past the last tile of a row).
  let ix = vec4<i32>((vec4<u32>(ox0) + vec4<u32>(0u, 1u, 2u, 3u)) * p.stride);
  let dx = i32(4u * p.stride);
  let col0 = clampCol(ix);
  let col1 = clampCol(ix + dx);
  let col2 = clampCol(ix + 2 * dx);
  let col3 = clampCol(ix + 3 * dx);
  let in0 = insideCol(ix);
  let in1 = insideCol(ix + dx);
  let in2 = insideCol(ix + 2 * dx);
  let in3 = insideCol(ix + 3 * dx);

  var a0 = Acc();
  var a1 = Acc();
  var a2 = Acc();
  var a3 = Acc();
  let plane = p.h * p.w;
  var xb = n * p.cin * plane + oy * p.stride * p.w;
  var wb = wid.y * p.cin * 4u;
  for (var ci = 0u; ci < p.cin; ci++) {
    planeStats(n, ci);
    let t = tap(wb);
    a0 = step(a0, load4(xb, col0, in0), t);
    if (PV > 1u) { a1 = step(a1, load4(xb, col1, in1), t); }
    if (PV > 2u) { a2 = step(a2, load4(xb, col2, in2), t); }
    if (PV > 3u) { a3 = step(a3, load4(xb, col3, in3), t); }
    wb += 4u;
    xb += plane;
  }

  if (!l.live) { return; }
  emitAll(a0, a1, a2, a3, wid.y, n, oy, ox0);
}

// conv3x3 over blocks of 4 x 4 output pixels (CPU adapters): Block.a<k> holds output row oy0 + k,
// pixels ox0..ox0+3, x 16 channels. Per input channel the invocation loads the 6 x 6 inputs its
// block reads and the 9 x 16 weights, then performs 9 x 16 x 16 FMAs: 6 x 6 + 36 vec4 loads where
// a 16-pixel row tile loads 3 x (18 + 12); on images 4 or 8 pixels wide (ResNet's late stages)
// the row tile would shrink to 4 or 8 pixels. Each output sums over ci, ky, kx in the same order
// as conv3x3's, so the results are the same bits. Lanes run over the batch's blocks, image by
// image and block row by block row (i = n * tiles_y * tiles_x + by * tiles_x + bx), where
// tiles_x = ceil(wo / 4) and tiles_y = ceil(ho / 4).
// Inputs ox0-1 .. ox0+4 of row iy (zero outside the image): .x..w of [0], then .xy of [1].
fn loadRow6(xb: u32, iy: i32, col0: vec4<u32>, col1: vec4<u32>, in0: vec4<bool>, in1: vec4<bool>) -> array<vec4<f32>, 2> {
  let rowIn = rowInside(iy);
  let rb = rowOffset(xb, iy);
  let ok1 = in1 & rowIn;
  let e1 = select(vec2<f32>(0.0), normed(vec4<f32>(xat(rb + col1.x), xat(rb + col1.y), 0.0, 0.0)).xy, ok1.xy);
  return array<vec4<f32>, 2>(load4(rb, col0, in0 & rowIn), vec4<f32>(e1, 0.0, 0.0));
}

// a + the three taps t0..t2 of one kernel row over the input row e (4 pixels).
fn row3(a: Acc, e: array<vec4<f32>, 2>, t0: Tap, t1: Tap, t2: Tap) -> Acc {
  let e0 = e[0];
  let e1 = e[1];
  return step(step(step(a, e0, t0), vec4<f32>(e0.yzw, e1.x), t1), vec4<f32>(e0.zw, e1.xy), t2);
}

// The four output rows of a block.
struct Block {
  a0: Acc,
  a1: Acc,
  a2: Acc,
  a3: Acc,
}

// One kernel row (its three taps at wb) for the block's four output rows, over their input rows e0..e3.
fn kernelRow4(b: Block, e0: array<vec4<f32>, 2>, e1: array<vec4<f32>, 2>, e2: array<vec4<f32>, 2>, e3: array<vec4<f32>, 2>, wb: u32) -> Block {
  let t0 = tap(wb);
  let t1 = tap(wb + 4u);
  let t2 = tap(wb + 8u);
  return Block(row3(b.a0, e0, t0, t1, t2), row3(b.a1, e1, t0, t1, t2), row3(b.a2, e2, t0, t1, t2), row3(b.a3, e3, t0, t1, t2));
}

@compute @workgroup_size(WG)
fn conv3x3block(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.z * p.groups_x + wid.x) * WG + lid.x;
  let tiles_y = (p.ho + 3u) / 4u;
  let tiles = tiles_y * p.tiles_x;
  let lanes = p.n * tiles;
  let j = min(i, lanes - 1u);
  let n = j / tiles;
  let t = j - n * tiles;
  let oy0 = (t / p.tiles_x) * 4u;
  let ox0 = (t % p.tiles_x) * 4u;

  let ix = vec4<i32>(i32(ox0) - 1) + vec4<i32>(0, 1, 2, 3);
  let col0 = clampCol(ix);
  let col1 = clampCol(ix + 4);
  let in0 = insideCol(ix);
  let in1 = insideCol(ix + 4);
  let iy = i32(oy0) - 1;

  // blk.a<k>: output row oy0 + k.
  var blk = Block();
  let plane = p.h * p.w;
  var xb = n * p.cin * plane;
  var wb = wid.y * p.cin * 36u;
  for (var ci = 0u; ci < p.cin; ci++) {
    planeStats(n, ci);
    let r0 = loadRow6(xb, iy, col0, col1, in0, in1);
    let r1 = loadRow6(xb, iy + 1, col0, col1, in0, in1);
    let r2 = loadRow6(xb, iy + 2, col0, col1, in0, in1);
    let r3 = loadRow6(xb, iy + 3, col0, col1, in0, in1);
    let r4 = loadRow6(xb, iy + 4, col0, col1, in0, in1);
    let r5 = loadRow6(xb, iy + 5, col0, col1, in0, in1);
    // Kernel row ky (weights at wb + 12 ky): output row k reads input row k + ky.
    blk = kernelRow4(blk, r0, r1, r2, r3, wb);
    blk = kernelRow4(blk, r1, r2, r3, r4, wb + 12u);
    blk = kernelRow4(blk, r2, r3, r4, r5, wb + 24u);
    wb += 36u;
    xb += plane;
  }

  if (i >= lanes) { return; }
  let b = biasOf(wid.y);
  let co = wid.y * 16u;
  emit(blk.a0, b, n, co, oy0, ox0);
  if (oy0 + 1u < p.ho) { emit(blk.a1, b, n, co, oy0 + 1u, ox0); }
  if (oy0 + 2u < p.ho) { emit(blk.a2, b, n, co, oy0 + 2u, ox0); }
  if (oy0 + 3u < p.ho) { emit(blk.a3, b, n, co, oy0 + 3u, ox0); }
}

// conv3x3 on 2 x 2 images (CPU adapters; ResNet's last stage at 64 x 64): a<j> holds the four
// pixels (row-major) of image 4 * lane + j x 16 channels. Per input channel the invocation loads
// its four images' 4 inputs each and the 9 x 16 weights; tap (ky, kx) gives output (y, x) the
// input (y + ky - 1, x + kx - 1), zero outside: a swizzle of the four inputs. Each output sums over
// ci, ky, kx in conv3x3's order, padding terms included, so the results are the same bits.
// The nine taps of one input channel over one 2 x 2 image v, in conv3x3's (ky, kx) order.
fn quad9(a: Acc, v: vec4<f32>, t: array<Tap, 9>) -> Acc {
  var r = a;
  r = step(r, vec4<f32>(0.0, 0.0, 0.0, v.x), t[0]);
  r = step(r, vec4<f32>(0.0, 0.0, v.x, v.y), t[1]);
  r = step(r, vec4<f32>(0.0, 0.0, v.y, 0.0), t[2]);
  r = step(r, vec4<f32>(0.0, v.x, 0.0, v.z), t[3]);
  r = step(r, v, t[4]);
  r = step(r, vec4<f32>(v.y, 0.0, v.w, 0.0), t[5]);
  r = step(r, vec4<f32>(0.0, v.z, 0.0, 0.0), t[6]);
  r = step(r, vec4<f32>(v.z, v.w, 0.0, 0.0), t[7]);
  r = step(r, vec4<f32>(v.w, 0.0, 0.0, 0.0), t[8]);
  return r;
}

// The 2 x 2 plane of image n's input channel ci at b.
fn loadQuad(b: u32, n: u32, ci: u32) -> vec4<f32> {
  planeStats(n, ci);
  return normed(vec4<f32>(xat(b), xat(b + 1u), xat(b + 2u), xat(b + 3u)));
}

// Writes the 4 pixels x 16 channels of image n (2 x 2, row-major, contiguous per channel).
fn emitQuad(a: Acc, b: Tap, n: u32, co: u32) {
  let m = array<mat4x4<f32>, 4>(a.m0, a.m1, a.m2, a.m3);
  let bv = array<vec4<f32>, 4>(b.w0, b.w1, b.w2, b.w3);
  for (var v = 0u; v < 4u; v++) {
    for (var c = 0u; c < 4u; c++) {
      let ch = co + 4u * v + c;
      if (ch < p.cout) {
        let ob = (n * p.cout + ch) * 4u;
        let r = activate(m[v][c] + bv[v][c]);
        for (var j = 0u; j < 4u; j++) {
          var y = r[j];
          if (p.has_residual != 0u) { y += residual[select(ob + j, n * p.cout + ch, p.has_residual == 2u)]; }
          if (p.act == 2u) { y = max(y, 0.0); }
          Y[ob + j] = y;
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn conv3x3quad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.z * p.groups_x + wid.x) * WG + lid.x;
  let lanes = (p.n + 3u) / 4u;
  let n0 = min(i, lanes - 1u) * 4u;
  let last = p.n - 1u;
  let chan = p.cin * 4u;
  let m0 = min(n0, last);
  let m1 = min(n0 + 1u, last);
  let m2 = min(n0 + 2u, last);
  let m3 = min(n0 + 3u, last);
  var xb0 = m0 * chan;
  var xb1 = m1 * chan;
  var xb2 = m2 * chan;
  var xb3 = m3 * chan;

  var a0 = Acc();
  var a1 = Acc();
  var a2 = Acc();
  var a3 = Acc();
  var wb = wid.y * p.cin * 36u;
  for (var ci = 0u; ci < p.cin; ci++) {
    let v0 = loadQuad(xb0, m0, ci);
    let v1 = loadQuad(xb1, m1, ci);
    let v2 = loadQuad(xb2, m2, ci);
    let v3 = loadQuad(xb3, m3, ci);
    let t = array<Tap, 9>(tap(wb), tap(wb + 4u), tap(wb + 8u), tap(wb + 12u), tap(wb + 16u), tap(wb + 20u), tap(wb + 24u), tap(wb + 28u), tap(wb + 32u));
    a0 = quad9(a0, v0, t);
    a1 = quad9(a1, v1, t);
    a2 = quad9(a2, v2, t);
    a3 = quad9(a3, v3, t);
    wb += 36u;
    xb0 += 4u;
    xb1 += 4u;
    xb2 += 4u;
    xb3 += 4u;
  }

  if (i >= lanes) { return; }
  let b = biasOf(wid.y);
  let co = wid.y * 16u;
  emitQuad(a0, b, n0, co);
  if (n0 + 1u < p.n) { emitQuad(a1, b, n0 + 1u, co); }
  if (n0 + 2u < p.n) { emitQuad(a2, b, n0 + 2u, co); }
  if (n0 + 3u < p.n) { emitQuad(a3, b, n0 + 3u, co); }
}
