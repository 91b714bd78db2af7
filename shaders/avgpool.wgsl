// 2x2 average pooling, stride 2 (PyTorch's F.avg_pool2d(x, 2)), NCHW: out[plane, y, x] is the
// mean of the input window at rows 2y, 2y+1 and columns 2x, 2x+1, summed in PyTorch's order
// (row by row) and scaled by 0.25 (exact, like its division by 4). A trailing odd row or column
// is dropped, as PyTorch does. One invocation per output; the flat index is 2-D (x + y * row).
struct Params {
  n: u32,       // output elements: planes (N * C) * ho * wo
  h: u32,       // input height
  w: u32,       // input width
  ho: u32,      // output height: floor(h / 2)
  wo: u32,      // output width: floor(w / 2)
  row: u32,     // invocations per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let ox = i % p.wo;
  let rest = i / p.wo;
  let oy = rest % p.ho;
  let plane = rest / p.ho;
  let top = plane * p.h * p.w + 2u * oy * p.w + 2u * ox;
  let bottom = top + p.w;
  out[i] = (((x[top] + x[top + 1u]) + x[bottom]) + x[bottom + 1u]) * 0.25;
}
