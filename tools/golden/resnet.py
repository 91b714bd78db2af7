"""Goldens for the ResNet classifier (src/models/resnet.ts, src/nn/batch-norm.ts, src/kernels/pool.ts,
src/kernels/conv2d.ts's fused relu, src/classify.ts).

Run: /usr/bin/python3 tools/golden/resnet.py   (Debian's python3-torch 1.13, torchvision 0.14)
Writes test/fixtures/golden/resnet.safetensors and the checkpoints
test/fixtures/checkpoints/resnet-bottleneck.{zip,legacy}.pth and resnet-basic.zip.pth
({'model': sd, 'optimizer': ..., 'total_steps': 1234}, num_batches_tracked included).

Nets (SmallResNet: torchvision's blocks and forward, small widths; BatchNorm calibrated, see
resnet_common.py). Channel counts are not multiples of the conv kernel's 16-channel blocks:
  bottleneck: Bottleneck, blocks [1, 2, 1, 1], stem 10, planes [5, 12, 20, 24] (outputs 20..96), fc 96 -> 1
  basic:      BasicBlock, blocks [2, 1, 1, 1], stem 6, planes [6, 12, 20, 24], fc 24 -> 1
Cases (q: dnf_like uint8 images [N, H, W, 3]; logits = model(x), probs = torch.sigmoid(logits)):
  <net>.<case>.q, .logits, .probs; x = q.permute(0, 3, 1, 2).float() / 255 unless resized
  bottleneck.square   3 images 48x48
  bottleneck.odd      1 image 45 wide, 37 high
  basic.square        2 images 48x48
  bottleneck.up       1 image 50x40 -> x = resize(q, [64, 64], BICUBIC, antialias=False) / 255
  bottleneck.down     1 image 80x66 -> x = resize(q, [64, 64], BICUBIC, antialias=True) / 255
                      (torchvision.transforms.functional.resize on the uint8 CHW tensor)
Ops:
  ops.maxpool_odd/even/neg.{x,out}: F.max_pool2d(x, 3, 2, 1); neg: all inputs < 0 (padding is -inf)
  ops.avgpool.{x,out}: F.adaptive_avg_pool2d(x, 1).flatten(1)
  ops.convbn.{x,weight,bn_weight,bn_bias,bn_mean,bn_var,out}: bn(F.conv2d(x, weight, stride=2, padding=1)), eval mode
Metadata: layout.resnet<depth>: torchvision.models.resnet<depth>(num_classes=1).state_dict() keys and
shapes (num_batches_tracked left out, as dnf convert drops it); macs.resnet<depth>: multiply-adds of
its convs and fc at 224 and 256, counted with forward hooks.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.transforms import InterpolationMode

from fixture import save
from resnet_common import SmallResNet, calibrate, dnf_like, save_checkpoint, to_input

CKPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'checkpoints')
g = torch.Generator().manual_seed(4)
torch.manual_seed(4)
t = {}


def build(block, layers, stem, planes):
    model = SmallResNet(block, layers, stem, planes)
    calibrate(model, [to_input(dnf_like(8, 64, 64, g)) for _ in range(3)], g)
    return model


@torch.no_grad()
def run(model, name, q, x=None):
    logits = model(to_input(q) if x is None else x)
    t[name + '.q'] = q.float()  # 0..255, exact in float32
    t[name + '.logits'] = logits
    t[name + '.probs'] = torch.sigmoid(logits)
    print(name, 'logits', [round(v, 4) for v in logits.flatten().tolist()])


def resized(q, antialias):
    chw = q.permute(0, 3, 1, 2)  # uint8: torchvision resizes in float, rounds, clamps, casts back
    return TF.resize(chw, [64, 64], interpolation=InterpolationMode.BICUBIC, antialias=antialias).float() / 255


bottleneck = build(Bottleneck, [1, 2, 1, 1], 10, [5, 12, 20, 24])
basic = build(BasicBlock, [2, 1, 1, 1], 6, [6, 12, 20, 24])
run(bottleneck, 'bottleneck.square', dnf_like(3, 48, 48, g))
run(bottleneck, 'bottleneck.odd', dnf_like(1, 37, 45, g))
run(basic, 'basic.square', dnf_like(2, 48, 48, g))
q = dnf_like(1, 40, 50, g)
run(bottleneck, 'bottleneck.up', q, resized(q, False))
q = dnf_like(1, 66, 80, g)
run(bottleneck, 'bottleneck.down', q, resized(q, True))

x = torch.randn(2, 5, 9, 11)
t['ops.maxpool_odd.x'], t['ops.maxpool_odd.out'] = x, F.max_pool2d(x, 3, 2, 1)
x = torch.randn(1, 3, 8, 8)
t['ops.maxpool_even.x'], t['ops.maxpool_even.out'] = x, F.max_pool2d(x, 3, 2, 1)
x = -1 - torch.rand(1, 2, 5, 6)
t['ops.maxpool_neg.x'], t['ops.maxpool_neg.out'] = x, F.max_pool2d(x, 3, 2, 1)
x = torch.randn(2, 7, 5, 3) + 0.5
t['ops.avgpool.x'], t['ops.avgpool.out'] = x, F.adaptive_avg_pool2d(x, 1).flatten(1)
torch.randn(1003)  # keeps the random stream of the fixtures below as it was

conv = nn.Conv2d(6, 13, 3, stride=2, padding=1, bias=False)
bn = nn.BatchNorm2d(13).eval()
with torch.no_grad():
    bn.weight.copy_(0.5 + torch.rand(13))
    bn.bias.copy_(torch.randn(13))
    bn.running_mean.copy_(torch.randn(13) * 0.3)
    bn.running_var.copy_(0.2 + torch.rand(13) * 2)
    x = torch.randn(2, 6, 9, 7)
    t['ops.convbn.x'], t['ops.convbn.weight'] = x, conv.weight
    t['ops.convbn.bn_weight'], t['ops.convbn.bn_bias'] = bn.weight, bn.bias
    t['ops.convbn.bn_mean'], t['ops.convbn.bn_var'] = bn.running_mean, bn.running_var
    t['ops.convbn.out'] = bn(conv(x))



def layout(model):
    return json.dumps([[k, list(v.shape)] for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')])


def macs(model, size):
    """Multiply-adds of every conv and linear layer for one size x size image, counted by hooks."""
    total = [0]

    def conv_hook(m, inp, out):
        total[0] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]

    def fc_hook(m, inp, out):
        total[0] += m.in_features * m.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(fc_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return total[0]


meta = {'nets': 'bottleneck: Bottleneck [1,2,1,1] stem 10 planes [5,12,20,24]; basic: BasicBlock [2,1,1,1] stem 6 planes [6,12,20,24]'}
for name in ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']:
    model = getattr(torchvision.models, name)(num_classes=1)
    meta['layout.' + name] = layout(model)
    meta['macs.' + name] = json.dumps({'224': macs(model, 224), '256': macs(model, 256)})
save('resnet', t, meta)
os.makedirs(CKPT, exist_ok=True)
for name, model, formats in [('bottleneck', bottleneck, ['zip', 'legacy']), ('basic', basic, ['zip'])]:
    for fmt in formats:
        path = os.path.join(CKPT, f'resnet-{name}.{fmt}.pth')
        save_checkpoint(model, path, legacy=fmt == 'legacy')
        print('wrote', os.path.relpath(path), os.path.getsize(path), 'bytes')
