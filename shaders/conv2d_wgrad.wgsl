// Gradient of conv2d with respect to its weight (wgrad), NCHW f32, PyTorch layout [Cout, Cin, k, k]:
//
//   dw[co,ci,ky,kx] = sum over n, oy, ox of dy[n,co,oy,ox] * x[n,ci,oy*s+ky-pad,ox*s+kx-pad]
//
// A GEMM with a small output (Cout x Cin*k*k) and a huge reduction (N*Ho*Wo), computed as an
// implicit GEMM (taps outside x read zero; no im2col buffer) with split-K. The reduction runs in
// steps of 4 consecutive pixels of a dy row (the row's last step masks the pixels past its end);
// a slice is `steps_per_slice` consecutive steps and writes its partial sums to Out at
// slice * size, entry `reduce` then sums the slices into dw (adding to what dw holds when `add` is
// 1). A single slice writes (or adds to) dw directly. The grid is flat: invocation i works on lane
// i % lanes (its input channels) of block (i / lanes) % co_blocks of 16 output channels in slice
// i / (lanes * co_blocks), so no lane idles however few input channels there are.
//
// Register tiling without workgroup memory (conv2d.wgsl's header explains why; in short, a storage
// load costs the CPU adapters far more than an FMA). Per step an invocation loads the 16 output
// channels' dy at the 4 pixels (64 values, the same for the invocations of a block: one cache
// line on GPUs) and the x values its taps read (one window per kernel row: 3*s + k columns),
// then performs 16 x 4 x (its taps) FMAs, each accumulator taking 4 of them (dy as a mat4x4 times
// the 4 pixels' x):
//   wgrad3x3: k 3, any stride and pad: 4 input channels x 9 taps (2304 FMAs per 64 + 72 loads,
//             stride 1; the forward's conv3x3 does 768 per 68). The dy loads dominate: on
//             llvmpipe, reading dy costs as much as all the FMAs, so each dy value serves as
//             many input channels as compile time allows: 2 channels per lane ran 13-15
//             GFLOP/s there, 4 run 19-20 (llvmpipe compiles each stride in about 30 s), 8 were
//             no faster and took over 3 minutes to compile.
//   wgrad1x1: k 1, pad 0, any stride: 32 input channels (2048 FMAs per 64 + 128 loads; 16
//             channels ran 10 GFLOP/s on llvmpipe, 32 run 14-15).
//   wgrad:    any k <= 7 (the override KW): 4 kernel rows of one input channel, 4*KW taps (the
//             stem: 1792 FMAs per 64 + 52 loads; 2 rows ran 12.7 GFLOP/s on llvmpipe, 4 run 16.5).
// These are the WIDE tiles. Without WIDE each lane takes half as many input channels (kernel rows
// for `wgrad`): llvmpipe compiles those in a few seconds, so small convolutions (tests, small
// images), where the compile would take longer than the work, use them. Every accumulator sums
// the same products in the same order in both, so both give the same bits.
struct Params {
  cin: u32,            // input channels
  h: u32,              // input height
  w: u32,              // input width
  cout: u32,           // output channels (channels of dy)
  ho: u32,             // dy height
  wo: u32,             // dy width
  k: u32,              // kernel size (wgrad3x3 assumes 3, wgrad1x1 1, wgrad KW)
  stride: u32,         // stride
  pad: u32,            // zero padding above and left of the input (wgrad1x1 assumes 0)
  lanes: u32,          // invocations per (slice, block of 16 output channels)
  co_blocks: u32,      // blocks of 16 output channels: ceil(cout / 16)
  groups_x: u32,       // groups of 4 pixels per dy row: ceil(wo / 4)
  steps: u32,          // steps of the reduction (a group of 4 pixels of a dy row each): N * ho * groups_x
  steps_per_slice: u32, // steps per slice of the reduction
  size: u32,           // elements of dw: cout * cin * k * k
  slices: u32,         // reduce: partial sums to add up
  add: u32,            // 1: add the result to what Out holds (accumulating gradients), 0: overwrite
  row: u32,            // invocations per grid row (workgroups in x * WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read> Part: array<f32>;     // reduce: the slices' partial sums
@group(0) @binding(4) var<storage, read_write> Out: array<f32>; // dw, or the partial sums

override WG: u32 = 64u; // invocations per workgroup
override KW: u32 = 7u;  // wgrad: kernel width (1..7)
override S: u32 = 1u;   // stride (1 or 2)
override WIDE: bool = true; // the wide tile (see the header); false: half the channels or rows per lane

// One value per output channel of a block of 16: v<j> holds channels 4j .. 4j+3.
struct Co16 {
  v0: vec4<f32>,
  v1: vec4<f32>,
  v2: vec4<f32>,
  v3: vec4<f32>,
}

// dy of 16 output channels at 4 consecutive pixels: column j of m<v> holds channels 4v .. 4v+3
// of pixel j, so m<v> * x (x: one input value per pixel) is the 4 pixels' contribution.
struct Dy16 {
  m0: mat4x4<f32>,
  m1: mat4x4<f32>,
  m2: mat4x4<f32>,
  m3: mat4x4<f32>,
}

// a + d * x: the 16 channels' sums over 4 pixels (x holds the input value of each pixel).
fn mac(a: Co16, d: Dy16, x: vec4<f32>) -> Co16 {
  return Co16(a.v0 + d.m0 * x, a.v1 + d.m1 * x, a.v2 + d.m2 * x, a.v3 + d.m3 * x);
}

// Offsets of the dy planes of output channels co0 .. co0+15 (clamped into dy: channels past Cout
// are computed but never stored) within one image.
struct CoOffsets {
  o0: vec4<u32>,
  o1: vec4<u32>,
  o2: vec4<u32>,
  o3: vec4<u32>,
}

fn coOffsets(co0: u32) -> CoOffsets {
  let plane = p.ho * p.wo;
  let c = vec4<u32>(co0) + vec4<u32>(0u, 1u, 2u, 3u);
  let last = vec4<u32>(p.cout - 1u);
  return CoOffsets(min(c, last) * plane, min(c + 4u, last) * plane, min(c + 8u, last) * plane, min(c + 12u, last) * plane);
}

// Four channels (plane offsets o) at pixel offset b; zero where `ok` is false.
fn dyCol(b: u32, o: vec4<u32>, ok: bool) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(DY[b + o.x], DY[b + o.y], DY[b + o.z], DY[b + o.w]), ok);
}

