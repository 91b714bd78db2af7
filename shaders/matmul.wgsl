// Batched matrix product, vec4 variant: C[b] = act(A[b] @ B[b] + bias), or C[b] += that.
// A [M,K], B [K,N], C [M,N], row-major f32; needs K % 4 == 0 and N % 4 == 0 (else matmul_any,
// which also serves transposed operands).
//
// Register tiling without workgroup memory (barriers are expensive on CPU adapters): each
// invocation computes TM rows x 2 vec4 columns. Rows come from workgroup_id, so every invocation
// of a workgroup reads the same A values (a broadcast on SIMD emulators, one cache line on GPUs),
// and consecutive invocations read consecutive vec4 columns of B.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  a_batch: u32,   // batch stride of A in elements (0: A shared by all batches)
  b_batch: u32,   // batch stride of B in elements (0: B shared by all batches)
  has_bias: u32,  // 1: add bias[n] (length N)
  act: u32,       // 0: none, 1: swish
  accumulate: u32, // 1: add the result to C's contents instead of overwriting them
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> C: array<vec4<f32>>;

override WG: u32 = 64;
const TM: u32 = 16u;

fn activate(v: vec4<f32>) -> vec4<f32> {
  if (p.act == 1u) { return v / (1.0 + exp(-v)); }
  return v;
}

fn store(i: u32, v: vec4<f32>) {
  if (p.accumulate == 1u) {
    C[i] = C[i] + v;
  } else {
    C[i] = v;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let N4 = p.N / 4u;
  let K4 = p.K / 4u;
  let row0 = wid.y * TM;
  let c0 = wid.x * WG * 2u + lid.x;
  let c1 = c0 + WG;
  // Clamped columns keep every load in bounds; results of clamped lanes are never stored.
  let cc0 = min(c0, N4 - 1u);
  let cc1 = min(c1, N4 - 1u);
  let aBase = wid.z * (p.a_batch / 4u);
  let bBase = wid.z * (p.b_batch / 4u);

  var arow: array<u32, TM>;
  for (var r = 0u; r < TM; r++) {
    arow[r] = aBase + min(row0 + r, p.M - 1u) * K4;
  }
  var acc0: array<vec4<f32>, TM>;
  var acc1: array<vec4<f32>, TM>;

  for (var k = 0u; k < K4; k++) {
    let b = bBase + 4u * k * N4;
    let b00 = B[b + cc0];
    let b01 = B[b + cc1];
    let b10 = B[b + N4 + cc0];
    let b11 = B[b + N4 + cc1];
    let b20 = B[b + 2u * N4 + cc0];
    let b21 = B[b + 2u * N4 + cc1];
    let b30 = B[b + 3u * N4 + cc0];
    let b31 = B[b + 3u * N4 + cc1];
    for (var r = 0u; r < TM; r++) {
      let a = A[arow[r] + k];
      acc0[r] = fma(vec4(a.x), b00, fma(vec4(a.y), b10, fma(vec4(a.z), b20, fma(vec4(a.w), b30, acc0[r]))));
      acc1[r] = fma(vec4(a.x), b01, fma(vec4(a.y), b11, fma(vec4(a.z), b21, fma(vec4(a.w), b31, acc1[r]))));
    }
  }

  let cBase = wid.z * p.M * N4;
  var bias0 = vec4<f32>(0.0);
  var bias1 = vec4<f32>(0.0);
  if (p.has_bias == 1u) {
    bias0 = bias[cc0];
    bias1 = bias[cc1];
  }
  for (var r = 0u; r < TM; r++) {
    let row = row0 + r;
    if (row < p.M) {
      if (c0 < N4) { store(cBase + row * N4 + c0, activate(acc0[r] + bias0)); }
      if (c1 < N4) { store(cBase + row * N4 + c1, activate(acc1[r] + bias1)); }
    }
  }
}
