// ReLU's backward from its saved output, PyTorch's threshold_backward(dy, out, 0): dx = dy where
// out > 0, else 0. One vec4 per invocation over the flat tensor; lanes of the last vec4 past the
// end (tensor buffers are padded to 16 bytes) keep dx's values. The index is 2-D so large tensors
// fit the dispatch limits.
struct Params {
  n: u32,    // elements
  row: u32,  // vec4s per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> y: array<vec4<f32>>;   // the ReLU's output
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x + gid.y * p.row;
  if (4u * v >= p.n) { return; }
  let lanes = vec4(4u * v) + vec4(0u, 1u, 2u, 3u) < vec4(p.n);
  dx[v] = select(dx[v], select(vec4(0.0), dy[v], y[v] > vec4(0.0)), lanes);
}
