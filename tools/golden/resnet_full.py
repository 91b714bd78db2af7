"""The full ResNet50 classifier check, PyTorch side (tools/resnet-check.mjs compares): a tool run,
not a unit fixture (the checkpoint is 94 MB).

Run: /usr/bin/python3 tools/golden/resnet_full.py [dir]     (dir defaults to /tmp/dnf-resnet-full)
Writes into dir:
  model.zip.pth, model.legacy.pth  torchvision.models.resnet50(num_classes=1) (fc 2048 -> 1), BatchNorm
                                   calibrated (running statistics from train-mode forwards, random
                                   affine; see resnet_common.py), saved as {'model': sd, 'optimizer':
                                   ..., 'total_steps': 1234} in the zip and the legacy format
  dnf/*.png                        quantised-DNF-like uint8 images written with PIL: four 256x256, one
                                   240x200 (resized by the classifier input transform)
  expected.json                    {file: {logit, prob}}: prob = torch.sigmoid(model(x)), x = the uint8
                                   image / 255, resized first with torchvision's
                                   resize(q, [256, 256], BICUBIC, antialias=False) on the uint8 tensor
"""
import json
import os
import sys

import torch
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_common import calibrate, dnf_like, save_checkpoint, to_input  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else '/tmp/dnf-resnet-full'
os.makedirs(os.path.join(out, 'dnf'), exist_ok=True)
g = torch.Generator().manual_seed(50)
torch.manual_seed(50)

model = torchvision.models.resnet50(num_classes=1)
calibrate(model, [to_input(dnf_like(4, 256, 256, g)) for _ in range(3)], g)
for fmt in ['zip', 'legacy']:
    save_checkpoint(model, os.path.join(out, f'model.{fmt}.pth'), legacy=fmt == 'legacy')

images = {f'q{i}.png': dnf_like(1, 256, 256, g)[0] for i in range(4)}
images['q4_240x200.png'] = dnf_like(1, 200, 240, g)[0]
expected = {}
with torch.no_grad():
    for name, q in images.items():
        Image.fromarray(q.numpy()).save(os.path.join(out, 'dnf', name))
        chw = q.permute(2, 0, 1)
        if chw.shape[1:] != (256, 256):
            chw = TF.resize(chw, [256, 256], interpolation=InterpolationMode.BICUBIC, antialias=False)
        logit = model(chw[None].float() / 255)[0, 0]
        expected[name] = {'logit': logit.item(), 'prob': torch.sigmoid(logit).item()}
        print(name, expected[name])
with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)
print('wrote', out)
