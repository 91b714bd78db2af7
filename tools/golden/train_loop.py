"""PyTorch reference run of the training loop that `dnf train` runs: the loss of every step.

The loop (train.py of the DNF paper, CNNDetection's trainer; ../shared/reference/dnf-pipeline.md
section 3), with serial batches and no flip, i.e. what the engine runs with
`--no-shuffle --no-flip --init init.pth`:
    dataset = ImageFolder(root/train, Compose([Resize((S, S), BICUBIC), ToTensor()]))
    loader = DataLoader(dataset, batch_size=B, shuffle=False, drop_last=False, num_workers=0)
    optimizer = torch.optim.Adam(model.parameters(), lr, betas=(0.9, 0.999), eps=1e-8)  # no decay
    model.train()
    for each batch (x, y):                  # epochs one after the other, until `steps` steps
        logits = model(x).view(-1)
        loss = nn.BCEWithLogitsLoss()(logits, y.float())   # mean over the batch (5 in a partial one)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    after the last step of epoch 1: model.eval(), sigmoid(logits) of root/val (same transform, no
    grad, ImageFolder order), model.train(), then on with epoch 2.
Resize((S, S)) of an S x S image is the identity (PIL returns a copy), so the default fixture does
not depend on the bicubic kernel; tool mode can write larger images (--image-size) to include it.

File order (what ImageFolder/make_dataset of torchvision 0.14 give, and what the engine must use
with --no-shuffle): classes = sorted(names of the sub-folders of root), class index = position in
that list (0_real -> 0, 1_fake -> 1); the samples are class by class in that order, and within a
class `for dirpath, _, fnames in sorted(os.walk(class_dir)): for f in sorted(fnames)` keeping the
names whose lower-cased extension is an image extension (.png here): Python's sorted() on str,
i.e. by Unicode code point, not natural order - the images are named 0.png .. 43.png, so the order
is 0, 1, 10, 11, .., 19, 2, 20, .. ('.' < '0'). golden.json lists the order explicitly.

Run: /usr/bin/python3 tools/golden/train_loop.py      (Debian's python3-torch 1.13, torchvision 0.14)
Writes test/fixtures/train-loop/ (about 410 KB, committed; reruns write identical files):
  train/0_real/<i>.png, train/1_fake/<i>.png   44 + 41 8-bit RGB PNGs, 32 x 32: with batch 8,
                          10 full batches and one of 5 per epoch (a partial batch, then epoch 2).
                          Serial order: batches 1-5 are all real, 6 mixed, 7-11 all fake.
  val/0_real/<i>.png, val/1_fake/<i>.png       8 + 8 more
  init.pth                torch.save({'model': state_dict}) (zip format) of SmallResNet
                          (resnet_common.py: torchvision's ResNet, BasicBlock, layers [2, 2, 2, 2],
                          stem 4, stage widths 4, 8, 16, 32, fc Linear(32, 1)); its state-dict keys
                          are torchvision resnet18's, in the same order (checked here).
                          Init: torchvision's (kaiming_normal_ fan_out convs, BN weight 1, bias 0,
                          nn.Linear's default fc bias), then fc.weight ~ N(0, 0.02), under
                          torch.manual_seed(SEED).
  golden.json             config (batch, size, lr, betas, eps, steps, seeds, threads), the file
                          order (train_files/train_labels, val_files/val_labels: paths relative to
                          the folder), and the results of runs from init.pth on the same batches:
                          float32 (the reference), and float64 (model.double(), inputs k/255 in
                          float64): |f32 - f64| is PyTorch's own float32 error.
                            losses_f32, losses_f64      loss.item() of steps 1..steps
                            losses_abs_diff             |f32 - f64| per step
                            val_logits_*, val_probs_*   eval-mode logits and sigmoid(logit) of the
                                                        val images after epoch 1 (eval_after_step)
                            bn1_running_mean_*, bn1_running_var_*, bn1_num_batches_tracked
                                                        the stem BatchNorm's buffers after the last step
                            rerun_identical             the float32 run repeated in-process gave
                                                        bit-identical losses, val logits and buffers
                            float32_vs_perturbed        per float32 run from the initial parameters
                                                        times 1 + 2^-23 N(0, 1) (8 runs): max |a - b|
                                                        of losses, val_probs, bn1 running mean/var
Images (DNF-like, seeded, deterministic): every image is a smooth low-frequency colour field (a
random 4 x 4 field per channel, bicubically upsampled); fake images add a faint periodic
high-frequency pattern (amplitude 3..6 levels), a checkerboard (-1)^(x+y) mixed with a period-4
stripe of random phase and direction, as upsampling artifacts leave in diffusion noise residuals.
Quantised to 8 bits (round, clamp). After one epoch of single-class batches the net does not yet
separate the classes (val probabilities all about 0.48): a numerical golden, not an accuracy test.

How closely a second float32 implementation can follow: the loop is chaotic where Adam meets
exact zeros. A channel that is dead for the whole batch (ReLU) has gradients of exactly 0 in
PyTorch; rounding that leaves one of its inputs 1e-8 above the kink gives a tiny gradient instead,
which Adam turns into a step of about lr. So the ulp-perturbed inits and float64 say little: the
test that matters multiplies every conv output by 1 + 1e-6 N(0, 1) (another implementation's
float32 rounding) in NOISE_TRIALS runs and records the per-step envelope (losses_envelope). With
lr 1e-3 (seeds 0..11) that envelope reached 1e-3..6e-3 within 20 steps for every seed; with the
reference's lr 1e-4 and SEED = 0 it stays below 1.7e-6 through epoch 1 (11 steps) and 3.9e-4 in
epoch 2: an engine within 1e-5 of losses_f32 over all 20 steps is on the reference trajectory.
The thread count changes the float32 results (2 threads: losses differ by up to 2.4e-7)
but not run to run; the default mode uses one thread. (channels_last, the second float32
implementation train_step.py compares against, aborts with heap corruption in this torch 1.13 build
for nets with 4-channel BasicBlocks, so it is not used here.)

Tool mode (not committed; a full-size check, the same layout with a real torchvision model):
  /usr/bin/python3 tools/golden/train_loop.py --arch resnet18|resnet50 --size 64 --count N --out DIR
  torchvision.models.<arch>() with fc replaced by Linear(C, 1), weight ~ N(0, 0.02) (as train.py
  does); N training images (N - N//2 real, N//2 fake), --val V per class (default 8), --batch B
  (default 8), --steps K (default max(20, steps per epoch + 1)), --image-size (default --size:
  other sizes go through the bicubic Resize), all CPU threads unless --threads, --perturbed N
  perturbed runs (default 0). DIR must not hold train/ or val/ already. Full ResNets on small images
  leave the trajectory quickly (resnet18, 32 x 32, batch 8: |f32 - f64| 0.03 at step 4): read
  losses_abs_diff and float32_vs_perturbed before comparing later steps.
"""
import argparse
import copy
import json
import math
import os
import shutil
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import datasets, transforms
from torchvision.models.resnet import BasicBlock

