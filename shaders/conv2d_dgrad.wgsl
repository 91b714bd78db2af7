// Gradient of conv2d with respect to its input (dgrad), and the GPU re-layouts of PyTorch conv
// weights [Cout, Cin, k, k] that the forward kernel (conv2d.wgsl) and dgrad read. NCHW f32.
//
//   dx[n,ci,iy,ix] = sum over co, ky, kx with iy = oy*s + ky - pad, ix = ox*s + kx - pad of
//                    dy[n,co,oy,ox] * w[co,ci,ky,kx]
//
// This is a convolution of dy, upsampled by s with zeros, with the transposed and flipped kernel
// wf[ci,co,ky',kx'] = w[co,ci,k-1-ky',k-1-kx'] and padding pad' = k-1-pad. For stride 1 with
// pad = (k-1)/2 it is an ordinary 'same' convolution, which src/kernels/conv2d-grad.ts hands to
// the forward kernel. Entries `dgrad` and `dgrad4` serve every other case without reading the
// zeros, one dispatch per parity class (iy % s, ix % s) = (py, px) of dx: its pixels receive the
// flipped taps ky' = ky0, ky0 + s, ... (NKY of them; likewise NKX along x), and class pixel
// (my, mx) (iy = my*s + py) reads dy row oy = my + (py + ky' - pad') / s, column
// mx + (px + kx' - pad') / s. Consecutive class pixels read consecutive dy columns, so a class is a
// stride-1 convolution of dy with an NKY x NKX sub-kernel. A class without taps (three of the four
// of a 1x1 stride-2 conv) gets zeros from `dgrad_zero`.
//
// Tiling as conv2d.wgsl's (whose header explains it: named accumulators, no workgroup memory):
// 4*PV consecutive class pixels of a row x 16 input channels per invocation (`dgrad`; for few
// input channels, as the stem's 3, `dgrad4`: 16*PV pixels x 4 channels, which reads as many dy
// values per FMA as the 16-channel tile wastes on padding there); workgroup_id.y picks the channel
// block; lanes run over the class tiles of the whole batch (workgroup_id.x, continued along z). Per output channel and kernel row an invocation loads the
// 4*G + NKX - 1 dy values its taps share once (G groups of 4 pixels), then each tap's weights.
// The tap counts are override constants and the tap loops are written out, so that only the loop
// over output channels remains at run time. Measured on the CPU adapters: llvmpipe runs the body
// of a branch on a uniform run-time condition even when no lane takes it (guarding seven
// written-out taps by the run-time tap count made the 1x1 stride-2 case ten times slower), and on
// SwiftShader an inner tap loop of one iteration made the same case three times slower.
//
// Weights: `layout_fwd` writes the forward layout [ceil(Cout/16)][Cin][k][k][16] (output channels
// zero-padded), `layout_dgrad` the flipped transposed one [ceil(Cin/16)][Cout][k][k'][16] (input
// channels zero-padded), one invocation per laid-out value, so that weights an optimizer updated
// in PyTorch layout reach the kernels without a trip to the CPU.
struct Params {
  cin: u32,      // dx channels (the forward's input channels)
  h: u32,        // dx height
  w: u32,        // dx width
  cout: u32,     // dy channels (the forward's output channels)
  ho: u32,       // dy height
  wo: u32,       // dy width
  k: u32,        // kernel size
  stride: u32,   // the forward's stride s (1 or 2)
  pad: u32,      // the forward's zero padding
  py: u32,       // dgrad: the parity class's row (iy % s)
  px: u32,       // dgrad: the parity class's column (ix % s)
  rows: u32,     // dgrad: rows of the class's grid, ceil(h / s)
  tiles_x: u32,  // dgrad: pixel tiles per class row
  count: u32,    // layout: values to write (blocks * channels * k * k * 16); dgrad_zero: pixels to zero
  row: u32,      // layout, dgrad_zero: invocations per grid row (workgroups in x * WG)
  n: u32,        // dgrad: images in the batch
  groups_x: u32, // dgrad: workgroups along x (the lane index is (wid.z * groups_x + wid.x) * WG + lid.x)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Src: array<f32>;        // dgrad: dy; layout: PyTorch weights
@group(0) @binding(2) var<storage, read> Wt: array<vec4<f32>>;   // dgrad: layout_dgrad's weights
@group(0) @binding(3) var<storage, read_write> Dst: array<f32>;  // dgrad: dx; layout: the laid-out weights

override WG: u32 = 64u; // invocations per workgroup
override PV: u32 = 4u;  // dgrad: groups of 4 class pixels per invocation (1..4); dgrad4: of 16
override NKY: u32 = 1u; // dgrad: taps of the class along y (0..7)
override NKX: u32 = 1u; // dgrad: taps of the class along x (0..7)

// Four pixel groups' worth of accumulators: 16 channels x 4 pixels (dgrad: column c of m<v> holds
// channel 4v + c) or 4 channels x 4 groups of 4 pixels (dgrad4: m<v> is group v, column c channel c).
struct Acc {
  m0: mat4x4<f32>,
  m1: mat4x4<f32>,
  m2: mat4x4<f32>,
  m3: mat4x4<f32>,
}

// The flipped weights of one tap for the 16 input channels of a block.
struct Tap {
  w0: vec4<f32>,
  w1: vec4<f32>,
  w2: vec4<f32>,
  w3: vec4<f32>,
}

fn tap(i: u32) -> Tap {
  return Tap(Wt[i], Wt[i + 1u], Wt[i + 2u], Wt[i + 3u]);
}

fn outer(x: vec4<f32>, w: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(x * w.x, x * w.y, x * w.z, x * w.w);
}

// a + d (4 pixels) outer t (16 channels).
fn step(a: Acc, d: vec4<f32>, t: Tap) -> Acc {
  return Acc(a.m0 + outer(d, t.w0), a.m1 + outer(d, t.w1), a.m2 + outer(d, t.w2), a.m3 + outer(d, t.w3));
}

// Four dy values at columns ox0.. of row offset `rb`; zero outside dy. (One vector select:
// SwiftShader's compiler takes minutes and gigabytes for four scalar ones.)
fn load4(rb: u32, ox0: i32, rowIn: bool) -> vec4<f32> {
  let ox = vec4<i32>(ox0) + vec4<i32>(0, 1, 2, 3);
  let col = vec4<u32>(clamp(ox, vec4<i32>(0), vec4<i32>(i32(p.wo) - 1)));
  let ok = (ox >= vec4<i32>(0)) & (ox < vec4<i32>(i32(p.wo))) & vec4<bool>(rowIn);
  return select(vec4<f32>(0.0), vec4<f32>(Src[rb + col.x], Src[rb + col.y], Src[rb + col.z], Src[rb + col.w]), ok);
}

// The dy values one kernel row of a class reads for 4*G consecutive class pixels: 4*G + NKX - 1
// columns from ox0 on, e<i> holding ox0 + 4i .. ox0 + 4i + 3 (G <= 16, i <= G + 1).
struct Win {
  e0: vec4<f32>, e1: vec4<f32>, e2: vec4<f32>, e3: vec4<f32>, e4: vec4<f32>, e5: vec4<f32>,
  e6: vec4<f32>, e7: vec4<f32>, e8: vec4<f32>, e9: vec4<f32>, e10: vec4<f32>, e11: vec4<f32>,
  e12: vec4<f32>, e13: vec4<f32>, e14: vec4<f32>, e15: vec4<f32>, e16: vec4<f32>, e17: vec4<f32>,
}

// Loads the window of the row at offset rb (G a constant, so the guards fold).
fn window(rb: u32, ox0: i32, rowIn: bool, G: u32) -> Win {
  let n = 4u * G + NKX - 1u;
  var w = Win();
  w.e0 = load4(rb, ox0, rowIn);
  if (n > 4u) { w.e1 = load4(rb, ox0 + 4, rowIn); }
  if (n > 8u) { w.e2 = load4(rb, ox0 + 8, rowIn); }
  if (n > 12u) { w.e3 = load4(rb, ox0 + 12, rowIn); }
  if (n > 16u) { w.e4 = load4(rb, ox0 + 16, rowIn); }
  if (n > 20u) { w.e5 = load4(rb, ox0 + 20, rowIn); }
  if (n > 24u) { w.e6 = load4(rb, ox0 + 24, rowIn); }
  if (n > 28u) { w.e7 = load4(rb, ox0 + 28, rowIn); }
  if (n > 32u) { w.e8 = load4(rb, ox0 + 32, rowIn); }
  if (n > 36u) { w.e9 = load4(rb, ox0 + 36, rowIn); }
  if (n > 40u) { w.e10 = load4(rb, ox0 + 40, rowIn); }
  if (n > 44u) { w.e11 = load4(rb, ox0 + 44, rowIn); }
  if (n > 48u) { w.e12 = load4(rb, ox0 + 48, rowIn); }
  if (n > 52u) { w.e13 = load4(rb, ox0 + 52, rowIn); }
  if (n > 56u) { w.e14 = load4(rb, ox0 + 56, rowIn); }
  if (n > 60u) { w.e15 = load4(rb, ox0 + 60, rowIn); }
  if (n > 64u) { w.e16 = load4(rb, ox0 + 64, rowIn); }
  if (n > 68u) { w.e17 = load4(rb, ox0 + 68, rowIn); }
  return w;
}

// Window vector i (a constant).
fn vecAt(w: Win, i: u32) -> vec4<f32> {
  switch (i) {
    case 0u: { return w.e0; }
    case 1u: { return w.e1; }
    case 2u: { return w.e2; }
    case 3u: { return w.e3; }
    case 4u: { return w.e4; }
    case 5u: { return w.e5; }
    case 6u: { return w.e6; }
    case 7u: { return w.e7; }
    case 8u: { return w.e8; }
    case 9u: { return w.e9; }
    case 10u: { return w.e10; }
    case 11u: { return w.e11; }
    case 12u: { return w.e12; }
    case 13u: { return w.e13; }
    case 14u: { return w.e14; }
    case 15u: { return w.e15; }
    case 16u: { return w.e16; }
    default: { return w.e17; }
  }
}

// What tap b of a row reads for pixel group g (both constants): window values 4g + b .. 4g + b + 3.
fn tapVec(w: Win, g: u32, b: u32) -> vec4<f32> {
  let a = vecAt(w, g + b / 4u);
  let c = vecAt(w, g + b / 4u + 1u);
  switch (b % 4u) {
    case 0u: { return a; }
    case 1u: { return vec4<f32>(a.yzw, c.x); }
    case 2u: { return vec4<f32>(a.zw, c.xy); }
    default: { return vec4<f32>(a.w, c.xyz); }
  }
}

// All accumulators of an invocation: dgrad: a<g> the 16 channels x 4 pixels of group g; dgrad4:
// a<q>.m<v> the 4 channels x 4 pixels of group 4q + v.
struct Accs {
  a0: Acc,
  a1: Acc,
  a2: Acc,
  a3: Acc,
}

// dgrad: tap b of a kernel row (weights t) for the PV pixel groups.
fn step16(a: Accs, w: Win, b: u32, t: Tap) -> Accs {
  var r = a;
  r.a0 = step(a.a0, tapVec(w, 0u, b), t);
  if (PV > 1u) { r.a1 = step(a.a1, tapVec(w, 1u, b), t); }
  if (PV > 2u) { r.a2 = step(a.a2, tapVec(w, 2u, b), t); }
  if (PV > 3u) { r.a3 = step(a.a3, tapVec(w, 3u, b), t); }
  return r;
}

// dgrad4: pixel groups 4q .. 4q+3, tap b, weights t of the 4 channels.
fn step4q(a: Acc, w: Win, q: u32, b: u32, t: vec4<f32>) -> Acc {
  return Acc(
    a.m0 + outer(tapVec(w, 4u * q, b), t),
    a.m1 + outer(tapVec(w, 4u * q + 1u, b), t),
    a.m2 + outer(tapVec(w, 4u * q + 2u, b), t),
    a.m3 + outer(tapVec(w, 4u * q + 3u, b), t),
  );
}

fn step4(a: Accs, w: Win, b: u32, t: vec4<f32>) -> Accs {
  var r = a;
  r.a0 = step4q(a.a0, w, 0u, b, t);
  if (PV > 1u) { r.a1 = step4q(a.a1, w, 1u, b, t); }
  if (PV > 2u) { r.a2 = step4q(a.a2, w, 2u, b, t); }
  if (PV > 3u) { r.a3 = step4q(a.a3, w, 3u, b, t); }
  return r;
}

// Tap b (a constant) of a kernel row whose first tap's weights are at tb: kx = kx0 + b*s.
fn tapAt(a: Accs, w: Win, tb: u32, b: u32, four: bool) -> Accs {
  let t = tb + b * 4u * p.stride;
  if (four) { return step4(a, w, b, Wt[t]); }
  return step16(a, w, b, tap(t));
}

// Kernel row r (a constant) of the class for one output channel: flipped row ky0 + r*s, dy row
// oy0 + r of the channel's plane at yb, weights of its first tap at tb + r * 4*s*k. `four`: the
// 4-channel tile of dgrad4 (G = 4*PV groups), else dgrad's (G = PV).
fn kernelRow(a: Accs, yb: u32, oy0: i32, ox0: i32, tb: u32, r: u32, four: bool) -> Accs {
  let oy = oy0 + i32(r);
  let rowIn = oy >= 0 && oy < i32(p.ho);
  let w = window(yb + u32(clamp(oy, 0, i32(p.ho) - 1)) * p.wo, ox0, rowIn, select(PV, 4u * PV, four));
  let t = tb + r * 4u * p.stride * p.k;
  var s = a;
  if (NKX > 0u) { s = tapAt(s, w, t, 0u, four); }
  if (NKX > 1u) { s = tapAt(s, w, t, 1u, four); }
  if (NKX > 2u) { s = tapAt(s, w, t, 2u, four); }
  if (NKX > 3u) { s = tapAt(s, w, t, 3u, four); }
  if (NKX > 4u) { s = tapAt(s, w, t, 4u, four); }
  if (NKX > 5u) { s = tapAt(s, w, t, 5u, four); }
  if (NKX > 6u) { s = tapAt(s, w, t, 6u, four); }
  return s;
}

// Writes input channel ci at class pixels mx..mx+3 of dx row iy, image n, within bounds.
fn put(n: u32, ci: u32, iy: u32, mx: u32, v: vec4<f32>) {
  if (ci >= p.cin || iy >= p.h) { return; }
  let rb = ((n * p.cin + ci) * p.h + iy) * p.w;
  for (var j = 0u; j < 4u; j++) {
    let ix = (mx + j) * p.stride + p.px;
    if (ix < p.w) { Dst[rb + ix] = v[j]; }
  }
}

// dgrad: writes the 16 channels x 4 pixels of `a` (channels ci.., class pixels mx..).
fn emit16(a: Acc, n: u32, ci: u32, iy: u32, mx: u32) {
  let m = array<mat4x4<f32>, 4>(a.m0, a.m1, a.m2, a.m3);
  for (var v = 0u; v < 4u; v++) {
    for (var c = 0u; c < 4u; c++) {
      put(n, ci + 4u * v + c, iy, mx, m[v][c]);
    }
  }
}

// dgrad4: writes the 4 channels x 16 pixels of `a` (channels ci.., class pixels mx.., group v at mx + 4v).
fn emit4(a: Acc, n: u32, ci: u32, iy: u32, mx: u32) {
  let m = array<mat4x4<f32>, 4>(a.m0, a.m1, a.m2, a.m3);
  for (var v = 0u; v < 4u; v++) {
    for (var c = 0u; c < 4u; c++) {
      put(n, ci + c, iy, mx + 4u * v, m[v][c]);
    }
  }
}

// The first flipped tap of parity class `q` along one axis, and the dy index offset it reads:
// tap ky' reaches dy index m + (q + ky' - pad') / s from class index m when q + ky' - pad' is a
// multiple of s.
fn firstTap(q: u32) -> vec2<i32> {
  let s = i32(p.stride);
  let padf = i32(p.k - 1u - p.pad);
  let t0 = ((padf - i32(q)) % s + s) % s;
  return vec2<i32>(t0, (i32(q) + t0 - padf) / s);
}

// Where an invocation's sums start: dy row and column of the class's first tap (class row my,
// first class column mx0), and the weight vec4 of that tap (channels from vec4 wv on).
struct Start {
  oy: i32,
  ox: i32,
  tb: u32,
}

fn start(my: u32, mx0: u32, wv: u32) -> Start {
  let ty = firstTap(p.py);
  let tx = firstTap(p.px);
  return Start(i32(my) + ty.y, i32(mx0) + tx.y, wv + (u32(ty.x) * p.k + u32(tx.x)) * 4u);
}

// The sums of one invocation over all output channels and the class's taps: class row my,
// pixels from class column mx0, channels from weight vec4 wv on. The tap loops are unrolled
// (NKY, NKX constants), so only the loop over output channels carries the accumulators.
fn accumulate(n: u32, my: u32, mx0: u32, wv: u32, four: bool) -> Accs {
  let st = start(my, mx0, wv);
  let plane = p.ho * p.wo;
  var a = Accs();
  var yb = n * p.cout * plane;
  var tb = st.tb;
  for (var co = 0u; co < p.cout; co++) {
    if (NKY > 0u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 0u, four); }
    if (NKY > 1u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 1u, four); }
    if (NKY > 2u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 2u, four); }
    if (NKY > 3u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 3u, four); }
    if (NKY > 4u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 4u, four); }
    if (NKY > 5u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 5u, four); }
    if (NKY > 6u) { a = kernelRow(a, yb, st.oy, st.ox, tb, 6u, four); }
    yb += plane;
    tb += p.k * p.k * 4u;
  }
  return a;
}

