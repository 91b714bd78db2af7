// The released DNF quantisation (torchvision save_image): q = uint8(clamp(x * 255 + 0.5, 0, 255)),
// every step rounded in f32, the cast truncating. Input: eps [N, 3, H, W] f32; output: interleaved
// HWC bytes of all images back to back, 4 bytes per u32 (each invocation writes one u32).
struct Params {
  words: u32,  // u32 words of output: ceil(N * H * W * 3 / 4)
  bytes: u32,  // output bytes: N * H * W * 3
  plane: u32,  // H * W: pixels per channel plane
  row: u32,    // invocations per grid row: workgroups in x * WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> eps: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

override WG: u32 = 256;

fn quantize(x: f32) -> u32 {
  // NaN -> 0, as torch's cast gives on x86 (clamp keeps NaN; the float -> uint8 cast yields 0).
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  // Outside [-2, 2] the result is already 0 or 255; clamping first keeps inf - inf out of the next line.
  let v = clamp(x, -2.0, 2.0);
  // v * 256 is exact, so v * 256 - v is v * 255 rounded once, as torch's mul(255) rounds it, whether
  // or not the compiler fuses it into fma(v, 256, -v). Writing v * 255.0 + 0.5 instead would let a
  // backend contract the two roundings into one fma (WGSL does not forbid it; SPIR-V and GLSL allow
  // it), which differs from torch next to .5 boundaries.
  let a = v * 256.0 - v;
  let b = a + 0.5;
  return u32(clamp(b, 0.0, 255.0));
}

fn byte_value(j: u32) -> u32 {
  if (j >= p.bytes) { return 0u; }
  let pix = j / 3u;
  let c = j % 3u;
  let n = pix / p.plane;
  let s = (n * 3u + c) * p.plane + pix % p.plane;
  return quantize(eps[min(s, arrayLength(&eps) - 1u)]);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.words) { return; }
  let j = i * 4u;
  out[i] = byte_value(j) | (byte_value(j + 1u) << 8u) | (byte_value(j + 2u) << 16u) | (byte_value(j + 3u) << 24u);
}