from resnet_common import SmallResNet, perturbed

LR = 1e-4
BETAS = (0.9, 0.999)
EPS = 1e-8
SEED = 0  # see the docstring: a seed whose trajectory float32 rounding does not change
PERTURBED = 8
DATA_SEED = 2024
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'train-loop')
SMALL = dict(block=BasicBlock, layers=[2, 2, 2, 2], stem=4, planes=[4, 8, 16, 32])
CLASSES = ['0_real', '1_fake']
# Another float32 implementation's conv outputs differ from PyTorch's by ~1e-7..1e-6 relative.
NOISE = 1e-6
NOISE_TRIALS = 6


# ---------------------------------------------------------------- data

def dnf_like_image(fake, size, g):
    """uint8 [size, size, 3] (HWC, as the PNG holds it)."""
    field = torch.rand(1, 3, 4, 4, generator=g, dtype=torch.float64)
    img = 0.15 + 0.7 * F.interpolate(field, size=(size, size), mode='bicubic', align_corners=False)[0]
    if fake:
        yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                                indexing='ij')
        amp = (3 + 3 * torch.rand(1, generator=g, dtype=torch.float64).item()) / 255
        phase = 2 * math.pi * torch.rand(1, generator=g, dtype=torch.float64).item()
        along = xx if torch.rand(1, generator=g).item() < 0.5 else yy
        pattern = 0.6 * torch.cos(math.pi * (xx + yy)) + 0.4 * torch.cos(0.5 * math.pi * along + phase)
        img = img + amp * pattern
    q = torch.round(img * 255).clamp(0, 255).to(torch.uint8)
    return q.permute(1, 2, 0).contiguous().numpy()


