// 2-D convolution as an implicit GEMM: out = act(conv(x, w) + bias) + residual, NCHW f32.
// x [N, Cin, H, W], out and residual [N, Cout, Ho, Wo]. The weights come re-laid out by
// src/kernels/conv2d.ts as [ceil(Cout/8)][Cin][K][K][8] (zero-padded output channels), so the 8
// output channels of one tap are two consecutive vec4; bias likewise padded to a multiple of 8.
//
// Mapping (no workgroup memory: barriers are expensive on CPU adapters, registers are cheap):
// workgroup_id.y picks the block of 8 output channels, so every weight load is uniform across the
// workgroup (a broadcast on SIMD emulators, one cache line on GPUs); workgroup_id.z picks the
// image; each invocation computes TP consecutive output pixels of one row for the 8 channels,
// accumulating vec4s along the output channels. Per input channel and kernel row it loads the
// (TP-1)*S+K input values its TP outputs share once, then reuses them for all K taps.
// Padding: input coordinates iy = oy*S + ky - pad (likewise x); taps outside the input read zero
// (loads use a clamped index, the value is zeroed by select), which also yields the implicit
// bottom/right padding of the DDPM Downsample.
struct Params {
  cin: u32,          // input channels
  h: u32,            // input height
  w: u32,            // input width
  cout: u32,         // output channels
  ho: u32,           // output height
  wo: u32,           // output width
  pad: u32,          // zero rows/columns added above and left of the input
  tiles_x: u32,      // ceil(wo / TP): pixel tiles per output row
  has_bias: u32,     // 1: add bias (binding 3)
  has_residual: u32, // 1: add residual (binding 4) after the activation
  act: u32,          // 0: none, 1: swish
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;

override K: u32 = 3u;   // kernel size (1..7)
override S: u32 = 1u;   // stride (1 or 2)
override WG: u32 = 64u; // invocations per workgroup

const TP: u32 = 8u;           // output pixels per invocation (consecutive along x)
const MAX_K: u32 = 7u;
const MAX_IW: u32 = 21u;      // (TP - 1) * 2 + MAX_K: input columns a tile can touch

fn activate(v: f32) -> f32 {
  if (p.act == 1u) { return v / (1.0 + exp(-v)); }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = wid.x * WG + lid.x;
  // Lanes past the last tile compute a clamped tile and store nothing.
  let oy = min(tile / p.tiles_x, p.ho - 1u);
  let ox0 = (tile % p.tiles_x) * TP;
  let n = wid.z;
  let IW = (TP - 1u) * S + K;

  // Input columns of the tile (clamped) and whether each lies inside the input.
  var col: array<u32, MAX_IW>;
  var colOk: array<bool, MAX_IW>;
  let ix0 = i32(ox0 * S) - i32(p.pad);
  for (var j = 0u; j < IW; j++) {
    let ix = ix0 + i32(j);
    colOk[j] = ix >= 0 && ix < i32(p.w);
    col[j] = u32(clamp(ix, 0, i32(p.w) - 1));
  }
  // Offsets of the K input rows within a channel plane, and their validity.
  var row: array<u32, MAX_K>;
  var rowOk: array<bool, MAX_K>;
  let iy0 = i32(oy * S) - i32(p.pad);
  for (var ky = 0u; ky < K; ky++) {
    let iy = iy0 + i32(ky);
    rowOk[ky] = iy >= 0 && iy < i32(p.h);
    row[ky] = u32(clamp(iy, 0, i32(p.h) - 1)) * p.w;
  }

  var acc0: array<vec4<f32>, TP>; // output channels 8g+0..3 of pixel ox0+j
  var acc1: array<vec4<f32>, TP>; // output channels 8g+4..7
  let plane = p.h * p.w;
  var xb = n * p.cin * plane;
  var wb = wid.y * p.cin * K * K * 2u;
  for (var ci = 0u; ci < p.cin; ci++) {
    for (var ky = 0u; ky < K; ky++) {
      var win: array<f32, MAX_IW>;
      let rb = xb + row[ky];
      for (var j = 0u; j < IW; j++) {
        win[j] = select(0.0, X[rb + col[j]], rowOk[ky] && colOk[j]);
      }
      for (var kx = 0u; kx < K; kx++) {
        let w0 = Wt[wb];
        let w1 = Wt[wb + 1u];
        wb += 2u;
        for (var j = 0u; j < TP; j++) {
          let v = vec4(win[j * S + kx]);
          acc0[j] = fma(v, w0, acc0[j]);
          acc1[j] = fma(v, w1, acc1[j]);
        }
      }
    }
    xb += plane;
  }

  if (tile >= p.ho * p.tiles_x) { return; }
  var b0 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  if (p.has_bias == 1u) {
    b0 = bias[wid.y * 2u];
    b1 = bias[wid.y * 2u + 1u];
  }
  let co0 = wid.y * 8u;
  let outPlane = p.ho * p.wo;
  for (var c = 0u; c < 8u; c++) {
    let co = co0 + c;
    if (co >= p.cout) { break; }
    let ob = (n * p.cout + co) * outPlane + oy * p.wo;
    for (var j = 0u; j < TP; j++) {
      let ox = ox0 + j;
      if (ox < p.wo) {
        var v: f32;
        if (c < 4u) { v = acc0[j][c] + b0[c]; } else { v = acc1[j][c - 4u] + b1[c - 4u]; }
        v = activate(v);
        if (p.has_residual == 1u) { v += residual[ob + ox]; }
        Y[ob + ox] = v;
      }
    }
  }
}
