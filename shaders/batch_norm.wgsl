// BatchNorm2d in train mode (PyTorch's nn.BatchNorm2d), forward and backward, over a batch given
// as chunks x_i [n_i, C, H, W] (one activation of a training batch can exceed a storage binding).
// Statistics are over all M = sum(n_i) * S values of a channel (S = H * W), in f32.
//
// Per-channel passes run one workgroup per (tile, channel): a tile is WG * per_inv consecutive
// values of channel c in one chunk (its n_i planes of S values laid end to end), so many channels
// with small planes (2048 at 8x8) and few with large ones (64 at 128x128) both fill the adapter.
// The channel comes from workgroup_id (uniform: its coefficients are loaded once), consecutive
// invocations take consecutive values (vec4s; the `_any` entries, for S % 4 != 0, scalars), and a
// Walk steps through the planes without a division per value. Barriers (expensive on CPU adapters)
// only in the two finalize entries.
//
// Entry points, in dispatch order:
//   stat_shift:          mean[c] = K, the channel's first value in the first chunk: statistics are
//                        of x - K, whose partial means round at the data's spread instead of at
//                        its magnitude (x = 100 + randn: errors of ~1e-7 instead of ~4e-6 per merge).
//   stat_partials(_any): per chunk; every invocation stores (count, mean, M2) of its values x - K,
//                        computed in two passes over them (the mean, then the squared deviations
//                        from it; the second pass hits the cache), in its slot of the channel's
//                        region of `part` (regions of `slots` slots; a chunk's start at part_at).
//   stat_finalize:       one workgroup per channel merges its region with Chan et al.'s pairwise
//                        update (no E[x^2] - mean^2 cancellation): mean[c] = K + mean, invstd[c] =
//                        1 / sqrt(M2 / M + eps), and the total (M, mean, M2) in the region's first slot.
//   running:             a running statistic r, bound as `out`, becomes (1 - momentum) * r +
//                        momentum * s with s = mean[c] (which 0) or the unbiased M2 / (M - 1) (which 1).
//   eval_stats:          mean[c] = running mean (bound as `weight`), invstd[c] = 1 / sqrt(running
//                        var (bound as `bias`) + eps).
//   apply(_any):         out = act((x - mean) * (invstd * weight) + bias (+ y: the residual)), act
//                        ReLU or none.
//   grad_partials(_any): per chunk of (x, y = dy): (sum dy, sum dy * (x - mean)) per invocation.
//   grad_finalize:       one workgroup per channel sums its region into the region's first slot.
//   grads:               d weight = invstd * sum dy (x - mean) (which 0) or d bias = sum dy (which 1),
//                        written to (or, accumulate 1, added to) `out`.
//   dx(_any):            PyTorch's dx = (dy - sum dy / M - (x - mean) * k) * invstd * weight with
//                        k = sum dy (x - mean) * invstd^2 / M.
// running and grads update a [C] vector as vec4s of 4 channels, keeping the lanes past C. apply_any
// and dx_any work on vec4s of the flat chunk and find each element's channel; lanes past the chunk's
// end keep out's values. Counts are exact in f32 up to 2^24 values per channel.
struct Params {
  c: u32,           // channels C
  s: u32,           // values per channel plane: H * W
  m: u32,           // values of one channel in this chunk: n_i * S
  total: u32,       // values in this chunk: n_i * C * S
  per_inv: u32,     // per-channel passes: values per invocation, a multiple of 4 (a tile is WG * per_inv)
  part_at: u32,     // partials: this chunk's first slot in each channel's region
  slots: u32,       // partial slots per channel (all chunks)
  grid_y: u32,      // channel = wid.y + wid.z * grid_y; flat entries: vec4 = (wid.x + wid.y * grid_y) * WG + li
  count: f32,       // M: values per channel over all chunks
  eps: f32,         // added to the variance
  momentum: f32,    // running: weight of the batch statistic
  residual: u32,    // apply: 1 adds y
  relu: u32,        // apply: 1 applies max(., 0) last
  which: u32,       // running: 0 mean, 1 variance; grads: 0 d weight, 1 d bias
  accumulate: u32,  // grads: 1 adds to out instead of overwriting it
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;        // the BatchNorm's input (a chunk)
@group(0) @binding(2) var<storage, read> y: array<vec4<f32>>;        // apply: residual; backward: dy
@group(0) @binding(3) var<storage, read> weight: array<f32>;         // [C] (eval_stats: running mean)
@group(0) @binding(4) var<storage, read> bias: array<f32>;           // [C] (eval_stats: running var)
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;     // [C] batch mean
@group(0) @binding(6) var<storage, read_write> invstd: array<f32>;   // [C] 1 / sqrt(var + eps)
@group(0) @binding(7) var<storage, read_write> part: array<vec4<f32>>;  // [C, slots] partials
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;   // chunk output or a [C] vector

override WG: u32 = 256;
// finalize: workgroup size, a power of two; small because a barrier costs per invocation on CPU
// adapters (as in group_norm.wgsl).
const MERGE_WG: u32 = 16u;
var<workgroup> tree: array<vec4<f32>, MERGE_WG>;

fn channel(wid: vec3<u32>) -> u32 {
  return wid.y + wid.z * p.grid_y;
}

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// A position in channel c's values of the chunk, in units of `len` per plane (vec4s or scalars),
// that advances by WG units per step.
struct Walk {
  at: u32,    // the unit's index in the chunk
  off: u32,   // its offset in its plane
  len: u32,   // units per plane
  adv: u32,   // WG % len: offset change per step
  jump: u32,  // index change per step: (WG / len) planes of every channel, plus adv (more on a wrap)
}

// The walk at unit j of channel c (j = n * len + offset).
fn walk(c: u32, j: u32, len: u32) -> Walk {
  let n = j / len;
  let off = j - n * len;
  let adv = WG % len;
  return Walk((n * p.c + c) * len + off, off, len, adv, (WG / len) * p.c * len + adv);
}

fn step(w: ptr<function, Walk>) {
  (*w).off += (*w).adv;
  (*w).at += (*w).jump;
  if ((*w).off >= (*w).len) {
    // Past the plane's end: on to the channel's plane of the next image.
    (*w).off -= (*w).len;
    (*w).at += (p.c - 1u) * (*w).len;
  }
}

// This invocation's units of its tile: the first, then every WG-th up to the end (x, y).
fn span(tile: u32, li: u32, unit: u32) -> vec2<u32> {
  let per = WG * (p.per_inv / unit);
  let start = tile * per;
  return vec2(start + li, min(start + per, p.m / unit));
}

fn slot(c: u32, tile: u32, li: u32) -> u32 {
  return c * p.slots + p.part_at + tile * WG + li;
}

fn element(i: u32) -> f32 {
  return x[i / 4u][i % 4u];
}

fn y_element(i: u32) -> f32 {
  return y[i / 4u][i % 4u];
}

// ---------------------------------------------------------------- statistics

@compute @workgroup_size(WG)
fn stat_shift(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c < p.c) { mean[c] = element(c * p.s); }
}

