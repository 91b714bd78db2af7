// A batched GEMM with 16-channel register blocks: M[q][co][t] = sum over ci of U[block(co)][q][ci][co % 16] * V[q][ci][t].
// Two uses (src/kernels/conv2d-winograd.ts, src/kernels/conv1x1-gemm.ts):
// - the Winograd F(4x4, 3x3) product over input channels (see winograd.wgsl) for the 36
//   positions q, U [36][Cin][blocks][16], V [36][Cin][tpad] and M [36][channels][tpad] over the
//   tiles;
// - the 1x1 stride-1 convolution on CPU adapters, q the image: V = x [N][Cin][H*W],
//   U the conv2d layout [blocks][Cin][16] (no position stride), M = y [N][Cout][H*W] with
//   conv2d's bias, activation and residual applied as it is stored (Cout a multiple of 16).
// U's vec4 for (block, q, ci) is at block * u_block + q * u_pos + ci * u_ci.
// Entry main: one GEMM per q (workgroup_id.z). An invocation computes 4 TG columns ("tiles") x
// 16 output channels (workgroup_id.x picks the block), as conv2d.wgsl's register tile: per input
// channel four vec4 of U (the same for every invocation of the workgroup) and TG vec4 of V, then
// 64 TG FMAs; the sum over ci runs in order, so the result does not depend on the chunking of
// the tiles, and each output is conv2d.wgsl's sum (the same operations in the same order: the
// same bits as its conv1x1). No workgroup memory (see conv2d.wgsl on CPU adapters). Consecutive
// lanes read consecutive vec4 of a row of V (see main). U and V come from storage or from texel
// mirrors of their bindings (src/gpu/texels.ts), the same values.
// Measured on llvmpipe at 256x256, 128 channels, operands in storage: 16 tiles x 16 channels beat
// 8 x 32 (-14%) and 4 x 64 (-44%). Entry channels (below) serves chunks of few tiles.
struct Params {
  cin: u32,          // input channels: the sum's length
  tpad: u32,         // columns per row of V and M (a multiple of 4 TG, or of 4 TC)
  co_pad: u32,       // output channels per q of M (a multiple of 16)
  u_block: u32,      // vec4 stride of U between blocks of 16 output channels
  u_pos: u32,        // vec4 stride of U between q (0: one U for every q)
  has_bias: u32,     // 1: add bias (binding 4) as M is stored
  has_residual: u32, // 1: add residual (binding 5, M's layout) after swish, before relu
  act: u32,          // 0: none, 1: swish(sum + bias) + residual, 2: relu(sum + bias + residual)
  u_ci: u32,         // vec4 stride of U between input channels
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> U: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> M: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> residual: array<vec4<f32>>;
// Texel mirrors of V's and U's bindings (V_TEXELS, U_TEXELS; src/gpu/texels.ts): vec4 i at
// texel (i % TEXEL_ROW, i / TEXEL_ROW).
@group(0) @binding(6) var Vt: texture_2d<f32>;
@group(0) @binding(7) var Ut: texture_2d<f32>;
const TEXEL_ROW_SHIFT = 12u; // TEXEL_ROW = 4096

override WG: u32 = 64u;
// Groups of 4 tiles per invocation (2, 4, 8 or 16): the host picks the most that still gives 8
// invocations (a SIMD vector of llvmpipe with AVX2) per workgroup row.
override TG: u32 = 8u;
// channels: groups of 4 tiles per invocation (1, 2, 4 or 8).
override TC: u32 = 4u;
// Read V (U) from its texel mirror Vt (Ut) rather than from storage: on llvmpipe a texel fetch
// is vector code, a storage load one invocation at a time (src/gpu/texels.ts).
override V_TEXELS: bool = false;
override U_TEXELS: bool = false;
fn texel(t: texture_2d<f32>, i: u32) -> vec4<f32> {
  return textureLoad(t, vec2<u32>(i & ((1u << TEXEL_ROW_SHIFT) - 1u), i >> TEXEL_ROW_SHIFT), 0);
}

// U's vec4 i (of the storage binding or its mirror).
fn weights(i: u32) -> vec4<f32> {
  if (U_TEXELS) { return texel(Ut, i); }
  return U[i];
}

// V's vec4 i (of the storage binding or its mirror).
fn inputs(i: u32) -> vec4<f32> {
  if (V_TEXELS) { return texel(Vt, i); }
  return V[i];
}

// Four tiles x 16 output channels: column c of m<v> holds channel 4v + c.
struct Acc {
  m0: mat4x4<f32>,
  m1: mat4x4<f32>,
  m2: mat4x4<f32>,
  m3: mat4x4<f32>,
}

fn outer(x: vec4<f32>, w: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(x * w.x, x * w.y, x * w.z, x * w.w);
}

fn step(a: Acc, x: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) -> Acc {
  return Acc(a.m0 + outer(x, w0), a.m1 + outer(x, w1), a.m2 + outer(x, w2), a.m3 + outer(x, w3));
}

// conv2d.wgsl's epilogue for output channel ch at M's vec4 i (identity for Winograd's M).
fn epilogue(v: vec4<f32>, ch: u32, i: u32) -> vec4<f32> {
  var s = v;
  if (p.has_bias == 1u) { s += bias[ch]; }
  if (p.act == 1u) { s = s / (1.0 + exp(-s)); }
  if (p.has_residual == 1u) { s += residual[i]; }
  if (p.act == 2u) { s = max(s, vec4<f32>(0.0)); }
  return s;
}

// Channels co .. co+15 of tiles 4 t4 .. 4 t4 + 3 (t4: M's vec4 column), through the epilogue.
fn store(a: Acc, q: u32, co: u32, t4: u32) {
  let m = array<mat4x4<f32>, 4>(a.m0, a.m1, a.m2, a.m3);
  let row = p.tpad / 4u;
  for (var v = 0u; v < 4u; v++) {
    for (var c = 0u; c < 4u; c++) {
      let ch = co + 4u * v + c;
      let i = (q * p.co_pad + ch) * row + t4;
      M[i] = epilogue(m[v][c], ch, i);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = p.tpad / 4u;
  // Workgroups run over the blocks first (workgroup_id.x), then over runs of WG * TG vec4
  // columns (workgroup_id.y): consecutive workgroups read the same run of V, which src/kernels/
  // gemm.ts sizes to stay in a CPU core's cache. Within the run lane l takes the columns
  // l + k * span (k < TG; span: the workgroup's live lanes), so that consecutive lanes read
  // consecutive vec4 of a row of V and a lane's TG vec4 lie close together.
  let lanes = row / TG;
  let run = wid.y; // this workgroup's run of columns
  let span = min(WG, lanes - run * WG);
  let live = lid.x < span;
  let t4 = run * WG * TG + min(lid.x, span - 1u);
  let q = wid.z;
  let block = wid.x;
  let co = block * 16u;
  // a<k>: vec4 column t4 + k * span (k < TG; the others stay zero and are never stored).
  var a0 = Acc();
  var a1 = Acc();
  var a2 = Acc();
  var a3 = Acc();
  var a4 = Acc();
  var a5 = Acc();
  var a6 = Acc();
  var a7 = Acc();
  var a8 = Acc();
  var a9 = Acc();
  var a10 = Acc();
  var a11 = Acc();
  var a12 = Acc();
  var a13 = Acc();
  var a14 = Acc();
  var a15 = Acc();
  var vb = q * p.cin * row + t4;
  var ub = block * p.u_block + q * p.u_pos;
  for (var ci = 0u; ci < p.cin; ci++) {
    let w0 = weights(ub);
    let w1 = weights(ub + 1u);
    let w2 = weights(ub + 2u);
    let w3 = weights(ub + 3u);
    a0 = step(a0, inputs(vb + 0u * span), w0, w1, w2, w3);
    a1 = step(a1, inputs(vb + 1u * span), w0, w1, w2, w3);
    if (TG > 2u) { a2 = step(a2, inputs(vb + 2u * span), w0, w1, w2, w3); }
    if (TG > 3u) { a3 = step(a3, inputs(vb + 3u * span), w0, w1, w2, w3); }
    if (TG > 4u) { a4 = step(a4, inputs(vb + 4u * span), w0, w1, w2, w3); }
    if (TG > 5u) { a5 = step(a5, inputs(vb + 5u * span), w0, w1, w2, w3); }
    if (TG > 6u) { a6 = step(a6, inputs(vb + 6u * span), w0, w1, w2, w3); }
    if (TG > 7u) { a7 = step(a7, inputs(vb + 7u * span), w0, w1, w2, w3); }
    if (TG > 8u) { a8 = step(a8, inputs(vb + 8u * span), w0, w1, w2, w3); }
    if (TG > 9u) { a9 = step(a9, inputs(vb + 9u * span), w0, w1, w2, w3); }
    if (TG > 10u) { a10 = step(a10, inputs(vb + 10u * span), w0, w1, w2, w3); }
    if (TG > 11u) { a11 = step(a11, inputs(vb + 11u * span), w0, w1, w2, w3); }
    if (TG > 12u) { a12 = step(a12, inputs(vb + 12u * span), w0, w1, w2, w3); }
    if (TG > 13u) { a13 = step(a13, inputs(vb + 13u * span), w0, w1, w2, w3); }
    if (TG > 14u) { a14 = step(a14, inputs(vb + 14u * span), w0, w1, w2, w3); }
    if (TG > 15u) { a15 = step(a15, inputs(vb + 15u * span), w0, w1, w2, w3); }
    vb += row;
    ub += p.u_ci;
  }
  if (!live) { return; }
  store(a0, q, co, t4 + 0u * span);
  store(a1, q, co, t4 + 1u * span);
  if (TG > 2u) { store(a2, q, co, t4 + 2u * span); }
  if (TG > 3u) { store(a3, q, co, t4 + 3u * span); }
  if (TG > 4u) { store(a4, q, co, t4 + 4u * span); }
  if (TG > 5u) { store(a5, q, co, t4 + 5u * span); }
  if (TG > 6u) { store(a6, q, co, t4 + 6u * span); }
  if (TG > 7u) { store(a7, q, co, t4 + 7u * span); }
  if (TG > 8u) { store(a8, q, co, t4 + 8u * span); }
  if (TG > 9u) { store(a9, q, co, t4 + 9u * span); }
  if (TG > 10u) { store(a10, q, co, t4 + 10u * span); }
  if (TG > 11u) { store(a11, q, co, t4 + 11u * span); }
  if (TG > 12u) { store(a12, q, co, t4 + 12u * span); }
  if (TG > 13u) { store(a13, q, co, t4 + 13u * span); }
  if (TG > 14u) { store(a14, q, co, t4 + 14u * span); }
  if (TG > 15u) { store(a15, q, co, t4 + 15u * span); }
}

// Four tiles x 4 output channels: column j holds channel 4c + j.
fn store4(m: mat4x4<f32>, q: u32, co: u32, t4: u32) {
  let row = p.tpad / 4u;
  for (var j = 0u; j < 4u; j++) {
    M[(q * p.co_pad + co + j) * row + t4] = m[j];
  }
}

// For Winograd chunks of few tiles (the 16x16 and 8x8 maps), where main would leave most of a workgroup
// idle (M is stored as it is, without the epilogue): an invocation computes 4 output channels x 4 TC tiles, the lanes of a workgroup running
// over the output channels. The V columns read are then the same for every invocation and U's
// are read per lane (from storage or, V_TEXELS and U_TEXELS, texel mirrors). Every output sums over ci in the same order
// with the same operations as in main, so the two entries give the same bits.
@compute @workgroup_size(WG)
fn channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let groups = p.co_pad / 4u;
  let g = wid.x * WG + lid.x;
  let live = g < groups;
  let c = min(g, groups - 1u);
  let q = wid.z;
  let row = p.tpad / 4u;
  let col = wid.y * TC;
  // b<k>: vec4 column col + k of channels 4c .. 4c+3.
  var b0 = mat4x4<f32>();
  var b1 = mat4x4<f32>();
  var b2 = mat4x4<f32>();
  var b3 = mat4x4<f32>();
  var b4 = mat4x4<f32>();
  var b5 = mat4x4<f32>();
  var b6 = mat4x4<f32>();
  var b7 = mat4x4<f32>();
  var vb = q * p.cin * row + col;
  // U's block c / 4, its vec4 c % 4 (channels 4c .. 4c+3).
  var ub = (c / 4u) * p.u_block + q * p.u_pos + c % 4u;
  for (var ci = 0u; ci < p.cin; ci++) {
    let w = weights(ub);
    b0 = b0 + outer(inputs(vb), w);
    if (TC > 1u) { b1 = b1 + outer(inputs(vb + 1u), w); }
    if (TC > 2u) { b2 = b2 + outer(inputs(vb + 2u), w); }
    if (TC > 3u) { b3 = b3 + outer(inputs(vb + 3u), w); }
    if (TC > 4u) { b4 = b4 + outer(inputs(vb + 4u), w); }
    if (TC > 5u) { b5 = b5 + outer(inputs(vb + 5u), w); }
    if (TC > 6u) { b6 = b6 + outer(inputs(vb + 6u), w); }
    if (TC > 7u) { b7 = b7 + outer(inputs(vb + 7u), w); }
    vb += row;
    ub += p.u_ci;
  }
  if (!live) { return; }
  let co = 4u * c;
  store4(b0, q, co, col);
  if (TC > 1u) { store4(b1, q, co, col + 1u); }
  if (TC > 2u) { store4(b2, q, co, col + 2u); }
  if (TC > 3u) { store4(b3, q, co, col + 3u); }
  if (TC > 4u) { store4(b4, q, co, col + 4u); }
  if (TC > 5u) { store4(b5, q, co, col + 5u); }
  if (TC > 6u) { store4(b6, q, co, col + 6u); }
  if (TC > 7u) { store4(b7, q, co, col + 7u); }
}
