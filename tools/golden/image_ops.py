"""Goldens for image preprocessing (bicubic resize, both antialias settings) and DNF quantisation.

Run: /usr/bin/python3 tools/golden/image_ops.py   (Debian's python3-torch 1.13 / torchvision 0.14)
Input images are not stored: both sides generate them with `pattern` (an integer hash; see
test/gpu/image-ops.test.ts), so only the outputs take space. Target sizes are small (32, 24, 5)
to keep the fixture small; the kernels take any size.

Keys (S = target size, AA = 0 or 1):
  img.<case>.sum                  sum of the generated uint8 image mod 1000003 (both generators agree)
  f.<case>.aa<AA>                 the DNF input: 2 * Resize((S, S), BICUBIC, antialias)(ToTensor(img)) - 1
  u8.<case>.aa<AA>                the classifier input: Resize((S, S), BICUBIC, antialias)(uint8 CHW) / 255
  q.x, q.u8                       quantisation input [2, 3, 25, 27] and save_image's bytes [2, 25, 27, 3]
"""
import os
import tempfile

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.utils import save_image

from fixture import save

M = 0xFFFFFFFF


def pattern(h, w, seed):
    """uint8 HWC image: byte i (row-major, RGB interleaved) = low byte of a 32-bit integer hash."""
    i = np.arange(h * w * 3, dtype=np.uint64)
    x = (i + seed * 0x9E3779B9) & M
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M
    x = x ^ (x >> 16)
    return (x & 255).astype(np.uint8).reshape(h, w, 3)


# name: (height, width, seed, target size)
CASES = {
    'up': (23, 37, 1, 32),       # upsampling, non-square
    'down': (90, 120, 2, 32),    # downsampling by 2.8 x 3.75
    'down8': (200, 150, 3, 24),  # downsampling by 8.3 x 6.25: many antialias taps
    'wide': (32, 50, 4, 32),     # only the width changes (one pass)
    'tall': (50, 32, 5, 32),     # only the height changes
    'same': (32, 32, 6, 32),     # identity: exact
    'tiny': (2, 3, 7, 5),        # border clamping everywhere
    'big': (750, 1000, 8, 24),   # downsampling by 31 x 42: source positions far from 0 (f32 rounding)
}
U8_CASES = ['up', 'down', 'same']

t = {}
for name, (h, w, seed, s) in CASES.items():
    img = pattern(h, w, seed)
    if name == 'same':
        assert len(np.unique(img)) == 256  # every byte value goes through the exact path
    t[f'img.{name}.sum'] = torch.tensor([int(img.astype(np.int64).sum()) % 1_000_003])  # < 2^24: exact in f32
    chw = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    x = TF.to_tensor(img)  # float CHW in [0, 1]: chw / 255
    for aa in (False, True):
        # torchvision 0.14 F.resize on a float tensor: interpolate(bicubic, align_corners=False), no clamp
        r = TF.resize(x, [s, s], interpolation=InterpolationMode.BICUBIC, antialias=aa)
        t[f'f.{name}.aa{int(aa)}'] = 2 * r - 1
        if name in U8_CASES:
            # on a uint8 tensor: resized in f32, clamped to [0, 255], rounded, cast to uint8
            ru8 = TF.resize(chw, [s, s], interpolation=InterpolationMode.BICUBIC, antialias=aa)
            assert ru8.dtype == torch.uint8
            t[f'u8.{name}.aa{int(aa)}'] = ru8.float() / 255
    if name == 'same':
        assert torch.equal(t['f.same.aa0'], 2 * x - 1) and torch.equal(t['f.same.aa1'], 2 * x - 1)

# Quantisation: every rounding boundary x = (k - 0.5) / 255 (k = 0..256) and its f32 neighbours,
# special values, and random values over and beyond [0, 1].
g = torch.Generator().manual_seed(0)
bounds = torch.tensor([(k - 0.5) / 255 for k in range(257)], dtype=torch.float32)
near = [bounds]
for steps in (1, 2):
    up, down = bounds.clone(), bounds.clone()
    for _ in range(steps):
        up = torch.nextafter(up, torch.tensor(float('inf')))
        down = torch.nextafter(down, torch.tensor(float('-inf')))
    near += [up, down]
special = torch.tensor([float('nan'), float('inf'), float('-inf'), -0.0, 0.0, 1.0, 1e-40, -1e-40, 3e38, -3e38,
                        2.0, -2.0, 2.0001, -2.0001, 256 / 255, 0.5 / 255 * (1 - 1e-7), 0.5 / 255 * (1 + 1e-7)])
values = torch.cat(near + [special])
n = 2 * 3 * 25 * 27
values = torch.cat([values, torch.rand(n - len(values), generator=g) * 1.4 - 0.2])
qx = values[torch.randperm(n, generator=g)].reshape(2, 3, 25, 27)
t['q.x'] = qx
q = qx.mul(255).add_(0.5).clamp_(0, 255).permute(0, 2, 3, 1).to(torch.uint8)  # save_image's expression
with tempfile.TemporaryDirectory() as d:
    for i in range(2):
        f = os.path.join(d, f'{i}.png')
        save_image(qx[i], f)
        assert np.array_equal(np.asarray(Image.open(f)), q[i].numpy())  # the PNG holds exactly these bytes
assert q.reshape(-1)[torch.isnan(qx.permute(0, 2, 3, 1).reshape(-1))].eq(0).all()  # NaN -> 0 here (x86)
t['q.u8'] = q

save('image_ops', t, {'torch': torch.__version__, 'torchvision': __import__('torchvision').__version__})
