// In-place ReLU over a flat f32 array: x[i] = max(x[i], 0) (torch.relu; NaN handling is the
// driver's, WGSL leaves max(NaN, 0) unspecified).
// The flat index is 2-D (x + y * row) so large tensors fit the dispatch limits.
struct Params {
  n: u32,    // elements
  row: u32,  // invocations per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

override WG: u32 = 256; // invocations per workgroup

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  x[i] = max(x[i], 0.0);
}
