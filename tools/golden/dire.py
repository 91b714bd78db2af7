"""Golden for DIRE (src/diffusion/dire.ts) and its preprocessing (src/pipeline/dire-preprocess.ts).

Run: /usr/bin/python3 tools/golden/dire.py   (Debian's python3-torch, Pillow 9.4)

Written from the reference's computation (reference/dnf-pipeline.md section 4; DIRE's
compute_dire.py on guided-diffusion): the image prepared as guided-diffusion's center_crop_arr
(halve with BOX while the short side >= 2 * size, short side to `size` with BICUBIC, centre crop,
then x / 127.5 - 1), a full DDIM inversion (ddim_reverse_sample, eta 0) then DDIM sampling
(ddim_sample) on the "ddimK" respacing with clip_denoised=True: x0_hat clamped to [-1, 1] and eps
re-derived from it, then DIRE = |x - recon| and uint8((DIRE * 255 / 2).clamp(0, 255)) (truncation).
The model is the tiny UNet of unet.py at its resolution 12, run in float32 (what the engine
computes) and in float64 (the truth; the timestep embedding is computed in float32 as the model
does, then widened), so the fixture gives the float32-vs-float64 error that bounds the test.
"""
import json

import numpy as np
import torch
from PIL import Image

import unet as unet_module
from fixture import save
from unet import TINY, tiny

T = 1000
ABAR = np.cumprod(1.0 - np.linspace(1e-4, 0.02, T, dtype=np.float64))
STEPS = 20


def ddim_timesteps(k):
    """guided-diffusion space_timesteps(1000, 'ddimK')."""
    for stride in range(1, T + 1):
        if len(range(0, T, stride)) == k:
            return list(range(0, T, stride))
    raise ValueError(k)


def center_crop_arr(pil_image, image_size):
    """guided-diffusion image_datasets.center_crop_arr (Python 3 round: half to even)."""
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y:crop_y + image_size, crop_x:crop_x + image_size]


def coef(v, dtype):
    """_extract_into_tensor: a float64 table value taken to the model's dtype."""
    return torch.tensor(v, dtype=torch.float64).to(dtype)


def step(x, eps, abar_t, abar_to):
    """ddim_reverse_sample / ddim_sample with eta 0 and clip_denoised: the shared update."""
    recip, recipm1 = coef(np.sqrt(1.0 / abar_t), x.dtype), coef(np.sqrt(1.0 / abar_t - 1.0), x.dtype)
    x0 = (recip * x - recipm1 * eps).clamp(-1, 1)                     # pred_xstart, clipped
    eps = (recip * x - x0) / recipm1                                  # _predict_eps_from_xstart
    return coef(np.sqrt(abar_to), x.dtype) * x0 + coef(np.sqrt(1.0 - abar_to), x.dtype) * eps


def reconstruct(model, x, ts):
    for i, t in enumerate(ts):                                        # ddim_reverse_sample_loop
        eps = model(x, torch.full((x.shape[0],), t))
        x = step(x, eps, ABAR[t], ABAR[ts[i + 1]] if i + 1 < len(ts) else 0.0)
    for i in reversed(range(len(ts))):                                # ddim_sample_loop from x_T
        eps = model(x, torch.full((x.shape[0],), ts[i]))
        x = step(x, eps, ABAR[ts[i]], ABAR[ts[i - 1]] if i > 0 else 1.0)
    return x


def sources():
    """Two RGB images of other sizes: 29x17 (bicubic down, crop along x) and 27x53 (one BOX halving
    to 13x26, bicubic down to 12x24, crop along y). Smooth fields plus noise, uint8."""
    g = torch.Generator().manual_seed(7)
    out = []
    for h, w in ((17, 29), (53, 27)):
        base = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 5, generator=g), size=(h, w), mode='bilinear', align_corners=False)
        img = (base[0].permute(1, 2, 0) * 220 + torch.rand(h, w, 3, generator=g) * 35).clamp(0, 255).to(torch.uint8)
        out.append(img.numpy())
    return out


def main():
    size = TINY['resolution']
    ts = ddim_timesteps(STEPS)
    imgs = sources()
    crops = np.stack([center_crop_arr(Image.fromarray(a), size) for a in imgs])    # [N, size, size, 3] uint8
    x32 = torch.from_numpy(crops.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2).contiguous()
    out = {f'src{i}': torch.from_numpy(a.astype(np.int64)) for i, a in enumerate(imgs)}
    out['crop'] = torch.from_numpy(crops.astype(np.int64))
    out['x'] = x32
    embed = unet_module.get_timestep_embedding
    with torch.no_grad():
        model = tiny()
        rec32 = reconstruct(model, x32, ts)
        unet_module.get_timestep_embedding = lambda t, d: embed(t, d).double()
        rec64 = reconstruct(model.double(), x32.double(), ts)
        unet_module.get_timestep_embedding = embed
    for name, rec in (('f32', rec32), ('f64', rec64)):
        dire = (x32.to(rec.dtype) - rec).abs()
        out[f'recon.{name}'] = rec
        out[f'dire.{name}'] = dire
        out[f'dire_u8.{name}'] = (dire.float() * 255.0 / 2.0).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    d = (out['dire.f32'].double() - out['dire.f64']).abs().max().item()
    flips = (out['dire_u8.f32'] != out['dire_u8.f64']).sum().item()
    print(f'steps {STEPS}: max|dire f32 - f64| = {d:.3e}, uint8 values that differ: {flips} of {crops.size}; '
          f'dire range [{out["dire.f64"].min():.3f}, {out["dire.f64"].max():.3f}]')
    save('dire', out, {'steps': STEPS, 'timesteps': json.dumps(ts)})


if __name__ == '__main__':
    main()
