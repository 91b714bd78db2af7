// Pooling over NCHW f32 planes (torchvision ResNet's stem and head, the DDPM UNet's Downsample
// without conv), and the backward passes training needs.
//
// Entry points (same Params and bindings; `out` holds n outputs, one invocation each):
//   max_pool:     PyTorch's F.max_pool2d(x, k, stride, pad) with ceil_mode False: out[plane, oy, ox]
//                 is the window's value that window_argmax picks (PyTorch's max, with its rule for
//                 ties and NaN). Windows cover rows oy*stride - pad + 0..k-1 (likewise columns);
//                 taps in the padding are skipped (PyTorch pads with -inf). With pad < k every
//                 window holds at least one input.
//   max_pool_argmax: out[plane, oy, ox] = the flat index within the plane of the element
//                 max_pool picks, as an f32 holding an integer (exact: planes hold < 2^24 values).
//   max_pool_backward: out = dx [planes, h, w] from g = dy [planes, ho, wo] and x = the argmax
//                 map of max_pool_argmax: a gather, no atomics. Each input element visits the
//                 windows that contain it (at most 2x2 for k 3, stride 2) and sums the dy of those
//                 that picked it, in row-major window order starting from 0: PyTorch's CPU backward
//                 adds dy into a zeroed dx in that same order, so the sums are equal bit for bit.
//   avg_all:      F.adaptive_avg_pool2d(x, 1): out[plane] is the mean of the h*w values of the
//                 plane, summed in memory order, then divided by h*w.
//   avg_all_backward: out = dx [planes, h, w] from g = dy [planes]: dy / (h*w) (a true division,
//                 as PyTorch's mean backward; adaptive_avg_pool2d to 1x1 is a mean there).
//   avg_2x2:      F.avg_pool2d(x, 2): out[plane, oy, ox] is the mean of the window at rows 2oy,
//                 2oy+1 and columns 2ox, 2ox+1, summed in PyTorch's order (row by row) and scaled
//                 by 0.25 (exact, like its division by 4); a trailing odd row or column is dropped.
// The flat output index is 2-D (x + y * row) so large outputs fit the dispatch limits.
struct Params {
  n: u32,       // outputs: planes * ho * wo (max_pool, max_pool_argmax, avg_2x2), planes (avg_all),
                //   planes * h * w (the backward entries)
  h: u32,       // input height
  w: u32,       // input width
  ho: u32,      // pooled height (avg_all: 1)
  wo: u32,      // pooled width (avg_all: 1)
  k: u32,       // window side (max_pool)
  stride: u32,  // window step (max_pool)
  pad: u32,     // implicit -inf rows/columns above and left of the input (max_pool), < k
  row: u32,     // invocations per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;  // the input (max_pool_backward: the argmax map)
@group(0) @binding(2) var<storage, read> g: array<f32>;  // dy (backward entries; unused otherwise)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256; // invocations per workgroup

// The element i as (plane, row, column) of a [planes, rows, cols] tensor.
fn pos3(i: u32, rows: u32, cols: u32) -> vec3<u32> {
  let rest = i / cols;
  return vec3<u32>(rest / rows, rest % rows, i % cols);
}

// Tested on the bits: shader compilers may assume that float comparisons never see NaN.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// The flat index (within the plane at `base`) of the element PyTorch's CPU max_pool2d picks in
// window (oy, ox): taps in row-major order, a tap replaces the running max when it is greater or
// NaN, and the running max starts at -inf with the first tap's index. So ties keep the first
// maximum, NaN beats everything (the last NaN wins), and an all -inf window picks its first tap.
// Starting from the first tap's value is the same state as PyTorch's after that tap.
fn window_argmax(base: u32, oy: u32, ox: u32) -> u32 {
  // Window rows and columns clipped to the input: [y0, y1) x [x0, x1), never empty.
  let y0 = u32(max(i32(oy * p.stride) - i32(p.pad), 0));
  let x0 = u32(max(i32(ox * p.stride) - i32(p.pad), 0));
  let y1 = u32(min(i32(oy * p.stride + p.k) - i32(p.pad), i32(p.h)));
  let x1 = u32(min(i32(ox * p.stride + p.k) - i32(p.pad), i32(p.w)));
  var best = y0 * p.w + x0;
  var m = x[base + best];
  for (var y = y0; y < y1; y++) {
    for (var xx = x0; xx < x1; xx++) {
      let j = y * p.w + xx;
      let v = x[base + j];
      if (is_nan(v) || (!is_nan(m) && v > m)) {
        m = v;
        best = j;
      }
    }
  }
  return best;
}

// Pooled rows (or columns) whose windows contain input row (or column) i: [lo, hi), maybe empty.
fn windows_over(i: u32, pooled: u32) -> vec2<u32> {
  let first = i32(i + p.pad) - i32(p.k) + 1; // lowest window start that still reaches i
  let lo = u32(max(first + i32(p.stride) - 1, 0)) / p.stride;
  let hi = min((i + p.pad) / p.stride + 1u, pooled);
  return vec2<u32>(lo, hi);
}

@compute @workgroup_size(WG)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let pos = pos3(i, p.ho, p.wo);
  let base = pos.x * p.h * p.w;
  out[i] = x[base + window_argmax(base, pos.y, pos.z)];
}

@compute @workgroup_size(WG)
fn max_pool_argmax(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let pos = pos3(i, p.ho, p.wo);
  out[i] = f32(window_argmax(pos.x * p.h * p.w, pos.y, pos.z));
}

@compute @workgroup_size(WG)
fn max_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let pos = pos3(i, p.h, p.w);
  let self_index = f32(pos.y * p.w + pos.z);
  let base = pos.x * p.ho * p.wo;
  let rows = windows_over(pos.y, p.ho);
  let cols = windows_over(pos.z, p.wo);
  var s = 0.0;
  for (var oy = rows.x; oy < rows.y; oy++) {
    for (var ox = cols.x; ox < cols.y; ox++) {
      let o = base + oy * p.wo + ox;
      if (x[o] == self_index) {
        s += g[o];
      }
    }
  }
  out[i] = s;
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
fn avg_all_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let len = p.h * p.w;
  out[i] = g[i / len] / f32(len);
}

@compute @workgroup_size(WG)
fn avg_2x2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let pos = pos3(i, p.ho, p.wo);
  let top = pos.x * p.h * p.w + 2u * pos.y * p.w + 2u * pos.z;
  let bottom = top + p.w;
  out[i] = (((x[top] + x[top + 1u]) + x[bottom]) + x[bottom + 1u]) * 0.25;
}