// The class tile of one invocation: image n, class row my, first class column mx0 (tiles of
// `width` pixels). Lanes run over the tiles of the whole batch, image by image, so that the few
// tiles of small images fill the workgroups; lanes past the last tile (live false) compute the
// last tile again and store nothing.
struct Lane {
  n: u32,
  my: u32,
  mx0: u32,
  live: bool,
}

fn lane(wid: vec3<u32>, lid: vec3<u32>, width: u32) -> Lane {
  let i = (wid.z * p.groups_x + wid.x) * WG + lid.x;
  let tiles = p.rows * p.tiles_x;
  let lanes = p.n * tiles;
  let j = min(i, lanes - 1u);
  let n = j / tiles;
  let t = j - n * tiles;
  return Lane(n, t / p.tiles_x, (t % p.tiles_x) * width, i < lanes);
}

@compute @workgroup_size(WG)
fn dgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let l = lane(wid, lid, 4u * PV);
  let a = accumulate(l.n, l.my, l.mx0, wid.y * p.cout * p.k * p.k * 4u, false);
  if (!l.live) { return; }
  let iy = l.my * p.stride + p.py;
  let ci = wid.y * 16u;
  emit16(a.a0, l.n, ci, iy, l.mx0);
  if (PV > 1u) { emit16(a.a1, l.n, ci, iy, l.mx0 + 4u); }
  if (PV > 2u) { emit16(a.a2, l.n, ci, iy, l.mx0 + 8u); }
  if (PV > 3u) { emit16(a.a3, l.n, ci, iy, l.mx0 + 12u); }
}