@compute @workgroup_size(WG)
fn stat_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  if (c >= p.c) { return; }
  let shift = mean[c];
  let r = span(wid.x, li, 4u);
  let len = p.s / 4u;
  var n = 0u;
  var sum = vec4(0.0);
  var w = walk(c, r.x, len);
  for (var j = r.x; j < r.y; j += WG) {
    sum += x[w.at] - shift;
    n += 4u;
    step(&w);
  }
  let mu = select(0.0, hsum(sum) / f32(n), n > 0u);
  var m2 = vec4(0.0);
  w = walk(c, r.x, len);
  for (var j = r.x; j < r.y; j += WG) {
    let d = (x[w.at] - shift) - mu;
    m2 = fma(d, d, m2);
    step(&w);
  }
  part[slot(c, wid.x, li)] = vec4(f32(n), mu, hsum(m2), 0.0);
}

@compute @workgroup_size(WG)
fn stat_partials_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  if (c >= p.c) { return; }
  let shift = mean[c];
  let r = span(wid.x, li, 1u);
  var n = 0u;
  var sum = 0.0;
  var w = walk(c, r.x, p.s);
  for (var j = r.x; j < r.y; j += WG) {
    sum += element(w.at) - shift;
    n++;
    step(&w);
  }
  let mu = select(0.0, sum / f32(n), n > 0u);
  var m2 = 0.0;
  w = walk(c, r.x, p.s);
  for (var j = r.x; j < r.y; j += WG) {
    let d = (element(w.at) - shift) - mu;
    m2 = fma(d, d, m2);
    step(&w);
  }
  part[slot(c, wid.x, li)] = vec4(f32(n), mu, m2, 0.0);
}