fn dyMat(b: vec4<u32>, o: vec4<u32>, ok: vec4<bool>) -> mat4x4<f32> {
  return mat4x4<f32>(dyCol(b.x, o, ok.x), dyCol(b.y, o, ok.y), dyCol(b.z, o, ok.z), dyCol(b.w, o, ok.w));
}

fn dyAt(b: vec4<u32>, o: CoOffsets, ok: vec4<bool>) -> Dy16 {
  return Dy16(dyMat(b, o.o0, ok), dyMat(b, o.o1, ok), dyMat(b, o.o2, ok), dyMat(b, o.o3, ok));
}

// dy of the 16 channels at pixels b .. b+3 of a row (offsets within channel co0's plane), of
// which the first n lie inside the row: the others read the row's last pixel and count zero.
fn dy16(b: u32, o: CoOffsets, n: u32) -> Dy16 {
  let j = vec4<u32>(0u, 1u, 2u, 3u);
  return dyAt(vec4<u32>(b) + min(j, vec4<u32>(n - 1u)), o, j < vec4<u32>(n));
}

// Offset of input row iy of the plane at xb (clamped), and whether it lies inside the image.
fn rowOffset(xb: u32, iy: i32) -> u32 {
  return xb + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w;
}
fn rowInside(iy: i32) -> bool {
  return iy >= 0 && iy < i32(p.h);
}

// The steps of a slice of the reduction.
fn sliceSteps(slice: u32) -> vec2<u32> {
  let i0 = slice * p.steps_per_slice;
  return vec2<u32>(i0, min(i0 + p.steps_per_slice, p.steps));
}

