// Batched matrix product, scalar variant for any M, N, K and operand layout:
// C[b] = act(op(A[b]) @ op(B[b]) + bias), or C[b] += that. C [M,N] row-major f32; op(A) [M,K] and
// op(B) [K,N] are read through element strides, so transposed operands need no copy: A^T with A
// stored [K,M] has row stride 1 and column stride M (likewise B^T with B stored [N,K]).
// Same tiling as matmul.wgsl with scalar loads: each invocation computes TM rows x TN columns,
// the columns WG apart.
//
// Entry points:
//   main:     the product above.
//   sum_rows: C[n] = sum over m of A[m, n] (strides as above, B and bias unread), summed from row 0
//             up: the product ones[1, M] @ A without the multiplications; the bias gradient of a
//             fully connected layer. One invocation per column.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch: u32,    // batch stride of A in elements (0: A shared by all batches)
  b_batch: u32,    // batch stride of B in elements (0: B shared by all batches)
  a_row: u32,      // element stride between rows (m) of op(A)
  a_col: u32,      // element stride between columns (k) of op(A)
  b_row: u32,      // element stride between rows (k) of op(B)
  b_col: u32,      // element stride between columns (n) of op(B)
  has_bias: u32,   // 1: add bias[n] (length N)
  act: u32,        // 0: none, 1: swish
  accumulate: u32, // 1: add the result to C's contents instead of overwriting them
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
  return v;
}

fn store(i: u32, v: f32) {
  if (p.accumulate == 1u) {
    C[i] = C[i] + v;
  } else {
    C[i] = v;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = wid.y * TM;
  let aBase = wid.z * p.a_batch;
  let bBase = wid.z * p.b_batch;
  var col: array<u32, TN>;
  var bcol: array<u32, TN>;
  for (var j = 0u; j < TN; j++) {
    col[j] = wid.x * WG * TN + j * WG + lid.x;
    // Clamped columns keep every load in bounds; results of clamped lanes are never stored.
    bcol[j] = bBase + min(col[j], p.N - 1u) * p.b_col;
  }
  var arow: array<u32, TM>;
  for (var r = 0u; r < TM; r++) {
    arow[r] = aBase + min(row0 + r, p.M - 1u) * p.a_row;
  }
  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < p.K; k++) {
    var b: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { b[j] = B[bcol[j] + k * p.b_row]; }
    for (var r = 0u; r < TM; r++) {
      let a = A[arow[r] + k * p.a_col];
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
        if (p.has_bias == 1u) { v += bias[col[j]]; }
        store(cBase + row * p.N + col[j], activate(v));
      }
    }
  }
}

@compute @workgroup_size(WG)
fn sum_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let n = gid.x + gid.y * groups.x * WG;
  if (n >= p.N) { return; }
  var s = 0.0;
  for (var m = 0u; m < p.M; m++) {
    s += A[m * p.a_row + n * p.a_col];
  }
  store(n, s);
}
