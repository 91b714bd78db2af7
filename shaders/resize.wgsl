// Separable image resampling with precomputed taps, as torch's CPU interpolate does it: a
// horizontal pass (`rows_u8`: packed 8-bit RGB in, planar f32 out) and, when the height changes,
// a vertical pass (`cols`: planar f32 in and out). Each output position reads `taps` (index,
// weight) pairs from `table` (weight as f32 bits; padding pairs are (0, 0.0)); the CPU computes
// them (src/kernels/resize.ts), so any filter and both antialias modes share these kernels.
// The last pass applies the output mode. Invocations are numbered flat over a 2-D grid.
struct Params {
  count: u32,      // outputs written by this dispatch (3 * lines * len)
  row: u32,        // invocations per grid row: workgroups in x * WG
  len: u32,        // outputs per line: output width (both passes)
  lines: u32,      // lines in this dispatch: source rows of the slab (rows_u8) or output rows (cols)
  src_len: u32,    // rows_u8: source width in pixels; cols: source rows per channel plane
  taps: u32,       // (index, weight) pairs per output position
  dst_lines: u32,  // lines per channel plane of dst
  dst_line0: u32,  // dst line of this dispatch's first line
  dst_offset: u32, // element offset of this image in dst
  in_mode: u32,    // rows_u8: 0 = byte / 255 correctly rounded (ToTensor), 1 = f32(byte) (uint8 tensor)
  out_mode: u32,   // 0 = v, 1 = v * 2 - 1, 2 = round(clamp(v, 0, 255)) / 255 (torchvision uint8 resize)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;     // rows_u8: RGB bytes, 4 per u32; cols: f32 bits
@group(0) @binding(2) var<storage, read> table: array<u32>;   // [position][tap] pairs (index, f32 bits)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256;

// f32(b) / 255 correctly rounded for b in 0..255, as torch divides; WGSL's `/` may be 2.5 ulp off.
// b << s puts b's top bit at bit 31, so n / 255 lies in [2^23, 2^24): rounding it to an integer
// (255 is odd: no ties) is rounding to 24 significant bits; scaling by 2^-s is exact.
fn unit(b: u32) -> f32 {
  if (b == 0u || b == 255u) { return f32(b / 255u); }
  let s = 31u - firstLeadingBit(b);
  let m = ((b << s) + 127u) / 255u;
  return f32(m) * bitcast<f32>((127u - s) << 23u);
}

fn finish(v: f32) -> f32 {
  switch p.out_mode {
    case 1u: { return v * 2.0 - 1.0; }  // 2v is exact, so a fused multiply-add rounds the same
    case 2u: { return unit(u32(round(clamp(v, 0.0, 255.0)))); }
    default: { return v; }
  }
}

fn tap(pos: u32, k: u32) -> vec2<u32> {
  let t = min((pos * p.taps + k) * 2u, arrayLength(&table) - 2u);
  return vec2<u32>(table[t], table[t + 1u]);
}

fn byte_at(i: u32) -> u32 {
  let w = src[min(i >> 2u, arrayLength(&src) - 1u)];
  return (w >> ((i & 3u) * 8u)) & 0xffu;
}

fn store(i: u32, v: f32) {
  let d = min(i, arrayLength(&dst) - 1u);
  dst[d] = finish(v);
}

@compute @workgroup_size(WG)
fn rows_u8(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.count) { return; }
  let x = i % p.len;
  let r = (i / p.len) % p.lines;
  let c = i / (p.len * p.lines);
  let base = r * p.src_len;
  var acc = 0.0;
  for (var k = 0u; k < p.taps; k++) {
    let t = tap(x, k);
    let b = byte_at((base + min(t.x, p.src_len - 1u)) * 3u + c);
    let v = select(unit(b), f32(b), p.in_mode == 1u);
    acc += bitcast<f32>(t.y) * v;
  }
  store(p.dst_offset + (c * p.dst_lines + p.dst_line0 + r) * p.len + x, acc);
}

@compute @workgroup_size(WG)
fn cols(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.count) { return; }
  let x = i % p.len;
  let y = (i / p.len) % p.lines;
  let c = i / (p.len * p.lines);
  let n = arrayLength(&src) - 1u;
  var acc = 0.0;
  for (var k = 0u; k < p.taps; k++) {
    let t = tap(y, k);
    let s = (c * p.src_len + min(t.x, p.src_len - 1u)) * p.len + x;
    acc += bitcast<f32>(t.y) * bitcast<f32>(src[min(s, n)]);
  }
  store(p.dst_offset + (c * p.dst_lines + p.dst_line0 + y) * p.len + x, acc);
}