def write_images(root, split, counts, size, g):
    """counts: images per class; files <i>.png, generated in class order then i."""
    for cls, n in zip(CLASSES, counts):
        d = os.path.join(root, split, cls)
        os.makedirs(d)
        for i in range(n):
            Image.fromarray(dnf_like_image(cls == '1_fake', size, g), 'RGB').save(os.path.join(d, f'{i}.png'))


def folder(root, split, size):
    t = transforms.Compose([transforms.Resize((size, size), interpolation=transforms.InterpolationMode.BICUBIC),
                            transforms.ToTensor()])
    ds = datasets.ImageFolder(os.path.join(root, split), transform=t)
    assert ds.classes == CLASSES, ds.classes
    return ds


def file_order(ds, root):
    files = [os.path.relpath(p, root).replace(os.sep, '/') for p, _ in ds.samples]
    return files, [int(c) for _, c in ds.samples]


# ---------------------------------------------------------------- model

def small_net():
    torch.manual_seed(SEED)
    model = SmallResNet(**SMALL)
    nn.init.normal_(model.fc.weight, 0.0, 0.02)
    ref = list(torchvision.models.resnet18(num_classes=1).state_dict().keys())
    keys = list(model.state_dict().keys())
    assert keys == ref, 'SmallResNet state-dict keys differ from torchvision resnet18'
    return model


def torchvision_net(arch):
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, arch)()
    model.fc = nn.Linear(model.fc.in_features, 1)
    nn.init.normal_(model.fc.weight, 0.0, 0.02)
    return model


# ---------------------------------------------------------------- the loop

def to_dtype(x, dtype):
    """ToTensor gives float32(k / 255); float64 gets k / 255 exactly rounded in float64."""
    return x if dtype == torch.float32 else torch.round(x.double() * 255) / 255


def train_loop(init, dtype, train_ds, val_ds, batch, steps, noise=0.0, trial=0):
    """The loop of the docstring from a copy of init, in dtype; with noise > 0 every conv output is
    multiplied by 1 + noise * N(0, 1) (seeded by trial): float32 rounding of another implementation."""
    model = copy.deepcopy(init).to(dtype)
    if noise:
        gen = torch.Generator().manual_seed(trial)
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.register_forward_hook(lambda _m, _i, out: out * (1 + noise * torch.randn(out.shape, generator=gen, dtype=out.dtype)))
    loader = torch.utils.data.DataLoader(train_ds, batch_size=batch, shuffle=False, drop_last=False, num_workers=0)
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=batch, shuffle=False, drop_last=False, num_workers=0)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    losses, val_logits, step, epoch = [], None, 0, 0
    model.train()
    while step < steps:
        epoch += 1
        for x, y in loader:
            logits = model(to_dtype(x, dtype)).view(-1)
            loss = loss_fn(logits, y.to(dtype))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step == steps:
                break
        if epoch == 1:
            model.eval()
            with torch.no_grad():
                val_logits = torch.cat([model(to_dtype(x, dtype)).view(-1) for x, _ in val_loader]).tolist()
            model.train()
    bn1 = model.bn1
    return dict(losses=losses, val_logits=val_logits,
                val_probs=torch.sigmoid(torch.tensor(val_logits, dtype=dtype)).tolist(),
                bn1_running_mean=bn1.running_mean.tolist(), bn1_running_var=bn1.running_var.tolist(),
                bn1_num_batches_tracked=int(bn1.num_batches_tracked))


