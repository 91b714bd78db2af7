"""Goldens for the first kernels: elementwise ops, matmul, reductions.

Run: /usr/bin/python3 tools/golden/basic_ops.py   (Debian's python3-torch)
Sizes include ones that are not multiples of the tile sizes (matmul tiles: 16 rows x 8 columns for
the vec4 kernel, 4 x 4 for the scalar one; reductions: 256-wide workgroups, 4096-element chunks).
"""
import torch

from fixture import save

torch.manual_seed(0)
t = {}

# Elementwise: x [2, 5, 7, 9]; per-channel vector [5, 1, 1]; scalar; equal shapes.
x = torch.randn(2, 5, 7, 9)
y = torch.randn(2, 5, 7, 9)
ch = torch.randn(5, 1, 1)
s = torch.randn(1)
t['ew.x'], t['ew.y'], t['ew.ch'], t['ew.s'] = x, y, ch, s
t['ew.add'] = x + y            # torch: x + y
t['ew.add_ch'] = x + ch        # torch: x + ch (broadcast over N, H, W)
t['ew.mul_s'] = x * s          # torch: x * s
t['ew.mul'] = x * y
t['ew.swish'] = torch.nn.functional.silu(x)
t['ew.sigmoid'] = torch.sigmoid(x)

# Matmul cases: (name, batchA, batchB, M, K, N)
cases = [
    ('mm.cube', None, None, 64, 64, 64),
    ('mm.odd', None, None, 67, 93, 130),        # scalar kernel (K, N not multiples of 4)
    ('mm.vec_tail', None, None, 37, 52, 140),   # vec4 kernel, M and N not multiples of the tile
    ('mm.batched', 3, 3, 19, 24, 36),
    ('mm.bcast_b', 4, None, 10, 16, 12),        # B shared by all batches
    ('mm.tall', None, None, 300, 8, 4),
]
for name, ba, bb, M, K, N in cases:
    a = torch.randn(*( [ba] if ba else []), M, K)
    b = torch.randn(*( [bb] if bb else []), K, N)
    t[name + '.a'], t[name + '.b'] = a, b
    t[name + '.out'] = torch.matmul(a, b)     # torch: a @ b
# Fused bias + activation: torch: silu(a @ b + bias)
a = torch.randn(33, 20)
b = torch.randn(20, 44)
bias = torch.randn(44)
t['mm.bias_swish.a'], t['mm.bias_swish.b'], t['mm.bias_swish.bias'] = a, b, bias
t['mm.bias_swish.out'] = torch.nn.functional.silu(a @ b + bias)
a = torch.randn(5, 7)
b = torch.randn(7, 3)
bias = torch.randn(3)
t['mm.bias_sigmoid.a'], t['mm.bias_sigmoid.b'], t['mm.bias_sigmoid.bias'] = a, b, bias
t['mm.bias_sigmoid.out'] = torch.sigmoid(a @ b + bias)

# Reductions: last axis of [13, 1000] and [3, 5] and all of 20011 elements.
r = torch.randn(13, 1000)
t['red.rows'] = r
t['red.rows.sum'] = r.sum(-1)
t['red.rows.max'] = r.amax(-1)
t['red.rows.min'] = r.amin(-1)
r2 = torch.randn(3, 5)
t['red.small'] = r2
t['red.small.sum'] = r2.sum(-1)
big = torch.rand(20011) * 2 - 0.5
t['red.all'] = big
t['red.all.sum'] = big.double().sum().float().reshape([])  # exact reference, compared with a relative tolerance
t['red.all.max'] = big.max().reshape([])
t['red.all.min'] = big.min().reshape([])

save('basic_ops', t, {'generator': 'tools/golden/basic_ops.py', 'torch': torch.__version__})
