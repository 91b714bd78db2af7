// Reductions over rows of n consecutive elements: out[row] = op(x[row*n .. min(row*n + n, total))).
// With total = rows * n this reduces the last axis of [rows, n]; a smaller total makes the last
// row ragged (used to reduce a whole tensor in chunks).
// One workgroup per row (row = wid.x + wid.y * grid_x); WG invocations take strided elements,
// then a tree in workgroup memory combines them. Sums accumulate in f32 pairwise order.
struct Params {
  n: u32,        // elements per row
  rows: u32,
  total: u32,    // elements in x
  grid_x: u32,   // workgroups in x (row = wid.x + wid.y * grid_x)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> part: array<f32, WG>;

fn row_index(wid: vec3<u32>) -> u32 {
  return wid.x + wid.y * p.grid_x;
}

@compute @workgroup_size(WG)
fn sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = row_index(wid);
  let base = min(row, p.rows - 1u) * p.n;
  let end = min(base + p.n, p.total);
  var s = 0.0;
  for (var i = base + li; i < end; i += WG) { s += x[i]; }
  part[li] = s;
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    workgroupBarrier();
    if (li < w) { part[li] += part[li + w]; }
  }
  if (li == 0u && row < p.rows) { out[row] = part[0]; }
}

@compute @workgroup_size(WG)
fn max_op(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = row_index(wid);
  let base = min(row, p.rows - 1u) * p.n;
  let end = min(base + p.n, p.total);
  var m = x[base];
  for (var i = base + li; i < end; i += WG) { m = max(m, x[i]); }
  part[li] = m;
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    workgroupBarrier();
    if (li < w) { part[li] = max(part[li], part[li + w]); }
  }
  if (li == 0u && row < p.rows) { out[row] = part[0]; }
}

@compute @workgroup_size(WG)
fn min_op(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = row_index(wid);
  let base = min(row, p.rows - 1u) * p.n;
  let end = min(base + p.n, p.total);
  var m = x[base];
  for (var i = base + li; i < end; i += WG) { m = min(m, x[i]); }
  part[li] = m;
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    workgroupBarrier();
    if (li < w) { part[li] = min(part[li], part[li + w]); }
  }
  if (li == 0u && row < p.rows) { out[row] = part[0]; }
}
