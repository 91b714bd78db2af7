"""Shared by tools/golden/resnet.py (small fixtures) and resnet_full.py (the ResNet50 check).

- SmallResNet: torchvision's ResNet (its BasicBlock/Bottleneck, its _make_layer and forward) with
  chosen stem and stage widths, so the state-dict keys are torchvision's and the fixtures stay small.
- calibrate(): non-trivial BatchNorm state: running statistics from train-mode forwards on the
  inputs' distribution (cumulative average), then random affine weight and bias, then eval mode;
  fc random, rescaled so that the calibration logits have mean 0 and a chosen spread.
- dnf_like(): uint8 images shaped like quantised DNFs, save_image's
  uint8(clamp(eps * 255 + 0.5, 0, 255)) of a noise-like eps (about half the pixels 0, some 255).
- perturbed(): a copy of a model with every parameter nudged by about one float32 ulp.
- save_checkpoint(): {'model': sd, 'optimizer': ..., 'total_steps': n} as the method's training
  script saves it, in the zip or the legacy torch.save format.
"""
import copy

import torch
import torch.nn as nn
from torchvision.models.resnet import ResNet


class SmallResNet(ResNet):
    def __init__(self, block, layers, stem, planes, num_classes=1):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = stem
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')


def dnf_like(n, h, w, generator):
    eps = torch.randn(n, h, w, 3, generator=generator) * 0.5
    return (eps * 255 + 0.5).clamp(0, 255).to(torch.uint8)  # HWC, as the PNG holds it


def to_input(q):
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [0, 1]: ToTensor, no normalisation."""
    return q.permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def calibrate(model, inputs, generator, logit_std=2.0):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average of the batch statistics
            m.reset_running_stats()
    model.train()
    for x in inputs:
        model(x)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(0.5 + torch.rand(m.num_features, generator=generator))
            m.bias.copy_(0.2 * torch.randn(m.num_features, generator=generator))
    # The classifier's fc: random, then scaled and shifted so that the logits of the calibration
    # inputs have mean 0 and standard deviation `logit_std` (probabilities spread over (0, 1)).
    model.eval()
    model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=generator))
    model.fc.bias.zero_()
    logits = torch.cat([model(x) for x in inputs])
    scale = logit_std / logits.std()
    model.fc.weight.mul_(scale)
    model.fc.bias.copy_(-logits.mean() * scale)


def perturbed(model, seed):
    """A copy of model with every parameter multiplied by 1 + 2^-23 N(0, 1): about one float32 ulp."""
    model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + 2.0 ** -23 * torch.randn(p.shape, generator=g))
    return model


def save_checkpoint(model, path, legacy):
    opt = {'state': {}, 'param_groups': [{'lr': 1e-4, 'betas': (0.9, 0.999), 'params': [0, 1]}]}
    obj = {'model': model.state_dict(), 'optimizer': opt, 'total_steps': 1234}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)