def max_abs(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def generate(root, model, arch, size, image_size, counts, val_counts, batch, steps, n_perturbed):
    per_epoch = math.ceil(sum(counts) / batch)
    if steps < per_epoch:
        raise ValueError(f'train_loop: {steps} steps end before epoch 1 ({per_epoch} steps): no val probabilities')
    g = torch.Generator().manual_seed(DATA_SEED)
    write_images(root, 'train', counts, image_size, g)
    write_images(root, 'val', val_counts, image_size, g)
    torch.save({'model': model.state_dict()}, os.path.join(root, 'init.pth'))
    train_ds, val_ds = folder(root, 'train', size), folder(root, 'val', size)
    # Train from the saved file, as the engine does with --init init.pth.
    init = copy.deepcopy(model)
    init.load_state_dict(torch.load(os.path.join(root, 'init.pth'))['model'])

    t0 = time.time()
    r32 = train_loop(init, torch.float32, train_ds, val_ds, batch, steps)
    t32 = time.time() - t0
    r32b = train_loop(init, torch.float32, train_ds, val_ds, batch, steps)
    r64 = train_loop(init, torch.float64, train_ds, val_ds, batch, steps)
    identical = r32 == r32b
    others = [train_loop(perturbed(init, i), torch.float32, train_ds, val_ds, batch, steps) for i in range(n_perturbed)]
    noisy = [train_loop(init, torch.float32, train_ds, val_ds, batch, steps, NOISE, i) for i in range(NOISE_TRIALS)]

    train_files, train_labels = file_order(train_ds, root)
    val_files, val_labels = file_order(val_ds, root)
    diff = [abs(a - b) for a, b in zip(r32['losses'], r64['losses'])]
    golden = dict(
        arch=arch, net={k: (v.__name__ if k == 'block' else v) for k, v in SMALL.items()} if arch == 'small' else arch,
        seed=SEED, data_seed=DATA_SEED, batch=batch, size=size, image_size=image_size, lr=LR, betas=list(BETAS),
        eps=EPS, weight_decay=0.0, steps=steps, steps_per_epoch=per_epoch, eval_after_step=per_epoch,
        shuffle=False, flip=False, drop_last=False, loss='BCEWithLogitsLoss (mean)', logits='model(x).view(-1)',
        threads=torch.get_num_threads(), torch=torch.__version__, torchvision=torchvision.__version__,
        order_rule=('ImageFolder/make_dataset: classes = sorted sub-folder names (index = position); samples class '
                    'by class; within a class, for dirpath in sorted(os.walk(class_dir)): for name in '
                    'sorted(fnames) - Python str order (Unicode code points), e.g. 0.png, 1.png, 10.png, ..., 19.png, '
                    '2.png; only image extensions (case-insensitive)'),
        train_files=train_files, train_labels=train_labels, val_files=val_files, val_labels=val_labels,
        rerun_identical=identical)
    for k in ['losses', 'val_logits', 'val_probs', 'bn1_running_mean', 'bn1_running_var']:
        golden[k + '_f32'] = r32[k]
        golden[k + '_f64'] = r64[k]
    golden['losses_abs_diff'] = diff
    golden['bn1_num_batches_tracked'] = r32['bn1_num_batches_tracked']
    golden['float32_vs_perturbed'] = [
        {k: max_abs(r32[k], o[k]) for k in ['losses', 'val_probs', 'bn1_running_mean', 'bn1_running_var']}
        for o in others]
    golden['noise'] = dict(relative=NOISE, trials=NOISE_TRIALS, what='every conv output times 1 + noise * N(0, 1)')
    golden['losses_envelope'] = [max(abs(o['losses'][i] - r32['losses'][i]) for o in noisy) for i in range(steps)]
    golden['val_probs_envelope'] = max(max_abs(r32['val_probs'], o['val_probs']) for o in noisy)
    golden['bn1_envelope'] = max(max(max_abs(r32[k], o[k]) for k in ['bn1_running_mean', 'bn1_running_var']) for o in noisy)
    with open(os.path.join(root, 'golden.json'), 'w') as f:
        json.dump(golden, f, indent=1)
        f.write('\n')

    worst = max(range(steps), key=lambda i: diff[i])
    rel = max(d / abs(b) for d, b in zip(diff, r64['losses']))
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(root) for n in ns)
    print(f'{arch}: {len(train_ds)} train + {len(val_ds)} val images {image_size}x{image_size} -> {size}, '
          f'batch {batch}, {steps} steps ({per_epoch} per epoch), float32 run {t32:.1f} s, {torch.get_num_threads()} threads')
    print('losses f32:', ' '.join(f'{v:.6f}' for v in r32['losses']))
    print(f'max |f32 - f64| over the losses: {diff[worst]:.3g} (step {worst + 1}), max relative {rel:.3g}; '
          f'steps 1, {per_epoch}, {steps}: {diff[0]:.3g}, {diff[per_epoch - 1]:.3g}, {diff[-1]:.3g}')
    print(f'val probs after epoch 1: max |f32 - f64| {max_abs(r32["val_probs"], r64["val_probs"]):.3g}; '
          f'bn1 after step {steps}: running_mean {max_abs(r32["bn1_running_mean"], r64["bn1_running_mean"]):.3g}, '
          f'running_var {max_abs(r32["bn1_running_var"], r64["bn1_running_var"]):.3g}')
    if others:
        print(f'{n_perturbed} ulp-perturbed float32 runs: max |loss difference| '
              + ' '.join(f'{e["losses"]:.2g}' for e in golden['float32_vs_perturbed']))
    print(f'{NOISE_TRIALS} runs with conv outputs x (1 + {NOISE:g} N(0,1)): loss envelope per step '
          + ' '.join(f'{e:.1e}' for e in golden['losses_envelope']))
    print(f'float32 rerun identical: {identical}')
    print(f'wrote {root} ({total} bytes)')
    if not identical:
        raise SystemExit('train_loop: two float32 runs differ; use fewer threads')


