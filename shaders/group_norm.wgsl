// GroupNorm over x [N, C, S] (S = H*W), f32 statistics, optional fused swish. In NCHW the group
// r = n * groups + g is one contiguous row x[r*m .. r*m + m) with m = (C / groups) * S.
// Entry points, in dispatch order:
//   partials:  every invocation takes per_inv elements of a tile of its row (vec4s WG apart, so
//              consecutive invocations read consecutive memory) and stores (count, mean, M2) of
//              them, computed in two passes over those elements (the second pass hits the cache).
//              No workgroup memory, no barriers: barriers are expensive on CPU adapters.
//   finalize:  one workgroup per row merges the row's partials (Chan et al.: sequentially per
//              invocation, then a tree) and writes (mean, rstd * gamma[c], beta[c]) per plane.
//   normalize: y = (x - mean) * (rstd * gamma[c]) + beta[c], then swish if asked; one vec4 per
//              invocation (CPU adapters run vec4 loads and stores much faster than scalar ones).
// partials and normalize read whole vec4s of a row or plane, so they need S % 4 == 0 (hence
// m % 4 == 0); partials_any and normalize_any serve other sizes (partials_any one element at a
// time; normalize_any on vec4s of the flat tensor, finding each element's plane). Tensor buffers
// are padded to 16 bytes by the pool, so every vec4 holding an element lies inside the buffer;
// values past the tensor's end are ignored (partials_any) or written with garbage that nobody
// reads (normalize_any, into out's padding).
// Rows and planes are spread over y and z (index = wid.y + wid.z * grid_y) to stay within the
// 65535 workgroups per dimension.
struct Params {
  m: u32,         // elements per group row: (C / groups) * S
  rows: u32,      // group rows: N * groups
  per_inv: u32,   // partials: elements per invocation, a multiple of 4 (a tile is WG * per_inv)
  tiles: u32,     // partials per row, in workgroups: ceil(m / (WG * per_inv))
  s: u32,         // elements per channel plane: H * W
  c: u32,         // channels C
  cpg: u32,       // channels per group: C / groups
  total: u32,     // elements of x: N * C * S
  grid_y: u32,    // grid stride: row or plane = wid.y + wid.z * grid_y (normalize_any: vec4 = (wid.x + wid.y * grid_y) * WG + li)
  eps: f32,       // added to the variance
  swish: u32,     // normalize: 1 applies x * sigmoid(x) to the result
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<vec4<f32>>;   // (count, mean, M2, 0) per invocation of partials
@group(0) @binding(5) var<storage, read_write> stats: array<vec4<f32>>;  // (mean, rstd * gamma[c], beta[c], 0) per plane n * C + c
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;
// X_TEXELS: an rgba32float mirror of x's binding (src/gpu/texels.ts), vec4 i at texel (i % 4096, i / 4096).
@group(0) @binding(7) var Xt: texture_2d<f32>;

override WG: u32 = 256;
// partials reads x from its mirror Xt rather than from storage (CPU adapters where the probe of
// src/gpu/lane-reads.ts finds it faster: llvmpipe's AVX2 code). The same values.
override X_TEXELS: bool = false;
const TEXEL_ROW_SHIFT = 12u; // TEXEL_ROW = 4096
// finalize: workgroup size, a power of two. Small, because a barrier costs per invocation on CPU
// adapters (32 rows on SwiftShader: 53 ms with 256 invocations, 3 ms with 16).
const MERGE_WG: u32 = 16u;
var<workgroup> tree: array<vec4<f32>, MERGE_WG>;

// x's vec4 i (of the storage binding or its mirror).
fn xv(i: u32) -> vec4<f32> {
  if (X_TEXELS) { return textureLoad(Xt, vec2<u32>(i & ((1u << TEXEL_ROW_SHIFT) - 1u), i >> TEXEL_ROW_SHIFT), 0); }
  return x[i];
}

fn grid_index(wid: vec3<u32>) -> u32 {
  return wid.y + wid.z * p.grid_y;
}

// Chan et al.'s pairwise update of (count, mean, M2); empty sides are skipped.
fn merge(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  if (b.x == 0.0) { return a; }
  let n = a.x + b.x;
  let d = b.y - a.y;
  let fb = b.x / n;
  return vec4(n, a.y + d * fb, a.z + b.z + d * d * a.x * fb, 0.0);
}

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

fn swish_if(y: vec4<f32>) -> vec4<f32> {
  if (p.swish == 1u) { return y / (1.0 + exp(-y)); }
  return y;
}

@compute @workgroup_size(WG)
fn partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = grid_index(wid);
  let m4 = p.m / 4u;
  let base = min(row, p.rows - 1u) * m4;
  let start = wid.x * WG * (p.per_inv / 4u);
  let end = min(start + WG * (p.per_inv / 4u), m4);
  var n = 0u;
  var sum = vec4(0.0);
  for (var i = start + li; i < end; i += WG) {
    sum += xv(base + i);
    n += 4u;
  }
  let mean = select(0.0, hsum(sum) / f32(n), n > 0u);
  var m2 = vec4(0.0);
  for (var i = start + li; i < end; i += WG) {
    let d = xv(base + i) - mean;
    m2 = fma(d, d, m2);
  }
  if (row < p.rows) {
    part[(row * p.tiles + wid.x) * WG + li] = vec4(f32(n), mean, hsum(m2), 0.0);
  }
}