// Step i of the reduction: pixels ox .. ox+3 of dy row oy of image n.
struct Step {
  n: u32,
  oy: u32,
  ox: u32,
}

fn stepAt(i: u32) -> Step {
  let r = i / p.groups_x;
  return Step(r / p.ho, r % p.ho, (i % p.groups_x) * 4u);
}

// What one invocation computes: its lane within a (slice, block of output channels), the block's
// first channel, its slice, and whether it lies within the grid at all.
struct Work {
  lane: u32,
  co0: u32,
  slice: u32,
  inside: bool,
}

fn work(gid: vec3<u32>) -> Work {
  let i = gid.x + gid.y * p.row;
  let rest = i / p.lanes;
  let slice = rest / p.co_blocks;
  return Work(i % p.lanes, (rest % p.co_blocks) * 16u, slice, slice < p.slices);
}

// Stores v for dw element i of slice `slice`: overwrite (or add, with a single slice).
fn put(slice: u32, i: u32, v: f32) {
  if (p.add == 1u) {
    Out[i] += v;
  } else {
    Out[slice * p.size + i] = v;
  }
}

// Stores the 16 output channels of one (input channel, tap) column of dw: element
// ((co0 + c) * cin + ci) * k * k + t.
fn put16(slice: u32, co0: u32, ci: u32, t: u32, a: Co16) {
  if (ci >= p.cin) { return; }
  let m = array<vec4<f32>, 4>(a.v0, a.v1, a.v2, a.v3);
  let kk = p.k * p.k;
  for (var c = 0u; c < 16u; c++) {
    let co = co0 + c;
    if (co < p.cout) { put(slice, (co * p.cin + ci) * kk + t, m[c / 4u][c % 4u]); }
  }
}

// The x values one row of taps reads for 4 consecutive output pixels: columns ix0 .. ix0+3s+KW-1
// (window element i is column ix0 + i); tap kx of pixel j reads element kx + s*j.
struct Win {
  w0: vec4<f32>,
  w1: vec4<f32>,
  w2: vec4<f32>,
  w3: vec4<f32>,
}

// x at offset rb of a row, columns ix0 .. ix0+3; zero outside the row or where `ok` is false.
// (One vector select: SwiftShader's compiler takes minutes and gigabytes for four scalar ones.)
// Only the first n columns are loaded (n is a constant where this is inlined).
fn xWin4(rb: u32, ix0: i32, ok: bool, n: u32) -> vec4<f32> {
  let ix = vec4<i32>(ix0) + vec4<i32>(0, 1, 2, 3);
  let col = vec4<u32>(clamp(ix, vec4<i32>(0), vec4<i32>(i32(p.w) - 1)));
  let inside = (ix >= vec4<i32>(0)) & (ix < vec4<i32>(i32(p.w))) & vec4<bool>(ok);
  var v = vec4<f32>(X[rb + col.x], 0.0, 0.0, 0.0);
  if (n > 1u) { v.y = X[rb + col.y]; }
  if (n > 2u) { v.z = X[rb + col.z]; }
  if (n > 3u) { v.w = X[rb + col.w]; }
  return select(vec4<f32>(0.0), v, inside);
}

// Loads the `len` (<= 16) window elements a row of taps reads (the others stay zero).
fn window(rb: u32, ix0: i32, ok: bool, len: u32) -> Win {
  var w = Win();
  w.w0 = xWin4(rb, ix0, ok, len);
  if (len > 4u) { w.w1 = xWin4(rb, ix0 + 4, ok, len - 4u); }
  if (len > 8u) { w.w2 = xWin4(rb, ix0 + 8, ok, len - 8u); }
  if (len > 12u) { w.w3 = xWin4(rb, ix0 + 12, ok, len - 12u); }
  return w;
}

fn elem(w: Win, i: u32) -> f32 {
  let v = array<vec4<f32>, 4>(w.w0, w.w1, w.w2, w.w3);
  return v[i / 4u][i % 4u];
}