// Chan et al.'s pairwise update of (count, mean, M2); empty sides are skipped.
fn merge(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  if (b.x == 0.0) { return a; }
  let n = a.x + b.x;
  let d = b.y - a.y;
  let fb = b.x / n;
  return vec4(n, a.y + d * fb, a.z + b.z + d * d * a.x * fb, 0.0);
}

@compute @workgroup_size(MERGE_WG)
fn stat_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  let region = min(c, p.c - 1u) * p.slots;
  var acc = vec4(0.0);
  for (var i = li; i < p.slots; i += MERGE_WG) {
    acc = merge(acc, part[region + i]);
  }
  tree[li] = acc;
  for (var w = MERGE_WG / 2u; w > 0u; w /= 2u) {
    workgroupBarrier();
    if (li < w) { tree[li] = merge(tree[li], tree[li + w]); }
  }
  workgroupBarrier();
  // Every invocation has read its slots (before the first barrier): the first slot is free.
  if (li == 0u && c < p.c) {
    let total = tree[0];
    mean[c] += total.y;
    invstd[c] = 1.0 / sqrt(total.z / p.count + p.eps);
    part[region] = total;
  }
}

// Lanes of out's vec4 v that hold channels (< C).
fn channel_lanes(v: u32) -> vec4<bool> {
  return vec4(4u * v) + vec4(0u, 1u, 2u, 3u) < vec4(p.c);
}

@compute @workgroup_size(WG)
fn running(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (4u * v >= p.c) { return; }
  var s: vec4<f32>;
  for (var k = 0u; k < 4u; k++) {
    let c = min(4u * v + k, p.c - 1u);
    s[k] = select(mean[c], part[c * p.slots].z / (p.count - 1.0), p.which == 1u);
  }
  let old = out[v];
  out[v] = select(old, fma(vec4(p.momentum), s, (1.0 - p.momentum) * old), channel_lanes(v));
}

@compute @workgroup_size(WG)
fn eval_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.c) { return; }
  mean[c] = weight[c];
  invstd[c] = 1.0 / sqrt(bias[c] + p.eps);
}

// ---------------------------------------------------------------- normalise

// (mean, invstd * weight, bias) of channel c.
fn apply_coef(c: u32) -> vec3<f32> {
  return vec3(mean[c], invstd[c] * weight[c], bias[c]);
}

// The residual (y's vec4 at, read only when there is one) and the activation.
fn finish(v: vec4<f32>, at: u32) -> vec4<f32> {
  var r = v;
  if (p.residual == 1u) { r += y[at]; }
  if (p.relu == 1u) { r = max(r, vec4(0.0)); }
  return r;
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  if (c >= p.c) { return; }
  let k = apply_coef(c);
  let r = span(wid.x, li, 4u);
  var w = walk(c, r.x, p.s / 4u);
  for (var j = r.x; j < r.y; j += WG) {
    out[w.at] = finish(fma(x[w.at] - k.x, vec4(k.y), vec4(k.z)), w.at);
    step(&w);
  }
}

// The vec4 of the flat chunk that a `_any` invocation computes.
fn flat_vec4(wid: vec3<u32>, li: u32) -> u32 {
  return (wid.x + wid.y * p.grid_y) * WG + li;
}

// Channel of the chunk's element i (clamped to the last element for lanes past the end).
fn channel_of(i: u32) -> u32 {
  return (min(i, p.total - 1u) / p.s) % p.c;
}

fn chunk_lanes(v: u32) -> vec4<bool> {
  return vec4(4u * v) + vec4(0u, 1u, 2u, 3u) < vec4(p.total);
}

