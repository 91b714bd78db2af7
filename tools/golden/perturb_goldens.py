"""Goldens for `--perturb` (src/image/perturb*.ts, jpeg-roundtrip.ts, jpeg-tables.ts).

Run: /usr/bin/python3 tools/golden/perturb_goldens.py   (Debian's python3-pil: Pillow 9.4 on
libjpeg-turbo 2.1.5; scipy 1.10; torchvision 0.14)
Writes test/fixtures/perturb/:
  - src-<name>.png: source images (smooth gradients, saturated edges, noise; odd sizes so that
    JPEG's partial blocks and MCUs and the resize's edges are exercised);
  - <name>-<op>.png: what the reference tools make of each source, for every op in OPS;
  - q<Q>.jpg: files PIL writes with save(quality=Q) (for the quality estimator), and
    custom-tables.jpg (non-IJG tables);
  - expected.json: {"ops": {file: {source, op, kernel?}}, "jpegs": {file: {quality, exact}}}.
test/perturb-goldens.test.ts applies each op to the decoded source and compares bytes.

The ops, as the reference tools run them on the uint8 RGB image:
  jpeg:Q    PIL: img.save(buf, 'JPEG', quality=Q); Image.open(buf).convert('RGB')
  blur:S    CNNDetection's data augmentation: scipy.ndimage.gaussian_filter(img[:, :, c],
            output=img[:, :, c], sigma=S) per channel (truncate 4.0, mode 'reflect'), uint8 out
  resize:F  PIL: img.resize((floor(w F + 0.5), floor(h F + 0.5)), Image.BICUBIC)
  crop:N    torchvision.transforms.CenterCrop(N)(img) (zero padding when the image is smaller)
"""
import io
import json
import math
import os

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.ndimage._filters import _gaussian_kernel1d
from torchvision.transforms import CenterCrop

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'perturb')
rng = np.random.default_rng(10)


def source(w, h):
    """Gradients + a saturated disc + blocks of noise: every JPEG block kind, clamping in resize."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 128 + 100 * np.sin(x / 3 + y / 5)], -1)
    disc = (x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 4) ** 2
    img[disc] = [255, 0, 255]
    noisy = (x > w / 2) & (y > h / 3)
    img[noisy] = rng.uniform(0, 255, (int(noisy.sum()), 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def pil_jpeg(img, q):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, 'JPEG', quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB'))


def blur(img, sigma):
    out = img.copy()
    for c in range(3):
        gaussian_filter(out[:, :, c], output=out[:, :, c], sigma=sigma)
    return out


def resize(img, f):
    h, w = img.shape[:2]
    size = (max(1, math.floor(w * f + 0.5)), max(1, math.floor(h * f + 0.5)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


def crop(img, n):
    return np.asarray(CenterCrop(n)(Image.fromarray(img)))


SOURCES = {'a': (37, 29), 'b': (64, 48), 'c': (9, 5), 'd': (2, 3), 'e': (1, 1), 'f': (4, 7), 'g': (5, 6), 'h': (4, 3)}
OPS = {
    'a': ['jpeg:95', 'jpeg:75', 'jpeg:50', 'jpeg:10', 'jpeg:1', 'blur:1', 'blur:2', 'blur:0.5', 'resize:0.5', 'resize:1.5', 'resize:0.25', 'crop:16', 'crop:32'],
    'b': ['jpeg:100', 'jpeg:75', 'jpeg:30', 'blur:1', 'blur:3', 'resize:0.5', 'resize:0.33', 'crop:40', 'crop:70'],
    'c': ['jpeg:75', 'blur:1', 'resize:2', 'crop:4'],
    'd': ['jpeg:75', 'jpeg:20'],
    'e': ['jpeg:75'],
    'f': ['jpeg:75'],
    'g': ['jpeg:75', 'blur:2', 'crop:8'],
    'h': ['blur:0.2464'],  # flat 2: each truncating pass loses a level (weights sum to just under 1)
}


def apply(img, op):
    kind, arg = op.split(':')
    if kind == 'jpeg':
        return pil_jpeg(img, int(arg))
    if kind == 'blur':
        return blur(img, float(arg))
    if kind == 'resize':
        return resize(img, float(arg))
    return crop(img, int(arg))


def main():
    os.makedirs(DIR, exist_ok=True)
    expected = {'ops': {}, 'jpegs': {}}
    for name, (w, h) in SOURCES.items():
        img = source(w, h) if name != 'h' else np.full((h, w, 3), 2, np.uint8)
        Image.fromarray(img).save(os.path.join(DIR, f'src-{name}.png'))
        for op in OPS[name]:
            out = apply(img, op)
            file = f"{name}-{op.replace(':', '_')}.png"
            Image.fromarray(out).save(os.path.join(DIR, file))
            entry = {'source': f'src-{name}.png', 'op': op}
            if op.startswith('blur:'):
                s = float(op.split(':')[1])
                entry['kernel'] = _gaussian_kernel1d(s, 0, int(4.0 * s + 0.5))[::-1].tolist()
            expected['ops'][file] = entry
    img = source(16, 16)
    for q in [1, 5, 10, 25, 50, 51, 75, 90, 95, 100]:
        Image.fromarray(img).save(os.path.join(DIR, f'q{q}.jpg'), quality=q)
        expected['jpegs'][f'q{q}.jpg'] = {'quality': q, 'exact': True}
    # A camera-like file: IJG quality 80's tables, every entry nudged by one (no IJG quality has them).
    from PIL import JpegPresets  # noqa: F401  (Pillow's qtables argument takes natural-order lists)
    base = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
            14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
    luma = [max(1, min(255, (b * 40 + 50) // 100 + (1 if i % 2 else 0))) for i, b in enumerate(base)]
    Image.fromarray(img).save(os.path.join(DIR, 'custom-tables.jpg'), qtables=[luma, luma])
    expected['jpegs']['custom-tables.jpg'] = {'quality': 80, 'exact': False}
    with open(os.path.join(DIR, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main()