// What tap kx reads for the 4 pixels (kx is a constant, S an override, so the indices are too).
fn pick(w: Win, kx: u32) -> vec4<f32> {
  return vec4<f32>(elem(w, kx), elem(w, kx + S), elem(w, kx + 2u * S), elem(w, kx + 3u * S));
}

// The 16 output channels of the three taps of one kernel row.
struct Row3 {
  t0: Co16,
  t1: Co16,
  t2: Co16,
}

fn macRow(a: Row3, d: Dy16, e: Win) -> Row3 {
  return Row3(mac(a.t0, d, pick(e, 0u)), mac(a.t1, d, pick(e, 1u)), mac(a.t2, d, pick(e, 2u)));
}

fn putRow(slice: u32, co0: u32, ci: u32, ky: u32, a: Row3) {
  put16(slice, co0, ci, 3u * ky, a.t0);
  put16(slice, co0, ci, 3u * ky + 1u, a.t1);
  put16(slice, co0, ci, 3u * ky + 2u, a.t2);
}

// The 9 taps of one input channel.
struct K3 {
  r0: Row3,
  r1: Row3,
  r2: Row3,
}

// a + one step's products for the input channel whose plane starts at xb: kernel row ky reads
// input row iy + ky from column ix on.
fn mac3x3(a: K3, d: Dy16, xb: u32, iy: i32, ix: i32) -> K3 {
  let len = 3u * S + 3u;
  return K3(macRow(a.r0, d, window(rowOffset(xb, iy), ix, rowInside(iy), len)),
            macRow(a.r1, d, window(rowOffset(xb, iy + 1), ix, rowInside(iy + 1), len)),
            macRow(a.r2, d, window(rowOffset(xb, iy + 2), ix, rowInside(iy + 2), len)));
}

fn put3x3(slice: u32, co0: u32, ci: u32, a: K3) {
  putRow(slice, co0, ci, 0u, a.r0);
  putRow(slice, co0, ci, 1u, a.r1);
  putRow(slice, co0, ci, 2u, a.r2);
}

@compute @workgroup_size(WG)
fn wgrad3x3(@builtin(global_invocation_id) gid: vec3<u32>) {
  let job = work(gid);
  if (!job.inside) { return; }
  // Input channels ci0 .. ci0 + 3 (WIDE) or ci0, ci0 + 1 (clamped: a channel past Cin is
  // computed, never stored).
  let ci0 = select(2u, 4u, WIDE) * job.lane;
  let last = p.cin - 1u;
  let co0 = job.co0;
  let co = coOffsets(co0);
  let range = sliceSteps(job.slice);
  let plane = p.h * p.w;
  var a = K3();
  var b = K3();
  var c = K3();
  var e = K3();
  for (var i = range.x; i < range.y; i++) {
    let st = stepAt(i);
    let d = dy16(st.n * p.cout * p.ho * p.wo + st.oy * p.wo + st.ox, co, p.wo - st.ox);
    let iy = i32(st.oy * S) - i32(p.pad);
    let ix = i32(st.ox * S) - i32(p.pad);
    let xn = st.n * p.cin;
    a = mac3x3(a, d, (xn + ci0) * plane, iy, ix);
    b = mac3x3(b, d, (xn + min(ci0 + 1u, last)) * plane, iy, ix);
    if (WIDE) {
      c = mac3x3(c, d, (xn + min(ci0 + 2u, last)) * plane, iy, ix);
      e = mac3x3(e, d, (xn + min(ci0 + 3u, last)) * plane, iy, ix);
    }
  }
  put3x3(job.slice, co0, ci0, a);
  put3x3(job.slice, co0, ci0 + 1u, b);
  if (WIDE) {
    put3x3(job.slice, co0, ci0 + 2u, c);
    put3x3(job.slice, co0, ci0 + 3u, e);
  }
}

// The 16 output channels of four input channels.
struct Ci4 {
  c0: Co16,
  c1: Co16,
  c2: Co16,
  c3: Co16,
}

