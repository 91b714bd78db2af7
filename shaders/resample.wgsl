// Resampling of NCHW tensors.
//   nearest2x:     nearest-neighbour upsampling by 2, [N, C, H, W] -> [N, C, 2H, 2W], for even W.
//                  Input row r = (n * C + c) * H + y feeds output rows 2r and 2r + 1. One invocation
//                  per input pair (vec2) of a row, writing two vec2 pairs on each of the two output
//                  rows: consecutive invocations read and write consecutive memory, in vector
//                  accesses (CPU adapters run those much faster than scalar ones).
//   nearest2x_any: the same for any W, one invocation per input element (read as a component of
//                  a vec2; tensor buffers are padded to 16 bytes, so that vec2 is in the buffer).
// Input rows are spread over y and z (r = wid.y + wid.z * grid_y) to stay within 65535 per dimension.
struct Params {
  w: u32,        // input width W
  rows: u32,     // input rows N * C * H
  grid_y: u32,   // workgroups in y
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec2<f32>>;   // output rows of W pairs

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn nearest2x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y + wid.z * p.grid_y;
  let col = wid.x * WG + lid.x;
  let w2 = p.w / 2u;
  if (row >= p.rows || col >= w2) { return; }
  let v = src[row * w2 + col];
  let top = 2u * row * p.w + 2u * col;
  let bottom = top + p.w;
  dst[top] = v.xx;
  dst[top + 1u] = v.yy;
  dst[bottom] = v.xx;
  dst[bottom + 1u] = v.yy;
}

@compute @workgroup_size(WG)
fn nearest2x_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y + wid.z * p.grid_y;
  let col = wid.x * WG + lid.x;
  if (row >= p.rows || col >= p.w) { return; }
  let i = row * p.w + col;
  let v = vec2(src[i / 2u][i % 2u]);
  dst[2u * row * p.w + col] = v;
  dst[(2u * row + 1u) * p.w + col] = v;
}