@compute @workgroup_size(WG)
fn apply_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let v = flat_vec4(wid, li);
  if (4u * v >= p.total) { return; }
  let xv = x[v];
  var r: vec4<f32>;
  for (var l = 0u; l < 4u; l++) {
    let k = apply_coef(channel_of(4u * v + l));
    r[l] = fma(xv[l] - k.x, k.y, k.z);
  }
  out[v] = select(out[v], finish(r, v), chunk_lanes(v));
}

// ---------------------------------------------------------------- backward

@compute @workgroup_size(WG)
fn grad_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  if (c >= p.c) { return; }
  let mu = mean[c];
  let r = span(wid.x, li, 4u);
  var sdy = vec4(0.0);
  var sdx = vec4(0.0);
  var w = walk(c, r.x, p.s / 4u);
  for (var j = r.x; j < r.y; j += WG) {
    let g = y[w.at];
    sdy += g;
    sdx = fma(g, x[w.at] - mu, sdx);
    step(&w);
  }
  part[slot(c, wid.x, li)] = vec4(hsum(sdy), hsum(sdx), 0.0, 0.0);
}

@compute @workgroup_size(WG)
fn grad_partials_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  if (c >= p.c) { return; }
  let mu = mean[c];
  let r = span(wid.x, li, 1u);
  var sdy = 0.0;
  var sdx = 0.0;
  var w = walk(c, r.x, p.s);
  for (var j = r.x; j < r.y; j += WG) {
    let g = y_element(w.at);
    sdy += g;
    sdx = fma(g, element(w.at) - mu, sdx);
    step(&w);
  }
  part[slot(c, wid.x, li)] = vec4(sdy, sdx, 0.0, 0.0);
}

@compute @workgroup_size(MERGE_WG)
fn grad_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  let region = min(c, p.c - 1u) * p.slots;
  var acc = vec4(0.0);
  for (var i = li; i < p.slots; i += MERGE_WG) {
    acc += part[region + i];
  }
  tree[li] = acc;
  for (var w = MERGE_WG / 2u; w > 0u; w /= 2u) {
    workgroupBarrier();
    if (li < w) { tree[li] += tree[li + w]; }
  }
  workgroupBarrier();
  if (li == 0u && c < p.c) { part[region] = tree[0]; }
}

@compute @workgroup_size(WG)
fn grads(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (4u * v >= p.c) { return; }
  var g: vec4<f32>;
  for (var k = 0u; k < 4u; k++) {
    let c = min(4u * v + k, p.c - 1u);
    let sums = part[c * p.slots];
    g[k] = select(sums.y * invstd[c], sums.x, p.which == 1u);
  }
  let old = out[v];
  out[v] = select(old, select(g, old + g, p.accumulate == 1u), channel_lanes(v));
}

// (mean, k, sum dy / M, invstd * weight) of channel c, from its sums in the region's first slot.
fn dx_coef(c: u32) -> vec4<f32> {
  let sums = part[c * p.slots];
  let is = invstd[c];
  return vec4(mean[c], sums.y * is * is / p.count, sums.x / p.count, is * weight[c]);
}

@compute @workgroup_size(WG)
fn dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = channel(wid);
  if (c >= p.c) { return; }
  let k = dx_coef(c);
  let r = span(wid.x, li, 4u);
  var w = walk(c, r.x, p.s / 4u);
  for (var j = r.x; j < r.y; j += WG) {
    out[w.at] = (y[w.at] - k.z - (x[w.at] - k.x) * k.y) * k.w;
    step(&w);
  }
}

@compute @workgroup_size(WG)
fn dx_any(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let v = flat_vec4(wid, li);
  if (4u * v >= p.total) { return; }
  let xv = x[v];
  let gv = y[v];
  var r: vec4<f32>;
  for (var l = 0u; l < 4u; l++) {
    let k = dx_coef(channel_of(4u * v + l));
    r[l] = (gv[l] - k.z - (xv[l] - k.x) * k.y) * k.w;
  }
  out[v] = select(out[v], r, chunk_lanes(v));
}
