// One Adam step over a flat arena (all parameters of a model in one dispatch), equal bit for bit
// to torch.optim.Adam (1.13, single-tensor path, amsgrad off) on an x86 CPU build with AVX2.
//
// Per element, PyTorch's operations in its order, each rounded to f32 as ATen rounds them:
//   g = fma(param, wd, grad)          grad.add(param, alpha=wd), only when wd != 0
//   m = fma(g, 1 - b1, m * b1)        exp_avg.mul_(b1).add_(grad, alpha=1 - b1)
//   v = fma((1 - b2) * g, g, v * b2)  exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
//   d = sqrt(v) / bc2 + eps           (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
//   param = param + (-step * m) / d   param.addcdiv_(exp_avg, denom, value=-step_size)
// ATen's CPU kernels compute alpha-add and addcmul with fused multiply-adds (measured: every
// element of 10^6 matches the fused rounding, not the unfused one, also in the scalar tails), and
// true divisions. WGSL's fma() is not fused on the CPU adapters (Mesa llvmpipe, SwiftShader), so
// fma_rn emulates a correctly rounded one: an exact product (Dekker) and a three-term sum rounded
// once (Boldo and Melquiond's round-to-odd). Their steps only hold if the compiler keeps every
// rounding; llvmpipe reassociates float arithmetic and cancels (a + b) - a, so each step passes
// through keep(), an xor with a uniform zero that the compiler cannot see through.
// An element whose grad, m, v (and param, or wd = 0) are zero stays as it is: arena padding.
struct Params {
  n: u32,         // elements
  row: u32,       // invocations per grid row: workgroups in x * WG
  opaque: u32,    // always 0: keep() xors with it
  wd: f32,        // weight decay (0: the decay step is skipped, as PyTorch skips it)
  b1: f32,        // beta1
  b2: f32,        // beta2
  c1: f32,        // 1 - beta1 (in float64, then rounded, as PyTorch's Python float)
  c2: f32,        // 1 - beta2
  neg_step: f32,  // -lr / (1 - beta1^t)
  bc2: f32,       // sqrt(1 - beta2^t)
  eps: f32,       // added to the denominator
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;  // exp_avg
@group(0) @binding(4) var<storage, read_write> v: array<f32>;  // exp_avg_sq

override WG: u32 = 256; // invocations per workgroup

// x, rounded here: the compiler can neither fuse it into a neighbour nor reassociate across it.
fn keep(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) ^ p.opaque);
}

// a == hi + lo with at most 12 significant bits each (the low 12 mantissa bits cut off), so
// every product of two halves is exact in f32.
fn split(a: f32) -> vec2<f32> {
  let hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
  return vec2<f32>(hi, a - hi);
}

// (p, e) with p = a * b rounded and p + e == a * b exactly (Dekker's product).
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let pr = keep(a * b);
  let x = split(a);
  let y = split(b);
  let e1 = keep(keep(x.x * y.x) - pr);
  let e2 = keep(e1 + keep(x.x * y.y));
  let e3 = keep(e2 + keep(x.y * y.x));
  return vec2<f32>(pr, keep(e3 + keep(x.y * y.y)));
}

// (s, e) with s = a + b rounded and s + e == a + b exactly (Knuth's two-sum).
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = keep(a + b);
  let bb = keep(s - a);
  let ea = keep(a - keep(s - bb));
  let eb = keep(b - bb);
  return vec2<f32>(s, keep(ea + eb));
}

// a + b rounded to odd: when inexact, the neighbour of the two whose last mantissa bit is 1.
fn add_odd(a: f32, b: f32) -> f32 {
  let t = two_sum(a, b);
  var bits = bitcast<u32>(t.x);
  if (t.y != 0.0 && (bits & 1u) == 0u) {
    bits = select(bits - 1u, bits + 1u, (t.y > 0.0) == (t.x > 0.0));
  }
  return bitcast<f32>(bits);
}

// a * b + c rounded once (a fused multiply-add), barring underflow of the product's error term.
fn fma_rn(a: f32, b: f32, c: f32) -> f32 {
  let pr = two_prod(keep(a), keep(b));
  let t = two_sum(keep(c), pr.x);
  return keep(t.x + add_odd(t.y, pr.y));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.row;
  if (i >= p.n) { return; }
  let w = param[i];
  var g = grad[i];
  if (p.wd != 0.0) {
    g = fma_rn(w, p.wd, g);
  }
  let mi = fma_rn(g, p.c1, keep(m[i] * p.b1));
  let vi = fma_rn(keep(p.c2 * g), g, keep(v[i] * p.b2));
  let d = keep(keep(sqrt(vi) / p.bc2) + p.eps);
  m[i] = mi;
  v[i] = vi;
  param[i] = keep(w + keep(keep(p.neg_step * mi) / d));
}