// x of the input planes at offsets b + o (four channels) at the 4 pixels' columns j.
fn x4(b: u32, j: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(X[b + j.x], X[b + j.y], X[b + j.z], X[b + j.w]);
}

fn macCi4(a: Ci4, d: Dy16, b: u32, o: vec4<u32>, j: vec4<u32>) -> Ci4 {
  return Ci4(mac(a.c0, d, x4(b + o.x, j)), mac(a.c1, d, x4(b + o.y, j)), mac(a.c2, d, x4(b + o.z, j)), mac(a.c3, d, x4(b + o.w, j)));
}

fn putCi4(slice: u32, co0: u32, ci: u32, a: Ci4) {
  put16(slice, co0, ci, 0u, a.c0);
  put16(slice, co0, ci + 1u, 0u, a.c1);
  put16(slice, co0, ci + 2u, 0u, a.c2);
  put16(slice, co0, ci + 3u, 0u, a.c3);
}

@compute @workgroup_size(WG)
fn wgrad1x1(@builtin(global_invocation_id) gid: vec3<u32>) {
  let job = work(gid);
  if (!job.inside) { return; }
  let lane = job.lane;
  let ci0 = lane * select(16u, 32u, WIDE);
  let co0 = job.co0;
  let co = coOffsets(co0);
  let range = sliceSteps(job.slice);
  let plane = p.h * p.w;
  // Offsets of the 16 input planes (clamped: channels past Cin are computed, never stored).
  let last = vec4<u32>(p.cin - 1u);
  let c = vec4<u32>(ci0) + vec4<u32>(0u, 1u, 2u, 3u);
  let o0 = min(c, last) * plane;
  let o1 = min(c + 4u, last) * plane;
  let o2 = min(c + 8u, last) * plane;
  let o3 = min(c + 12u, last) * plane;
  let o4 = min(c + 16u, last) * plane;
  let o5 = min(c + 20u, last) * plane;
  let o6 = min(c + 24u, last) * plane;
  let o7 = min(c + 28u, last) * plane;
  // a<g>: input channels ci0 + 4g .. ci0 + 4g + 3.
  var a0 = Ci4();
  var a1 = Ci4();
  var a2 = Ci4();
  var a3 = Ci4();
  var a4 = Ci4();
  var a5 = Ci4();
  var a6 = Ci4();
  var a7 = Ci4();
  for (var i = range.x; i < range.y; i++) {
    let st = stepAt(i);
    let xr = st.n * p.cin * plane + st.oy * S * p.w;
    let d = dy16(st.n * p.cout * p.ho * p.wo + st.oy * p.wo + st.ox, co, p.wo - st.ox);
    // Input columns of the 4 pixels; pixels past the row's end read its last pixel (their dy is zero).
    let j = min(vec4<u32>(st.ox) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.wo - 1u)) * S;
    a0 = macCi4(a0, d, xr, o0, j);
    a1 = macCi4(a1, d, xr, o1, j);
    a2 = macCi4(a2, d, xr, o2, j);
    a3 = macCi4(a3, d, xr, o3, j);
    if (WIDE) {
      a4 = macCi4(a4, d, xr, o4, j);
      a5 = macCi4(a5, d, xr, o5, j);
      a6 = macCi4(a6, d, xr, o6, j);
      a7 = macCi4(a7, d, xr, o7, j);
    }
  }

  putCi4(job.slice, co0, ci0, a0);
  putCi4(job.slice, co0, ci0 + 4u, a1);
  putCi4(job.slice, co0, ci0 + 8u, a2);
  putCi4(job.slice, co0, ci0 + 12u, a3);
  if (WIDE) {
    putCi4(job.slice, co0, ci0 + 16u, a4);
    putCi4(job.slice, co0, ci0 + 20u, a5);
    putCi4(job.slice, co0, ci0 + 24u, a6);
    putCi4(job.slice, co0, ci0 + 28u, a7);
  }
}

// The 16 output channels of the KW (<= 7) taps of one kernel row.
struct Row7 {
  t0: Co16,
  t1: Co16,
  t2: Co16,
  t3: Co16,
  t4: Co16,
  t5: Co16,
  t6: Co16,
}

