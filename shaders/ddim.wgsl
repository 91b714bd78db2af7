// One deterministic DDIM update (eta 0) of src/diffusion/ddim.ts, from noise level abar_t to
// abar_to, in guided-diffusion's form (coefficients computed in float64 on the CPU, used as f32):
//   x0  = sqrt(1/abar_t) * x - sqrt(1/abar_t - 1) * eps             (_predict_xstart_from_eps)
//   optional: x0 = clamp(x0, -1, 1); eps = (sqrt(1/abar_t) * x - x0) / sqrt(1/abar_t - 1)
//   out = sqrt(abar_to) * x0 + sqrt(1 - abar_to) * eps
// Inversion steps to the next (noisier) level, sampling to the previous one.
struct Params {
  n: u32,          // elements
  row: u32,        // invocations per grid row: workgroups in x * WG
  recip: f32,      // sqrt(1 / abar_t)
  recipm1: f32,    // sqrt(1 / abar_t - 1)
  to_x0: f32,      // sqrt(abar_to)
  to_eps: f32,     // sqrt(1 - abar_to)
  clamp_x0: u32,   // 1: clamp x0 to [-1, 1] and re-derive eps from it (guided-diffusion's clip_denoised)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> eps: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let xv = x[i];
  var e = eps[i];
  var x0 = p.recip * xv - p.recipm1 * e;
  if (p.clamp_x0 != 0u) {
    x0 = clamp(x0, -1.0, 1.0);
    e = (p.recip * xv - x0) / p.recipm1;
  }
  out[i] = p.to_x0 * x0 + p.to_eps * e;
}
