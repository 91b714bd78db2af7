// Single-head attention pieces over q, k [N, C, L] (channels-first, as the 1x1 convs leave them).
// The scores are kept transposed, st[n, j, i] = w[n, i, j] (key j, query i), so that every pass
// reads and writes consecutive queries in consecutive invocations:
//   scores:  st[n, j, i] = scale * sum_c k[n, c, j] q[n, c, i]; each invocation computes TM keys
//            (taken from workgroup_id: the same k values for the whole workgroup) x TN queries WG
//            apart. No workgroup memory.
//   softmax: in place over the keys j of each query i (one invocation per query, three passes:
//            max, sum of exp, normalise), so st becomes softmax(w, dim=keys) transposed.
// The output sum_j v[c, j] w[i, j] is then the plain matrix product v @ st (matmul.wgsl).
struct Params {
  c: u32,        // channels C
  l: u32,        // sequence length L = H * W
  scale: f32,    // C^-0.5, applied after the sum as torch's bmm(q, k) * c**-0.5
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> st: array<f32>;   // [N, L (keys), L (queries)]

override WG: u32 = 64;
const TM: u32 = 8u;   // keys per invocation
const TN: u32 = 4u;   // queries per invocation, WG apart

@compute @workgroup_size(WG)
fn scores(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let base = wid.z * p.c * p.l;
  let j0 = wid.y * TM;
  // Clamped indices keep every load in bounds; results of clamped lanes are never stored.
  var key: array<u32, TM>;
  for (var r = 0u; r < TM; r++) { key[r] = min(j0 + r, p.l - 1u); }
  var qi: array<u32, TN>;
  var cqi: array<u32, TN>;
  for (var t = 0u; t < TN; t++) {
    qi[t] = wid.x * WG * TN + t * WG + lid.x;
    cqi[t] = min(qi[t], p.l - 1u);
  }
  var acc: array<array<f32, TN>, TM>;
  for (var ch = 0u; ch < p.c; ch++) {
    let row = base + ch * p.l;
    var qv: array<f32, TN>;
    for (var t = 0u; t < TN; t++) { qv[t] = q[row + cqi[t]]; }
    for (var r = 0u; r < TM; r++) {
      let kv = k[row + key[r]];
      for (var t = 0u; t < TN; t++) { acc[r][t] = fma(kv, qv[t], acc[r][t]); }
    }
  }
  let sBase = wid.z * p.l * p.l;
  for (var r = 0u; r < TM; r++) {
    let j = j0 + r;
    if (j >= p.l) { continue; }
    for (var t = 0u; t < TN; t++) {
      if (qi[t] < p.l) { st[sBase + j * p.l + qi[t]] = acc[r][t] * p.scale; }
    }
  }
}

@compute @workgroup_size(WG)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.l) { return; }
  let base = wid.y * p.l * p.l + i;
  var m = st[base];
  for (var j = 1u; j < p.l; j++) { m = max(m, st[base + j * p.l]); }
  var sum = 0.0;
  for (var j = 0u; j < p.l; j++) { sum += exp(st[base + j * p.l] - m); }
  let inv = 1.0 / sum;
  for (var j = 0u; j < p.l; j++) {
    let at = base + j * p.l;
    st[at] = exp(st[at] - m) * inv;
  }
}
