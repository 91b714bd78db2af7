"""PyTorch side of tools/unet-check.mjs: the full lsun-bedroom-256 UNet with synthetic weights.

Run: /usr/bin/python3 tools/golden/unet_full.py [out_dir]   (default /tmp/dnf-unet-full)

Writes, outside the repository (the weights are 455 MB):
  <out_dir>/weights.safetensors  the state dict of unet.py's Model with the lsun-bedroom-256 config,
                                 every value from unet.py's `synth` (PyTorch's keys and order)
  <out_dir>/io.safetensors       x [1, 3, 256, 256] (an image-like input in [-1, 1]),
                                 eps = model(x, t=[0]) (the released DNF, PyTorch float32) and
                                 eps64: the same forward in float64 (the truth both are held to)
"""
import os
import sys
import time

import torch

import fixture
from unet import Model, synthesize

LSUN = dict(ch=128, out_ch=3, ch_mult=[1, 1, 2, 2, 4, 4], num_res_blocks=2, attn_resolutions=[16], in_channels=3,
            resolution=256, resamp_with_conv=True)


def image_like():
    """Smooth colour fields plus fine texture, in [-1, 1] (not a multiple of any pattern size)."""
    g = torch.Generator().manual_seed(3)
    coarse = torch.nn.functional.interpolate(torch.rand(1, 3, 9, 9, generator=g) * 2 - 1, size=256, mode='bicubic', align_corners=False)
    fine = (torch.rand(1, 3, 256, 256, generator=g) * 2 - 1) * 0.15
    return (coarse * 0.85 + fine).clamp(-1, 1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else '/tmp/dnf-unet-full'
    torch.set_num_threads(os.cpu_count() or 1)
    fixture.ROOT = out
    t0 = time.time()
    model = synthesize(Model(**LSUN)).eval()
    n = sum(p.numel() for p in model.parameters())
    print(f'{n} parameters, synthesized in {time.time() - t0:.1f} s')
    fixture.save('weights', model.state_dict())
    x = image_like()
    t0 = time.time()
    with torch.no_grad():
        eps = model(x, torch.tensor([0]))          # torch: model(x, t=[0])
    print(f'forward in {time.time() - t0:.1f} s; max|eps| {eps.abs().max():.4f}')
    t0 = time.time()
    model = model.double()
    # The sinusoidal timestep embedding is built in float32 (as the reference does); the float64
    # run takes it in float64 from there on.
    model.temb.dense[0].register_forward_pre_hook(lambda m, args: tuple(a.double() for a in args))
    with torch.no_grad():
        eps64 = model(x.double(), torch.tensor([0]))   # torch: the same in float64
    err = (eps.double() - eps64).abs().max() / eps64.abs().max()
    print(f'float64 forward in {time.time() - t0:.1f} s; PyTorch float32 is {err:.2e} of max|eps| off it')
    # Stored as float32: the rounding (6e-8 relative) is far below the errors compared.
    fixture.save('io', {'x': x, 'eps': eps, 'eps64': eps64})


if __name__ == '__main__':
    main()
