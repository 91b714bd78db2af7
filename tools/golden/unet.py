"""Golden for the config-driven DDPM UNet (src/models/ddpm-unet.ts).

Run: /usr/bin/python3 tools/golden/unet.py   (Debian's python3-torch)

The model below is written from the architecture of reference/dnf-pipeline.md section 2 (the DDPM
"simple" model as in the DDIM repository's models/diffusion.py): same modules, same attribute
names, hence the same state-dict keys.

Weights are not stored in the fixture: `synth(key, shape)` derives every value from a hash of the
key and the element index, and test/synthetic-weights.ts computes the same float32 bits. The fixture
stores the state-dict layout (every key with its shape, in metadata 'keys') so the TypeScript side
loads exactly PyTorch's keys; this keeps the fixture a few KB for a model of 0.7 M parameters.
"""
import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fixture import save

# ------------------------------------------------------------------------------ the architecture


def get_timestep_embedding(timesteps, dim):
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32, device=timesteps.device) * -(math.log(10000) / (half - 1)))
    emb = timesteps.float()[:, None] * freq[None, :]
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)


def swish(x):
    return x * torch.sigmoid(x)


def Normalize(c):
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


class Upsample(nn.Module):
    def __init__(self, c, with_conv):
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2.0, mode='nearest')
        return self.conv(x) if self.with_conv else x


class Downsample(nn.Module):
    def __init__(self, c, with_conv):
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        if self.with_conv:
            return self.conv(F.pad(x, (0, 1, 0, 1), mode='constant', value=0))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, temb_ch):
        super().__init__()
        self.norm1 = Normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.temb_proj = nn.Linear(temb_ch, cout)
        self.norm2 = Normalize(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x, temb):
        h = self.conv1(swish(self.norm1(x)))
        h = h + self.temb_proj(swish(temb))[:, :, None, None]
        h = self.conv2(swish(self.norm2(h)))  # dropout is the identity at inference
        if hasattr(self, 'nin_shortcut'):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = Normalize(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)      # [b, L, c]
        k = k.reshape(b, c, hh * ww)                        # [b, c, L]
        w = torch.softmax(torch.bmm(q, k) * (int(c) ** -0.5), dim=2)  # [b, Lq, Lk]
        v = v.reshape(b, c, hh * ww)
        h = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class Model(nn.Module):
    def __init__(self, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions, in_channels, resolution, resamp_with_conv):
        super().__init__()
        self.ch, self.num_res_blocks, self.resolution = ch, num_res_blocks, resolution
        self.num_resolutions = len(ch_mult)
        temb_ch = 4 * ch
        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, temb_ch), nn.Linear(temb_ch, temb_ch)])
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_ch_mult = (1,) + tuple(ch_mult)
        res = resolution
        self.down = nn.ModuleList()
        for i in range(self.num_resolutions):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_ch_mult[i], ch * ch_mult[i]
            for _ in range(num_res_blocks):
                block.append(ResnetBlock(block_in, block_out, temb_ch))
                block_in = block_out
                if res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            down = nn.Module()
            down.block, down.attn = block, attn
            if i != self.num_resolutions - 1:
                down.downsample = Downsample(block_in, resamp_with_conv)
                res //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, temb_ch)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in, temb_ch)
        self.up = nn.ModuleList()
        for i in reversed(range(self.num_resolutions)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = skip_in = ch * ch_mult[i]
            for j in range(num_res_blocks + 1):
                if j == num_res_blocks:
                    skip_in = ch * in_ch_mult[i]
                block.append(ResnetBlock(block_in + skip_in, block_out, temb_ch))
                block_in = block_out
                if res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i != 0:
                up.upsample = Upsample(block_in, resamp_with_conv)
                res *= 2
            self.up.insert(0, up)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, x, t):
        assert x.shape[2] == x.shape[3] == self.resolution
        temb = get_timestep_embedding(t, self.ch)
        temb = self.temb.dense[1](swish(self.temb.dense[0](temb)))
        hs = [self.conv_in(x)]
        for i in range(self.num_resolutions):
            for j in range(self.num_res_blocks):
                h = self.down[i].block[j](hs[-1], temb)
                if len(self.down[i].attn) > 0:
                    h = self.down[i].attn[j](h)
                hs.append(h)
            if i != self.num_resolutions - 1:
                hs.append(self.down[i].downsample(hs[-1]))
        h = hs[-1]
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h, temb)), temb)
        for i in reversed(range(self.num_resolutions)):
            for j in range(self.num_res_blocks + 1):
                h = self.up[i].block[j](torch.cat([h, hs.pop()], dim=1), temb)
                if len(self.up[i].attn) > 0:
                    h = self.up[i].attn[j](h)
            if i != 0:
                h = self.up[i].upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


# ------------------------------------------------------------------------------ synthetic weights

M32 = 0xFFFFFFFF


def fnv1a(key):
    h = 0x811C9DC5
    for b in key.encode():
        h = ((h ^ b) * 0x01000193) & M32
    return h


def synth(key, shape):
    """Uniform values from a hash of (key, index): weights U(-1, 1)/sqrt(fan_in) (PyTorch's default
    bound), norm scales 1 + U(-0.25, 0.25), biases U(-0.1, 0.1). Mirrors test/synthetic-weights.ts."""
    n = int(np.prod(shape))
    h = (fnv1a(key) + np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B9)) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    if len(shape) >= 2:
        scale, offset = 1.0 / math.sqrt(int(np.prod(shape[1:]))), 0.0
    elif 'norm' in key and key.endswith('.weight'):
        scale, offset = 0.25, 1.0
    else:
        scale, offset = 0.1, 0.0
    u = h.astype(np.float64) / 4294967296.0 * 2.0 - 1.0
    return torch.from_numpy((u * scale + offset).astype(np.float32).reshape(shape))


def synthesize(model):
    sd = model.state_dict()
    model.load_state_dict({k: synth(k, list(v.shape)) for k, v in sd.items()})
    return model


def layout(model):
    """The state-dict keys with their shapes, in PyTorch's order (JSON for the fixture metadata)."""
    return json.dumps([[k, list(v.shape)] for k, v in model.state_dict().items()])


# The tiny configuration: two levels (12 -> 6, not multiples of any tile size), attention at 6
# (sequence 36), channel growth 32 -> 64 (nin_shortcut in the down path), one res block per level
# (so the up path's last block takes the downsample skip of width ch * in_ch_mult).
TINY = dict(ch=32, out_ch=3, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[6], in_channels=3,
            resolution=12, resamp_with_conv=True)


def tiny(resamp_with_conv=True):
    return synthesize(Model(**{**TINY, 'resamp_with_conv': resamp_with_conv})).eval()


def main():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 12, 12) * 2 - 1
    t = {'x': x}
    meta = {'config': json.dumps(TINY)}
    with torch.no_grad():
        for suffix, conv in (('', True), ('.avgpool', False)):
            m = tiny(conv)
            meta['keys' + suffix] = layout(m)
            t['eps_t0' + suffix] = m(x, torch.tensor([0, 0]))          # torch: model(x, t=[0, 0])
            t['eps_t10_500' + suffix] = m(x, torch.tensor([10, 500]))  # torch: model(x, t=[10, 500])
    save('unet', t, meta)


if __name__ == '__main__':
    main()
