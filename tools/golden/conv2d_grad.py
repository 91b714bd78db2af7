"""Goldens for the conv2d backward kernels (src/kernels/conv2d-grad.ts, shaders/conv2d_dgrad.wgsl,
shaders/conv2d_wgrad.wgsl).

Run: /usr/bin/python3 tools/golden/conv2d_grad.py   (Debian's python3-torch)
Each case stores x [N,Cin,H,W], w [Cout,Cin,k,k], dy [N,Cout,Ho,Wo] (all random) and the
gradients of L = (F.conv2d(x, w, stride=s, padding=p) * dy).sum():
  dx, dw      torch.autograd.grad in float32 (what PyTorch's training step computes)
  dx64, dw64  the same in float64 (stored rounded to float32): the reference the tests compare to.
The metadata records, per case, max |f32 - f64| / max(1, max |f64|) of PyTorch itself, so that the
tests' tolerances can be read against PyTorch's own float32 error.
Cases: every torchvision ResNet conv kind (7x7/2 pad 3 stem with 3 input channels, 3x3/1 pad 1,
3x3/2 pad 1, 1x1/1, 1x1/2), odd and even sizes, channel counts that are no multiple of 4 or 16,
more input channels than one workgroup's 64 lanes, a reduction long enough to be split, plus two
generic kernels (5x5/2 pad 1, 3x3/1 pad 0).
"""
import torch
import torch.nn.functional as F

from fixture import save

torch.manual_seed(0)
t = {}
meta = {'generator': 'tools/golden/conv2d_grad.py', 'torch': torch.__version__}


def grads(x, w, dy, stride, pad):
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    # torch: torch.autograd.grad((F.conv2d(x, w, stride=s, padding=p) * dy).sum(), (x, w))
    loss = (F.conv2d(x, w, stride=stride, padding=pad) * dy).sum()
    return torch.autograd.grad(loss, (x, w))


def rel_err(a, ref):
    return float((a.double() - ref).abs().max() / max(1.0, float(ref.abs().max())))


def case(name, n, cin, cout, h, w, k, stride, pad):
    x = torch.randn(n, cin, h, w)
    weight = torch.randn(cout, cin, k, k) / (cin * k * k) ** 0.5
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    dy = torch.randn(n, cout, ho, wo)
    dx, dw = grads(x, weight, dy, stride, pad)
    dx64, dw64 = grads(x.double(), weight.double(), dy.double(), stride, pad)
    t.update({f'{name}.x': x, f'{name}.w': weight, f'{name}.dy': dy, f'{name}.dx': dx, f'{name}.dw': dw,
              f'{name}.dx64': dx64, f'{name}.dw64': dw64})
    meta[f'{name}.conv'] = f'k{k} stride {stride} pad {pad}'
    meta[f'{name}.torch_dx_err'] = f'{rel_err(dx, dx64):.3e}'
    meta[f'{name}.torch_dw_err'] = f'{rel_err(dw, dw64):.3e}'


case('stem_odd', 2, 3, 10, 19, 21, 7, 2, 3)     # ResNet stem: 7x7 stride 2 pad 3, Cin 3
case('stem_even', 2, 3, 17, 16, 18, 7, 2, 3)
case('k3s1_odd', 2, 5, 13, 9, 11, 3, 1, 1)      # basic/bottleneck 3x3
case('k3s1_even', 3, 20, 18, 8, 10, 3, 1, 1)    # two blocks of 16 channels each way
case('k3s1_long', 3, 8, 6, 24, 26, 3, 1, 1)     # 1872 products per weight gradient: split reduction
case('k3s2_odd', 2, 6, 5, 9, 11, 3, 2, 1)       # first 3x3 of a stage (torchvision v1.5: stride in the 3x3)
case('k3s2_even', 3, 13, 20, 10, 8, 3, 2, 1)
case('k1s1', 2, 12, 20, 5, 11, 1, 1, 0)         # bottleneck 1x1
case('k1s1_wide', 2, 70, 9, 6, 7, 1, 1, 0)      # Cin 70: more input channels than 64 lanes
case('k1s2_odd', 2, 8, 12, 9, 7, 1, 2, 0)       # downsample 1x1 stride 2
case('k1s2_even', 3, 5, 7, 8, 10, 1, 2, 0)
case('k5s2p1', 2, 4, 6, 11, 10, 5, 2, 1)        # generic: pad below (k-1)/2
case('k3s1p0', 2, 3, 5, 7, 9, 3, 1, 0)          # generic: no padding

save('conv2d_grad', t, meta)
