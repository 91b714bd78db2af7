// BCEWithLogitsLoss with mean reduction (PyTorch 1.13, no weights), and its gradient, in one
// dispatch of one workgroup.
//
// Per element, ATen's CPU formula in its operation order (binary_cross_entropy_with_logits):
//   m = max(-z, 0);  l = ((1 - y) * z + m) + log(exp(-m) + exp(-z - m))
// which never overflows (both exponents are <= 0). The loss is the mean of l (sum / n); the
// gradient of the mean is (sigmoid(z) - y) / n, PyTorch's backward (sigmoid computed here from
// exp(-|z|), which cannot overflow, where PyTorch's 1 / (1 + exp(-z)) may reach 1 / inf = 0).
// Invocation i handles elements i, i + WG, ...; invocation 0 then adds the WG partial sums in
// order. exp and log are the adapter's (a few ulp from PyTorch's), and the summation order is not
// PyTorch's: the loss agrees to a few ulp, not bit for bit.
struct Params {
  n: u32, // elements of logits and targets
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;      // logits
@group(0) @binding(2) var<storage, read> y: array<f32>;      // targets
@group(0) @binding(3) var<storage, read_write> loss: array<f32>; // [1]: the mean loss
@group(0) @binding(4) var<storage, read_write> grad: array<f32>; // d loss / d z, like z

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

fn bce(zi: f32, yi: f32) -> f32 {
  let m = max(-zi, 0.0);
  return ((1.0 - yi) * zi + m) + log(exp(-m) + exp(-zi - m));
}

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(WG)
fn bce_with_logits(@builtin(local_invocation_id) lid: vec3<u32>) {
  let count = f32(p.n);
  var s = 0.0;
  for (var i = lid.x; i < p.n; i += WG) {
    s += bce(z[i], y[i]);
    grad[i] = (sigmoid(z[i]) - y[i]) / count;
  }
  partial[lid.x] = s;
  workgroupBarrier();
  if (lid.x == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) {
      total += partial[j];
    }
    loss[0] = total / count;
  }
}
