// Split-K's second pass for conv2d.wgsl's conv3x3 (src/kernels/conv2d.ts): the parts' partial
// sums P [splits][N, Cout, Ho, Wo] added in part order, then conv2d's epilogue: swish(sum + bias)
// + residual or relu(sum + bias + residual), as conv2d.wgsl's put. One invocation per output.
struct Params {
  count: u32,        // outputs: N * Cout * Ho * Wo (and the elements of one part's plane)
  splits: u32,       // parts
  pixels: u32,       // Ho * Wo
  cout: u32,         // output channels
  has_bias: u32,     // 1: add bias (binding 2)
  has_residual: u32, // 1: add residual (binding 3) [N, Cout, Ho, Wo], 2: [N, Cout]
  act: u32,          // 0: none, 1: swish, 2: relu (see conv2d.wgsl)
  row: u32,          // invocations per grid row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> parts: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * p.row + gid.x;
  if (i >= p.count) { return; }
  var v = parts[i];
  for (var k = 1u; k < p.splits; k++) { v += parts[k * p.count + i]; }
  if (p.has_bias == 1u) { v += bias[(i / p.pixels) % p.cout]; }
  if (p.act == 1u) { v = v / (1.0 + exp(-v)); }
  if (p.has_residual == 1u) { v += residual[i]; }
  if (p.has_residual == 2u) { v += residual[i / p.pixels]; }
  if (p.act == 2u) { v = max(v, 0.0); }
  Y[i] = v;
}
