// The probe of src/gpu/lane-reads.ts: which way this adapter reads values whose address differs
// from lane to lane faster, from a storage buffer or from an r32float texel mirror of it. The
// pattern of the kernels that ask (conv2d.wgsl's X, winograd.wgsl's transforms, group_norm.wgsl's
// partials): consecutive lanes read consecutive values, each lane per_lane of them a row apart.
struct Params {
  lanes: u32,    // invocations; the values read are lanes * per_lane
  per_lane: u32, // values each invocation sums
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
// S_TEXELS: an r32float mirror of src (src/gpu/texels.ts), value i at texel (i % 4096, i / 4096).
@group(0) @binding(3) var St: texture_2d<f32>;

override WG: u32 = 64u;
override S_TEXELS: bool = false;

fn value(i: u32) -> f32 {
  if (S_TEXELS) { return textureLoad(St, vec2<u32>(i & 4095u, i >> 12u), 0).x; }
  return src[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let lane = gid.x;
  if (lane >= p.lanes) { return; }
  var sum = 0.0;
  for (var k = 0u; k < p.per_lane; k++) {
    sum += value(lane + k * p.lanes);
  }
  out[lane] = sum;
}