fn element(i: u32) -> f32 {
  return x[i / 4u][i % 4u];
}

@compute @workgroup_size(WG)
fn partials_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = grid_index(wid);
  let base = min(row, p.rows - 1u) * p.m;
  let start = wid.x * WG * p.per_inv;
  let end = min(start + WG * p.per_inv, p.m);
  var n = 0u;
  var sum = 0.0;
  for (var i = start + li; i < end; i += WG) {
    sum += element(base + i);
    n++;
  }
  let mean = select(0.0, sum / f32(n), n > 0u);
  var m2 = 0.0;
  for (var i = start + li; i < end; i += WG) {
    let d = element(base + i) - mean;
    m2 = fma(d, d, m2);
  }
  if (row < p.rows) {
    part[(row * p.tiles + wid.x) * WG + li] = vec4(f32(n), mean, m2, 0.0);
  }
}

@compute @workgroup_size(MERGE_WG)
fn finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = grid_index(wid);
  let rc = min(row, p.rows - 1u);
  let count = p.tiles * WG;
  var acc = vec4(0.0);
  for (var i = li; i < count; i += MERGE_WG) {
    acc = merge(acc, part[rc * count + i]);
  }
  tree[li] = acc;
  for (var w = MERGE_WG / 2u; w > 0u; w /= 2u) {
    workgroupBarrier();
    if (li < w) { tree[li] = merge(tree[li], tree[li + w]); }
  }
  workgroupBarrier();
  let total = tree[0];
  let rstd = 1.0 / sqrt(total.z / total.x + p.eps);
  if (row < p.rows) {
    for (var j = li; j < p.cpg; j += MERGE_WG) {
      let plane = row * p.cpg + j;
      let c = plane % p.c;
      stats[plane] = vec4(total.y, rstd * gamma[c], beta[c], 0.0);
    }
  }
}

@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let planes = p.rows * p.cpg;
  let plane = grid_index(wid);
  let i = wid.x * WG + li;
  let s4 = p.s / 4u;
  if (plane >= planes || i >= s4) { return; }
  let st = stats[plane];
  let at = plane * s4 + i;
  out[at] = swish_if(fma(x[at] - st.x, vec4(st.y), vec4(st.z)));
}

@compute @workgroup_size(WG)
fn normalize_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let v = (wid.x + wid.y * p.grid_y) * WG + li;
  if (v * 4u >= p.total) { return; }
  let planes = p.rows * p.cpg;
  let xv = x[v];
  var y: vec4<f32>;
  for (var k = 0u; k < 4u; k++) {
    let plane = min((v * 4u + k) / p.s, planes - 1u);
    let st = stats[plane];
    y[k] = fma(xv[k] - st.x, st.y, st.z);
  }
  out[v] = swish_if(y);
}