fn macRow7(a: Row7, d: Dy16, e: Win) -> Row7 {
  var r = a;
  r.t0 = mac(a.t0, d, pick(e, 0u));
  if (KW > 1u) { r.t1 = mac(a.t1, d, pick(e, 1u)); }
  if (KW > 2u) { r.t2 = mac(a.t2, d, pick(e, 2u)); }
  if (KW > 3u) { r.t3 = mac(a.t3, d, pick(e, 3u)); }
  if (KW > 4u) { r.t4 = mac(a.t4, d, pick(e, 4u)); }
  if (KW > 5u) { r.t5 = mac(a.t5, d, pick(e, 5u)); }
  if (KW > 6u) { r.t6 = mac(a.t6, d, pick(e, 6u)); }
  return r;
}

fn putRow7(slice: u32, co0: u32, ci: u32, ky: u32, a: Row7) {
  if (ky >= KW) { return; }
  let t = ky * KW;
  put16(slice, co0, ci, t, a.t0);
  if (KW > 1u) { put16(slice, co0, ci, t + 1u, a.t1); }
  if (KW > 2u) { put16(slice, co0, ci, t + 2u, a.t2); }
  if (KW > 3u) { put16(slice, co0, ci, t + 3u, a.t3); }
  if (KW > 4u) { put16(slice, co0, ci, t + 4u, a.t4); }
  if (KW > 5u) { put16(slice, co0, ci, t + 5u, a.t5); }
  if (KW > 6u) { put16(slice, co0, ci, t + 6u, a.t6); }
}

@compute @workgroup_size(WG)
fn wgrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let job = work(gid);
  if (!job.inside) { return; }
  // Each invocation owns kernel rows ky0 .. ky0 + 3 (WIDE) or ky0, ky0 + 1 of one input channel;
  // rows past the kernel read zeros and are never stored.
  let lane = job.lane;
  let rows = select(2u, 4u, WIDE);
  let groups = (KW + rows - 1u) / rows;
  let ci = lane / groups;
  let ky0 = rows * (lane % groups);
  let co0 = job.co0;
  let co = coOffsets(co0);
  let range = sliceSteps(job.slice);
  let len = 3u * S + KW;
  let plane = p.h * p.w;
  var a = Row7();
  var b = Row7();
  var c = Row7();
  var e = Row7();
  for (var i = range.x; i < range.y; i++) {
    let st = stepAt(i);
    let xb = (st.n * p.cin + ci) * plane;
    let iy = i32(st.oy * S + ky0) - i32(p.pad);
    let ok = vec4<bool>(rowInside(iy), rowInside(iy + 1) && ky0 + 1u < KW, rowInside(iy + 2) && ky0 + 2u < KW, rowInside(iy + 3) && ky0 + 3u < KW);
    let d = dy16(st.n * p.cout * p.ho * p.wo + st.oy * p.wo + st.ox, co, p.wo - st.ox);
    let ix = i32(st.ox * S) - i32(p.pad);
    a = macRow7(a, d, window(rowOffset(xb, iy), ix, ok.x, len));
    b = macRow7(b, d, window(rowOffset(xb, iy + 1), ix, ok.y, len));
    if (WIDE) {
      c = macRow7(c, d, window(rowOffset(xb, iy + 2), ix, ok.z, len));
      e = macRow7(e, d, window(rowOffset(xb, iy + 3), ix, ok.w, len));
    }
  }

  putRow7(job.slice, co0, ci, ky0, a);
  putRow7(job.slice, co0, ci, ky0 + 1u, b);
  if (WIDE) {
    putRow7(job.slice, co0, ci, ky0 + 2u, c);
    putRow7(job.slice, co0, ci, ky0 + 3u, e);
  }
}

@compute @workgroup_size(WG)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.size) { return; }
  var sum = 0.0;
  for (var j = 0u; j < p.slices; j++) {
    sum += Part[j * p.size + i];
  }
  if (p.add == 1u) { sum += Out[i]; }
  Out[i] = sum;
}