def main():
    p = argparse.ArgumentParser(description='PyTorch reference run of the dnf train loop')
    p.add_argument('--arch', choices=['resnet18', 'resnet50'], help='tool mode: a torchvision ResNet')
    p.add_argument('--size', type=int, default=64, help='tool mode: the Resize((S, S)) size')
    p.add_argument('--image-size', type=int, help='tool mode: size of the written images (default --size)')
    p.add_argument('--count', type=int, default=85, help='tool mode: training images')
    p.add_argument('--val', type=int, default=8, help='tool mode: val images per class')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--steps', type=int, help='tool mode: default max(20, steps per epoch + 1)')
    p.add_argument('--threads', type=int, help='tool mode: default all CPUs')
    p.add_argument('--perturbed', type=int, default=0, help='tool mode: ulp-perturbed float32 runs to compare')
    p.add_argument('--out', help='tool mode: the folder to write')
    args = p.parse_args()
    torch.use_deterministic_algorithms(True)
    if args.arch is None:
        torch.set_num_threads(1)
        root = os.path.normpath(FIXTURE)
        for sub in ['train', 'val']:
            shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
        os.makedirs(root, exist_ok=True)
        generate(root, small_net(), 'small', 32, 32, [44, 41], [8, 8], 8, 20, PERTURBED)
    elif args.out is None:
        p.error('--arch needs --out')
    else:
        if any(os.path.exists(os.path.join(args.out, s)) for s in ['train', 'val']):
            p.error(f'--out {args.out} already holds train/ or val/')
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
        os.makedirs(args.out, exist_ok=True)
        counts = [args.count - args.count // 2, args.count // 2]
        steps = args.steps or max(20, math.ceil(args.count / args.batch) + 1)
        generate(os.path.abspath(args.out), torchvision_net(args.arch), args.arch, args.size,
                 args.image_size or args.size, counts, [args.val, args.val], args.batch, steps, args.perturbed)


if __name__ == '__main__':
    main()
