"""Goldens for conv2d (src/kernels/conv2d.ts, shaders/conv2d.wgsl).

Run: /usr/bin/python3 tools/golden/conv2d.py   (Debian's python3-torch)
Each case stores x, weight, bias (when used), residual (when used) and out. Sizes are chosen
against the kernel's tiles (4*PV output pixels along x per invocation, PV 1, 2 or 4; up to 64
invocations per workgroup, running over the tiles of the whole batch; 16 output channels per
workgroup row): odd widths, widths that are not multiples of 4 or 8, channel counts just above a
multiple of 8 or 16, images whose tiles span several workgroups, and odd batches of 2x2 to 8x8
images whose workgroups span images. The batch* cases were added later: the earlier cases' tensors
in the fixture are kept from their first run (torch here rounds their outputs differently by up to
1.5e-6, within the tests' tolerance).
"""
import torch
import torch.nn.functional as F

from fixture import save

torch.manual_seed(0)
t = {}


def case(name, n, cin, cout, h, w, k, stride=1, padding='same', bias=True, act='none', residual=False):
    x = torch.randn(n, cin, h, w)
    weight = torch.randn(cout, cin, k, k) / (cin * k * k) ** 0.5
    b = torch.randn(cout) if bias else None
    if padding == 'down':
        # DDPM Downsample: torch: F.conv2d(F.pad(x, (0, 1, 0, 1)), weight, b, stride=2)
        y = F.conv2d(F.pad(x, (0, 1, 0, 1)), weight, b, stride=2)
    else:
        # torch: F.conv2d(x, weight, b, stride=stride, padding=pad)
        pad = (k - 1) // 2 if padding == 'same' else 0
        y = F.conv2d(x, weight, b, stride=stride, padding=pad)
    if act == 'swish':
        y = F.silu(y)                  # torch: F.silu(conv)
    t[name + '.x'], t[name + '.weight'] = x, weight
    if b is not None:
        t[name + '.bias'] = b
    if residual:
        r = torch.randn_like(y)
        t[name + '.residual'] = r
        y = y + r                      # torch: act(conv) + residual
    if act == 'relu':
        y = F.relu(y)                  # torch: F.relu(conv + residual), as torchvision's blocks
    t[name + '.out'] = y


case('same3_odd', 2, 5, 7, 9, 13, 3)                      # nothing a multiple of anything
case('same3_vec', 1, 16, 24, 6, 10, 3)                    # channels multiples of 8, W not of 4
case('same3_wide', 1, 3, 17, 20, 70, 3)                   # 180 tiles: 3 workgroups; 3 channel blocks
case('same3_nobias', 1, 4, 8, 5, 8, 3, bias=False)
case('down_even', 1, 6, 8, 8, 12, 3, padding='down')      # Ho, Wo = 4, 6
case('down_odd', 2, 3, 5, 9, 7, 3, padding='down')        # Ho, Wo = 4, 3
case('down1', 1, 4, 5, 6, 8, 1, padding='down')           # 1x1 after the pad: reads the zero row
case('same1', 2, 12, 20, 5, 11, 1)                        # 1x1, Cin 12 -> Cout 20
case('same3_swish_res', 1, 8, 9, 7, 17, 3, act='swish', residual=True)
case('same1_res', 1, 6, 10, 4, 9, 1, residual=True)       # the UNet's nin_shortcut + h
case('same7_s2', 1, 3, 10, 19, 21, 7, stride=2)           # ResNet50 stem: 7x7 stride 2 pad 3
case('same3_s2', 1, 4, 6, 10, 9, 3, stride=2)             # ResNet50 3x3 stride 2 pad 1
case('same1_s2', 1, 8, 12, 9, 11, 1, stride=2)            # ResNet50 1x1 stride 2 pad 0
case('valid3', 1, 2, 3, 6, 7, 3, padding=0)               # no padding
case('same1_relu_res', 1, 8, 12, 5, 7, 1, act='relu', residual=True)  # a ResNet block's last conv + identity
case('same7_s2_relu', 1, 3, 8, 11, 9, 7, stride=2, act='relu')         # the ResNet stem
# Small images in odd batches (ResNet at 64x64, layer4 at 256x256): lanes run over the tiles of the
# whole batch and a workgroup spans images; PV shrinks to the width (2x2, 4x4: 1; 8x8: 2 on CPUs).
case('batch3_2x2', 5, 6, 18, 2, 2, 3)                     # 10 tiles, 2 channel blocks
case('batch3_4x4', 3, 7, 9, 4, 4, 3, act='swish', residual=True)
case('batch3_8x8', 9, 4, 20, 8, 8, 3, act='relu', residual=True)  # 72 tiles: 2 workgroups of 64
case('batch1_4x4', 7, 8, 12, 4, 4, 1, act='relu', residual=True)  # conv1x1
case('batch1_s2_8x8', 3, 8, 12, 8, 8, 1, stride=2)        # conv1x1 stride 2, Ho, Wo = 4, 4
case('batch3_s2_8x8', 5, 5, 10, 8, 8, 3, stride=2)        # conv, Ho, Wo = 4, 4
case('batch3_s2_4x4', 3, 6, 7, 4, 4, 3, stride=2, act='relu')  # conv, Ho, Wo = 2, 2

save('conv2d', t, {'generator': 'tools/golden/conv2d.py', 'torch': torch.__version__})
