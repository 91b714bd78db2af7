"""Goldens for the UNet's kernels other than convolution: GroupNorm (+swish), attention, nearest
upsampling, channel concat, timestep embedding.

Run: /usr/bin/python3 tools/golden/unet_ops.py   (Debian's python3-torch)

GroupNorm and attention references are computed in float64 from the float32 inputs (then stored
as float32), so the tests measure the kernels' own error rather than the difference between two
float32 implementations. The timestep embedding is torch's float32 computation, exactly the
reference code, since the kernel must reproduce its float32 roundings.

Large GroupNorm inputs would not fit a small fixture: their input is a hash of the element index
(`hash_input`, reproduced bit for bit by test/gpu/unet-ops.test.ts) and only every SAMPLE-th output
is stored.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from fixture import save

torch.manual_seed(0)
t = {}
SAMPLE = 607


def hash_input(n, offset):
    """x[i] = k / 2^22 - 2 + offset with k the top 24 bits of a 32-bit integer hash of i: uniform in
    [offset - 2, offset + 2), exact in float64, then rounded once to float32."""
    h = np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B1)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    k = (h >> np.uint32(8)).astype(np.float64)
    return torch.from_numpy((k / 2.0**22 - 2.0 + offset).astype(np.float32))


def group_norm64(x, gamma, beta, swish):
    # torch: nn.GroupNorm(32, C, eps=1e-6, affine=True)(x), then x * sigmoid(x) if swish
    y = F.group_norm(x.double(), 32, gamma.double(), beta.double(), eps=1e-6)
    return F.silu(y) if swish else y


# GroupNorm on small inputs (stored whole): (name, shape, swish, offset)
for name, shape, swish, offset in [
    ('gn.c64', (2, 64, 7, 9), False, 0.0),
    ('gn.c96_swish', (2, 96, 7, 9), True, 0.0),
    ('gn.offset', (2, 64, 7, 9), False, 100.0),   # x + 100: a naive E[x^2] - mean^2 loses ~1e-3 here
    ('gn.seq', (2, 32, 49), True, 0.0),           # [N, C, L], one channel per group
]:
    C = shape[1]
    x = torch.randn(*shape) + offset
    gamma = torch.randn(C)
    beta = torch.randn(C)
    t[name + '.x'], t[name + '.gamma'], t[name + '.beta'] = x, gamma, beta
    t[name + '.out'] = group_norm64(x, gamma, beta, swish)

# GroupNorm on hashed inputs, output sampled every SAMPLE-th element: groups of 2 * 96 * 96 = 18432
# elements (5 partial-statistics workgroups of 16 elements per invocation, the last workgroup partly
# empty), of 2 * 192 * 192 = 73728 elements (15 workgroups of 20 elements per invocation), and of
# 75 * 75 = 5625 elements (odd plane size: the scalar kernels; 2 workgroups).
for name, shape, swish, offset in [
    ('gn.hash', (1, 64, 96, 96), False, 0.0),
    ('gn.hash_big', (1, 64, 192, 192), True, 1.0),
    ('gn.hash_odd', (1, 32, 75, 75), False, -3.0),
]:
    C = shape[1]
    x = hash_input(math.prod(shape), offset).reshape(shape)
    gamma = torch.randn(C)
    beta = torch.randn(C)
    t[name + '.gamma'], t[name + '.beta'] = gamma, beta
    t[name + '.out_sampled'] = group_norm64(x, gamma, beta, swish).flatten()[::SAMPLE]


def attn_block_core(q, k, v):
    # pytorch_diffusion AttnBlock.forward, from the 1x1 convs' outputs on:
    b, c, h, w = q.shape
    q = q.reshape(b, c, h * w)
    q = q.permute(0, 2, 1)   # b,hw,c
    k = k.reshape(b, c, h * w)  # b,c,hw
    w_ = torch.bmm(q, k)     # b,hw,hw    w[b,i,j]=sum_c q[b,i,c]k[b,c,j]
    w_ = w_ * (int(c) ** (-0.5))
    w_ = torch.nn.functional.softmax(w_, dim=2)
    v = v.reshape(b, c, h * w)
    w_ = w_.permute(0, 2, 1)   # b,hw,hw (first hw of k, second of q)
    return torch.bmm(v, w_)     # b, c,hw (hw of q)


# Attention: (name, N, C, H, W); q scaled by 2 so the softmax is peaked, not flat.
for name, N, C, H, W in [('attn.c64', 2, 64, 7, 7), ('attn.c32', 2, 32, 16, 16)]:
    q = 2 * torch.randn(N, C, H, W)
    k = torch.randn(N, C, H, W)
    v = torch.randn(N, C, H, W)
    t[name + '.q'], t[name + '.k'], t[name + '.v'] = (a.reshape(N, C, H * W) for a in (q, k, v))
    t[name + '.out'] = attn_block_core(q.double(), k.double(), v.double())

# Upsample: torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"); odd and even widths
for name, shape in [('up', (2, 3, 5, 7)), ('up_even', (2, 3, 3, 10))]:
    x = torch.randn(*shape)
    t[name + '.x'] = x
    t[name + '.out'] = F.interpolate(x, scale_factor=2.0, mode='nearest')

# Concat: torch.cat([a, b], dim=1)
a = torch.randn(2, 3, 5, 7)
b = torch.randn(2, 4, 5, 7)
t['cat.a'], t['cat.b'] = a, b
t['cat.out'] = torch.cat([a, b], dim=1)


def get_timestep_embedding(timesteps, embedding_dim):
    # pytorch_diffusion / DDPM reference, verbatim
    assert len(timesteps.shape) == 1
    half_dim = embedding_dim // 2
    emb = math.log(10000) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim) * -emb)
    emb = emb.to(device=timesteps.device)
    emb = timesteps.float()[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if embedding_dim % 2 == 1:  # zero pad
        emb = torch.nn.functional.pad(emb, (0, 1, 0, 0))
    return emb


steps = torch.tensor([0, 1, 999, 250.5])
t['temb.t'] = steps
for dim in (128, 64, 33):
    t[f'temb.{dim}'] = get_timestep_embedding(steps, dim)

save('unet_ops', t, {'generator': 'tools/golden/unet_ops.py', 'torch': torch.__version__, 'sample': SAMPLE})
