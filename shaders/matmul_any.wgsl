// Batched matrix product, scalar variant for any M, N, K: C[b] = act(A[b] @ B[b] + bias).
// A [M,K], B [K,N], C [M,N], row-major f32. Same tiling as matmul.wgsl with scalar loads:
// each invocation computes TM rows x TN columns, the columns WG apart.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch: u32,   // batch stride of A in elements (0: A shared by all batches)
  b_batch: u32,   // batch stride of B in elements (0: B shared by all batches)
  has_bias: u32,  // 1: add bias[n] (length N)
  act: u32,       // 0: none, 1: swish, 2: sigmoid
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

override WG: u32 = 64;
const TM: u32 = 4u;
const TN: u32 = 4u;

fn activate(v: f32) -> f32 {
  if (p.act == 1u) { return v / (1.0 + exp(-v)); }
  if (p.act == 2u) { return 1.0 / (1.0 + exp(-v)); }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = wid.y * TM;
  let aBase = wid.z * p.a_batch;
  let bBase = wid.z * p.b_batch;
  var col: array<u32, TN>;
  var ccol: array<u32, TN>;
  for (var j = 0u; j < TN; j++) {
    col[j] = wid.x * WG * TN + j * WG + lid.x;
    ccol[j] = min(col[j], p.N - 1u);
  }
  var arow: array<u32, TM>;
  for (var r = 0u; r < TM; r++) {
    arow[r] = aBase + min(row0 + r, p.M - 1u) * p.K;
  }
  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < p.K; k++) {
    var b: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { b[j] = B[bBase + k * p.N + ccol[j]]; }
    for (var r = 0u; r < TM; r++) {
      let a = A[arow[r] + k];
      for (var j = 0u; j < TN; j++) { acc[r][j] = fma(a, b[j], acc[r][j]); }
    }
  }
  let cBase = wid.z * p.M * p.N;
  for (var r = 0u; r < TM; r++) {
    let row = row0 + r;
    if (row >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      if (col[j] < p.N) {
        var v = acc[r][j];
        if (p.has_bias == 1u) { v += bias[ccol[j]]; }
        C[cBase + row * p.N + col[j]] = activate(v);
      }
    }
  }
}