// dgrad for few input channels: 4 channels (workgroup_id.y picks the block of 4) x 16*PV pixels.
@compute @workgroup_size(WG)
fn dgrad4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let l = lane(wid, lid, 16u * PV);
  // The 4 channels are vec4 (wid.y % 4) of their block of 16 in the weights.
  let a = accumulate(l.n, l.my, l.mx0, (wid.y / 4u) * p.cout * p.k * p.k * 4u + wid.y % 4u, true);
  if (!l.live) { return; }
  let iy = l.my * p.stride + p.py;
  let ci = wid.y * 4u;
  emit4(a.a0, l.n, ci, iy, l.mx0);
  if (PV > 1u) { emit4(a.a1, l.n, ci, iy, l.mx0 + 16u); }
  if (PV > 2u) { emit4(a.a2, l.n, ci, iy, l.mx0 + 32u); }
  if (PV > 3u) { emit4(a.a3, l.n, ci, iy, l.mx0 + 48u); }
}

// A parity class without taps (1x1 stride 2): zero at its pixels, one invocation each (p.count).
@compute @workgroup_size(WG)
fn dgrad_zero(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.count) { return; }
  let cols = (p.w - p.px + p.stride - 1u) / p.stride;
  let rows = (p.h - p.py + p.stride - 1u) / p.stride;
  let r = i / cols;
  Dst[((r / rows) * p.h + (r % rows) * p.stride + p.py) * p.w + (i % cols) * p.stride + p.px] = 0.0;
}

