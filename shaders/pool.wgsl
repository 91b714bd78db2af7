// Pooling over NCHW f32 planes (torchvision ResNet's stem and head, the DDPM UNet's Downsample
// without conv).
//
// Entry points (same Params and bindings; `out` holds n outputs):
//   max_pool: PyTorch's F.max_pool2d(x, k, stride, pad) with ceil_mode False: out[plane, oy, ox]
//             is the max over the input window at rows oy*stride - pad + 0..k-1 (likewise
//             columns); taps in the padding are skipped (PyTorch pads with -inf). With pad < k
//             every window holds at least one input. One invocation per output.
//   avg_all:  F.adaptive_avg_pool2d(x, 1): out[plane] is the mean of the h*w values of the plane,
//             summed in memory order, then divided by h*w. One invocation per plane.
//   avg_2x2:  F.avg_pool2d(x, 2): out[plane, oy, ox] is the mean of the window at rows 2oy, 2oy+1
//             and columns 2ox, 2ox+1, summed in PyTorch's order (row by row) and scaled by 0.25
//             (exact, like its division by 4); a trailing odd row or column is dropped.
// The flat output index is 2-D (x + y * row) so large outputs fit the dispatch limits.
struct Params {
  n: u32,       // outputs: planes * ho * wo (max_pool, avg_2x2) or planes (avg_all)
  h: u32,       // input height
  w: u32,       // input width
  ho: u32,      // output height (avg_all: 1)
  wo: u32,      // output width (avg_all: 1)
  k: u32,       // window side (max_pool)
  stride: u32,  // window step (max_pool)
  pad: u32,     // implicit -inf rows/columns above and left of the input (max_pool), < k
  row: u32,     // invocations per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256; // invocations per workgroup

// The output element i as (plane, oy, ox) of the [planes, ho, wo] output.
fn out_pos(i: u32) -> vec3<u32> {
  let rest = i / p.wo;
  return vec3<u32>(rest / p.ho, rest % p.ho, i % p.wo);
}

@compute @workgroup_size(WG)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let pos = out_pos(i);
  let oy = pos.y;
  let ox = pos.z;
  let base = pos.x * p.h * p.w;
  // Window rows and columns clipped to the input: [y0, y1) x [x0, x1), never empty.
  let y0 = max(i32(oy * p.stride) - i32(p.pad), 0);
  let x0 = max(i32(ox * p.stride) - i32(p.pad), 0);
  let y1 = min(i32(oy * p.stride + p.k) - i32(p.pad), i32(p.h));
  let x1 = min(i32(ox * p.stride + p.k) - i32(p.pad), i32(p.w));
  var m = x[base + u32(y0) * p.w + u32(x0)];
  for (var y = y0; y < y1; y++) {
    let r = base + u32(y) * p.w;
    for (var xx = x0; xx < x1; xx++) {
      m = max(m, x[r + u32(xx)]);
    }
  }
  out[i] = m;
}

@compute @workgroup_size(WG)
fn avg_all(@builtin(global_invocation_id) gid: vec3<u32>) {
  let plane = gid.x + gid.y * p.row;
  if (plane >= p.n) { return; }
  let len = p.h * p.w;
  let base = plane * len;
  var s = 0.0;
  for (var j = 0u; j < len; j++) {
    s += x[base + j];
  }
  out[plane] = s / f32(len);
}

@compute @workgroup_size(WG)
fn avg_2x2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let pos = out_pos(i);
  let top = pos.x * p.h * p.w + 2u * pos.y * p.w + 2u * pos.z;
  let bottom = top + p.w;
  out[i] = (((x[top] + x[top + 1u]) + x[bottom]) + x[bottom + 1u]) * 0.25;
}
