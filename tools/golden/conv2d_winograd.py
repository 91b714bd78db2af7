"""Goldens for the Winograd F(4x4, 3x3) convolution (src/kernels/conv2d-winograd.ts).

Run: /usr/bin/python3 tools/golden/conv2d_winograd.py   (Debian's python3-torch)
Each case stores x, weight, bias (when used), residual (when used), `out`: the float64 result
(inputs drawn in float32, the convolution in float64, rounded to float32 at the end) and
`torch32`: PyTorch's own float32 result, so that the test can state PyTorch's error beside ours.
Sizes against the tiles: heights and widths that are not multiples of 4 (partial output tiles,
the 6x6 input patch past the image), batches whose tiles run on in one numbering, channel counts
that are not multiples of 16, and the LSUN UNet's 128 channels (the sum's length sets the error).
"""
import torch
import torch.nn.functional as F

from fixture import save

torch.manual_seed(0)
t = {}


def conv(x, weight, b, act, r):
    # torch: F.conv2d(x, weight, b, padding=1), then F.silu / + residual / F.relu as conv2d.wgsl
    y = F.conv2d(x, weight, b, padding=1)
    if act == 'swish':
        y = F.silu(y)
    if r is not None:
        y = y + r
    if act == 'relu':
        y = F.relu(y)
    return y


def case(name, n, cin, cout, h, w, bias=True, act='none', residual=False):
    x = torch.randn(n, cin, h, w)
    weight = torch.randn(cout, cin, 3, 3) / (cin * 9) ** 0.5
    b = torch.randn(cout) if bias else None
    r = torch.randn(n, cout, h, w) if residual else None
    t[name + '.x'], t[name + '.weight'] = x, weight
    if b is not None:
        t[name + '.bias'] = b
    if r is not None:
        t[name + '.residual'] = r
    d = lambda v: None if v is None else v.double()
    t[name + '.out'] = conv(x.double(), weight.double(), d(b), act, d(r))
    t[name + '.torch32'] = conv(x, weight, b, act, r)


case('odd', 2, 5, 7, 9, 13)                                # partial tiles on both axes, 2 images
case('small', 3, 4, 21, 3, 5, act='swish', residual=True)  # one tile per image, 2 channel blocks
case('nobias_relu', 1, 17, 16, 12, 8, bias=False, act='relu', residual=True)
case('wide', 1, 6, 9, 7, 70)                               # 36 tiles in a row
case('unet128', 1, 128, 32, 20, 24, act='swish')           # the LSUN UNet's 128 input channels

save('conv2d_winograd', t, {'generator': 'tools/golden/conv2d_winograd.py', 'torch': torch.__version__})
