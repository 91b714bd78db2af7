// Elementwise ops over flat f32 arrays. Binary ops broadcast `b` by repetition:
// out[i] = a[i] op b[(i / b_inner) % b_size], which covers a scalar (b_size 1), a per-channel
// vector over [N, C, H, W] (b_inner H*W, b_size C) and equal shapes (b_inner 1, b_size n).
// The index is 2-D (x + y * 65535 workgroups) so large tensors fit the dispatch limits.
struct Params {
  n: u32,
  b_inner: u32,
  b_size: u32,
  row: u32,       // invocations per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

fn index(gid: vec3<u32>) -> u32 {
  return gid.x + gid.y * p.row;
}

fn bval(i: u32) -> f32 {
  return b[(i / p.b_inner) % p.b_size];
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) { out[i] = a[i] + bval(i); }
}

@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (i < p.n) { out[i] = a[i] * bval(i); }
}