// Index of laid-out value `gid` (a 2-D grid of p.row invocations per row), or p.count when past the end.
fn layoutIndex(gid: vec3<u32>) -> u32 {
  return min(gid.x + gid.y * p.row, p.count);
}

// [ceil(Cout/16)][Cin][k][k][16] from [Cout][Cin][k][k]: value (block b, tap t of all Cin*k*k, lane j)
// is w[16b + j][t], zero past Cout.
@compute @workgroup_size(WG)
fn layout_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = layoutIndex(gid);
  if (i >= p.count) { return; }
  let taps = p.cin * p.k * p.k;
  let co = (i / (16u * taps)) * 16u + i % 16u;
  let t = (i / 16u) % taps;
  Dst[i] = select(0.0, Src[min(co, p.cout - 1u) * taps + t], co < p.cout);
}

// [ceil(Cin/16)][Cout][k][k][16] from [Cout][Cin][k][k], flipped: value (block b, output channel co,
// flipped tap t', lane j) is w[co][16b + j][k*k-1-t'], zero past Cin.
@compute @workgroup_size(WG)
fn layout_dgrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = layoutIndex(gid);
  if (i >= p.count) { return; }
  let kk = p.k * p.k;
  let r = i / 16u;
  let tf = r % kk;
  let co = (r / kk) % p.cout;
  let ci = (r / (kk * p.cout)) * 16u + i % 16u;
  Dst[i] = select(0.0, Src[(co * p.cin + min(ci, p.cin - 1u)) * kk + kk - 1u - tf], ci < p.cin);
}
