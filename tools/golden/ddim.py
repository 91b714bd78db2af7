"""Golden for DDIM inversion and sampling (src/diffusion/ddim.ts) on the tiny UNet of unet.py.

Run: /usr/bin/python3 tools/golden/ddim.py   (Debian's python3-torch)

Written from guided-diffusion's respaced DDIM as DIRE uses it (reference/dnf-pipeline.md section
4): linear betas 1e-4 .. 0.02 over 1000 steps, alphas_cumprod in float64, timesteps of the "ddimK"
respacing, alphas_cumprod_next ending in 0, alphas_cumprod_prev starting at 1; coefficients
extracted from float64 tables as float32 (as _extract_into_tensor does). eta = 0.
"""
import json

import numpy as np
import torch

from fixture import save
from unet import tiny

T = 1000
ABAR = np.cumprod(1.0 - np.linspace(1e-4, 0.02, T, dtype=np.float64))


def ddim_timesteps(k):
    """guided-diffusion space_timesteps(1000, 'ddimK'), stride T allowed (K = 1)."""
    for stride in range(1, T + 1):
        if len(range(0, T, stride)) == k:
            return list(range(0, T, stride))
    raise ValueError(k)


def f32(v):
    return torch.tensor(v, dtype=torch.float64).float()


def update(x, eps, abar_t, abar_to, clamp):
    """guided-diffusion: pred_xstart = sqrt_recip * x - sqrt_recipm1 * eps (clamped if clip_denoised),
    eps re-derived from it when clamped, then sqrt(abar_to) * x0 + sqrt(1 - abar_to) * eps."""
    recip, recipm1 = f32(np.sqrt(1.0 / abar_t)), f32(np.sqrt(1.0 / abar_t - 1.0))
    x0 = recip * x - recipm1 * eps
    if clamp:
        x0 = x0.clamp(-1, 1)
        eps = (recip * x - x0) / recipm1
    return f32(np.sqrt(abar_to)) * x0 + f32(np.sqrt(1.0 - abar_to)) * eps


def invert(model, x, ts, clamp):
    eps_all = []
    for i, t in enumerate(ts):
        eps = model(x, torch.full((x.shape[0],), t))                # eps_theta(x_t, t)
        eps_all.append(eps)
        abar_next = ABAR[ts[i + 1]] if i + 1 < len(ts) else 0.0      # alphas_cumprod_next
        x = update(x, eps, ABAR[t], abar_next, clamp)
    return eps_all, x


def sample(model, x, ts, clamp):
    for i in reversed(range(len(ts))):
        eps = model(x, torch.full((x.shape[0],), ts[i]))
        abar_prev = ABAR[ts[i - 1]] if i > 0 else 1.0               # alphas_cumprod_prev
        x = update(x, eps, ABAR[ts[i]], abar_prev, clamp)
    return x


def main():
    model = tiny()
    torch.manual_seed(2)
    # A smooth image-like input in [-1, 1] (a blurred random field), one image: 12x12x3.
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4) * 2 - 1, size=12, mode='bilinear', align_corners=False)
    out = {'x': x}
    meta = {}
    with torch.no_grad():
        for name, k, clamp in (('k4', 4, False), ('k3_clamp', 3, True)):
            ts = ddim_timesteps(k)
            meta[name] = json.dumps({'steps': k, 'clamp': clamp, 'timesteps': ts, 'abar': [ABAR[t] for t in ts]})
            eps_all, x_t = invert(model, x, ts, clamp)
            for i, e in enumerate(eps_all):
                out[f'{name}.eps{i}'] = e
            out[f'{name}.eps_mean'] = torch.stack(eps_all).mean(0)   # torch: stack(eps).mean(0)
            out[f'{name}.xT'] = x_t
            rec = sample(model, x_t, ts, clamp)
            out[f'{name}.sample'] = rec
            print(f'{name}: timesteps {ts}, round trip max|x - sample(invert(x))| = {(rec - x).abs().max():.4f}')
    save('ddim', out, meta)


if __name__ == '__main__':
    main()
