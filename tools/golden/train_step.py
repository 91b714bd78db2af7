"""PyTorch reference runs of whole ResNet training steps: forward, BCE loss, backward, Adam.

What one step is (../shared/reference/dnf-pipeline.md section 3, CNNDetection's trainer):
    model.train()
    logits = model(x)                                            # torchvision ResNet, fc -> 1
    loss = nn.BCEWithLogitsLoss()(logits.squeeze(1), y.float())
    optimizer.zero_grad(); loss.backward(); optimizer.step()
with optimizer = torch.optim.Adam(model.parameters(), lr, betas=(0.9, 0.999)) (eps 1e-8, weight decay 0).
BatchNorm2d trains on batch statistics and updates its running statistics (momentum 0.1, unbiased
variance) and num_batches_tracked. Initialisation as the reference: torchvision's default init
(kaiming_normal_ fan_out convs, BatchNorm weight 1 and bias 0), then fc.weight ~ N(0, 0.02); fc.bias
keeps nn.Linear's default init. Model init under torch.manual_seed, data from its own generator,
one thread in the default mode: reruns write identical files.

Run: /usr/bin/python3 tools/golden/train_step.py      (Debian's python3-torch 1.13, torchvision 0.14)
Writes test/fixtures/golden/train_step.safetensors for two nets <n> (SmallResNet of resnet_common.py:
torchvision's blocks and forward, small widths, torchvision's state-dict keys):
  basic:       BasicBlock, blocks [2, 2, 2, 2] (ResNet18's structure), stem 8, planes [8, 16, 24, 32]
  bottleneck:  Bottleneck, blocks [3, 4, 6, 3] (ResNet50's structure), stem 8, planes [4, 8, 12, 16]
               (block outputs 16..64)
trained for 10 steps on batches of 4 images 37 high and 41 wide, lr 1e-3.

Tool mode (not committed; the same function writes the same layout with <n> = <arch>):
  /usr/bin/python3 tools/golden/train_step.py --arch resnet18|resnet34|resnet50 --batch B --size S --steps K --out FILE.safetensors
  torchvision.models.<arch>(num_classes=1) with the reference fc init, K steps on batches of B images
  S x S, lr 1e-3, all CPU threads, --perturbed N perturbed runs (default 0); e.g. --arch resnet50
  --batch 4 --size 64 --steps 3, or --arch resnet18 --batch 64 --size 256 --steps 1 (the reference
  batch; minutes on CPU).

Layout (<key>: the model's state-dict keys, num_batches_tracked included as I64 0-d tensors,
everything else F32; <param key>: the keys of model.named_parameters(), buffers excluded):
  <n>.init.<key>          the initial state dict
  <n>.x                   [K, B, 3, H, W] the batches, step i uses x[i]: a random smooth colour field
                          plus pixel noise (std 0.04 for label 0, 0.12 for label 1), clamped to [0, 1]
                          and rounded to multiples of 1/255 (ToTensor of an 8-bit image)
  <n>.y                   [K, B] F32 labels 0/1, both classes in every batch (half each, shuffled)
  <n>.step1.logits        [B] the train-mode logits of batch 0 from the initial state (squeezed)
  <n>.step1.loss          [] the loss of batch 0
  <n>.step1.grad.<param key>   the gradients after loss.backward() of batch 0
  <n>.step1.state.<buffer key> running_mean, running_var, num_batches_tracked after that forward
                          (the parameters are still the initial ones)
  <n>.losses              [K] the loss of each step (losses[0] = step1.loss)
  <n>.final.<key>         the whole state dict (parameters and buffers) after the K Adam steps
  <n>.eval.logits         [B] model.eval() logits of batch 0 after the K steps (running statistics)
Metadata (JSON strings):
  <n>.config              net structure, batch, height, width, steps, lr, seeds
  <n>.float32_vs_float64  how far the float32 run (the tensors above) is from the same run in float64
                          (model.double(), same initial state and data): PyTorch's own float32 error
  <n>.float32_vs_channels_last  the same fields against the float32 run with channels_last tensors:
                          other convolution kernels, another summation order - a second float32
                          implementation, as the engine is one
  <n>.float32_vs_perturbed  a list, one entry per float32 run whose initial parameters were multiplied
                          by 1 + 2^-23 N(0, 1) (8 runs here, --perturbed N in tool mode), with the fields
                          losses, eval_logits, final_param_rel, final_param_max_in_lr_steps, final_param_over
  Fields (a: the tensors above, b: the other run):
    step1_loss, step1_logits, losses, eval_logits   max |a - b|; losses_per_step: |a - b| per step
    grad_rel, grad_worst       max over parameters of max|a - b| / max|b| of the step-1 gradient, and
                               the parameter where it is reached
    step1_running_rel, step1_running_worst   the same for the running statistics after step 1
    final_param_rel, final_param_worst   the same for the final parameters
    final_running_mean, final_running_var  max |a - b| over all BatchNorm layers; _rel, _worst: the
                               largest of max|a - b| / max|b| per layer, and that layer
    final_param_max_in_lr_steps  max |a - b| of the final parameters / (lr * K): Adam moves an element
                               by about lr per step whatever the gradient's size (lr * sign(g) where
                               |g| >> sqrt(v) * eps), so a near-zero gradient can flip a step's sign
    final_param_count, final_param_over   parameter elements, and how many of them differ by more
                               than 1e-6, 1e-5, 1e-4

What the runs show: step 1 (forward, gradients, running statistics) agrees to float32 rounding,
amplified by the depth. Later steps are not always reproducible: when a ReLU or max-pool input lies
within float32 rounding of its kink, another summation order puts it on the other side, BatchNorm's
backward over the few values per channel of layer3/layer4 (36 and 16 here) spreads that to whole
channels, and from then on Adam (steps of about lr whatever the gradient's size) follows another
trajectory. The basic net stays on the trajectory in the float64 run, the channels_last run and most
perturbed runs (the seed is one of 0..11 where float64 and channels_last both do); the bottleneck net
(16 blocks, 4-channel bottlenecks) leaves it at step 3 in every run, so its later losses, final state
and eval logits bound an implementation only as loosely as the float32_vs_* numbers say. In tool
mode the same metadata tells how closely a run of that size can be checked: for torchvision's
resnet50 on 4 images the step-1 gradients of float32 and float64 differ by up to 25% of a tensor's
largest value (64x64 and 128x128), and in float64 alone a 1e-7 relative change of the 128x128 input
moves them as much (median tensor 1.4%): the gradient itself is that sensitive at such a batch.
"""
import argparse
import copy
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

import fixture
from resnet_common import SmallResNet, perturbed

LR = 1e-3
SEED = 3
DATA_SEED = 1003
PERTURBED = 8
NETS = {
    'basic': dict(block=BasicBlock, layers=[2, 2, 2, 2], stem=8, planes=[8, 16, 24, 32]),
    'bottleneck': dict(block=Bottleneck, layers=[3, 4, 6, 3], stem=8, planes=[4, 8, 12, 16]),
}


def reference_init(model):
    """The reference trainer's re-initialisation on top of torchvision's default init."""
    nn.init.normal_(model.fc.weight, 0.0, 0.02)
    return model


def batches(steps, batch, h, w, seed):
    """x [steps, batch, 3, h, w] image-like in [0, 1] (8-bit levels), y [steps, batch] 0/1 floats."""
    if batch < 2:
        raise ValueError(f'train_step batches: batch {batch} cannot hold both classes')
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for _ in range(steps):
        y = (torch.randperm(batch, generator=g) < batch // 2).float()
        field = torch.rand(batch, 3, h // 8 + 2, w // 8 + 2, generator=g)
        smooth = F.interpolate(field, size=(h, w), mode='bicubic', align_corners=False)
        sigma = (0.04 + 0.08 * y)[:, None, None, None]
        x = (0.1 + 0.8 * smooth + sigma * torch.randn(batch, 3, h, w, generator=g)).clamp(0, 1)
        xs.append(torch.round(x * 255) / 255)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


def clone_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train(model, x, y, lr, memory_format=torch.contiguous_format):
    """The reference trainer's steps, step i on batch i; returns the records of the layout (no prefix).
    memory_format=torch.channels_last runs other convolution kernels (another summation order)."""
    model.to(memory_format=memory_format)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    rec = {'init.' + k: v for k, v in clone_state(model).items()}
    losses = []
    model.train()
    for i in range(len(x)):
        logits = model(x[i].contiguous(memory_format=memory_format)).squeeze(1)
        loss = loss_fn(logits, y[i])
        optimizer.zero_grad()
        loss.backward()
        if i == 0:
            rec['step1.logits'] = logits.detach().clone()
            rec['step1.loss'] = loss.detach().clone()
            rec.update({'step1.grad.' + k: p.grad.clone() for k, p in model.named_parameters()})
            rec.update({'step1.state.' + k: b.clone() for k, b in model.named_buffers()})
        optimizer.step()
        losses.append(loss.detach().clone())
    rec['losses'] = torch.stack(losses)
    rec.update({'final.' + k: v for k, v in clone_state(model).items()})
    model.eval()
    with torch.no_grad():
        rec['eval.logits'] = model(x[0].contiguous(memory_format=memory_format)).squeeze(1)
    return rec


def max_abs(a, b):
    return (a.double() - b.double()).abs().max().item()


def worst_rel(rec, ref, keys):
    """max over keys of max|a - b| / max|b| (max|a - b| where b is all zero), and the worst key."""
    def rel(k):
        scale = ref[k].abs().max().item()
        return max_abs(rec[k], ref[k]) / (scale if scale > 0 else 1.0)
    worst = max(keys, key=rel)
    return rel(worst), worst


def difference(rec, ref, param_keys, lr, steps):
    """How far the float32 records `rec` are from another run's `ref` (see the docstring's metadata)."""
    grads = ['step1.grad.' + k for k in param_keys]
    finals = ['final.' + k for k in param_keys]
    err = {k.replace('.', '_'): max_abs(rec[k], ref[k]) for k in ['step1.loss', 'step1.logits', 'losses', 'eval.logits']}
    err['losses_per_step'] = (rec['losses'].double() - ref['losses'].double()).abs().tolist()
    err['grad_rel'], err['grad_worst'] = worst_rel(rec, ref, grads)
    running = [k for k in rec if k.startswith('step1.state.') and 'running_' in k]
    err['step1_running_rel'], err['step1_running_worst'] = worst_rel(rec, ref, running)
    err['final_param_rel'], err['final_param_worst'] = worst_rel(rec, ref, finals)
    for stat in ['running_mean', 'running_var']:
        keys = [k for k in rec if k.startswith('final.') and k.endswith(stat)]
        err['final_' + stat] = max(max_abs(rec[k], ref[k]) for k in keys)
        err[f'final_{stat}_rel'], err[f'final_{stat}_worst'] = worst_rel(rec, ref, keys)
    diff = torch.cat([(rec[k].double() - ref[k].double()).abs().flatten() for k in finals])
    err['final_param_max_in_lr_steps'] = diff.max().item() / (lr * steps)
    err['final_param_count'] = diff.numel()
    err['final_param_over'] = {t: int((diff > float(t)).sum()) for t in ['1e-6', '1e-5', '1e-4']}
    return err


def reference_run(name, make_model, x, y, lr, config, n_perturbed):
    """Trains make_model() in float32, and from the same initial state in float64, in float32 with
    channels_last and n_perturbed times in float32 from ulp-perturbed initial parameters; returns the
    float32 records under `name.` and the metadata (config, and the distance of each other run)."""
    torch.manual_seed(SEED)
    model = reference_init(make_model())
    init = copy.deepcopy(model)
    param_keys = [k for k, _ in model.named_parameters()]
    runs = {'float64': lambda: train(copy.deepcopy(init).double(), x.double(), y.double(), lr),
            'channels_last': lambda: train(copy.deepcopy(init), x, y, lr, torch.channels_last)}
    runs.update({f'perturbed{i}': lambda i=i: train(perturbed(init, i), x, y, lr) for i in range(n_perturbed)})
    t0 = time.time()
    rec = train(model, x, y, lr)
    print(f'{name}: float32 {time.time() - t0:.1f} s, losses {[round(v, 6) for v in rec["losses"].tolist()]}')
    errors = {}
    for run, fn in runs.items():
        t0 = time.time()
        errors[run] = difference(rec, fn(), param_keys, lr, len(x))
        print(f'{name}: vs {run} ({time.time() - t0:.1f} s): {json.dumps(errors[run])}')
    meta = {f'{name}.config': json.dumps(dict(config, seed=SEED, data_seed=DATA_SEED, lr=lr)),
            f'{name}.float32_vs_float64': json.dumps(errors.pop('float64')),
            f'{name}.float32_vs_channels_last': json.dumps(errors.pop('channels_last'))}
    if n_perturbed:
        summary = ['losses', 'eval_logits', 'final_param_rel', 'final_param_max_in_lr_steps', 'final_param_over']
        meta[f'{name}.float32_vs_perturbed'] = json.dumps([{k: e[k] for k in summary} for e in errors.values()])
    tensors = {f'{name}.{k}': v for k, v in rec.items()}
    tensors[f'{name}.x'] = x
    tensors[f'{name}.y'] = y
    return tensors, meta


def small_nets():
    torch.set_num_threads(1)
    tensors, meta = {}, {}
    for name, net in NETS.items():
        x, y = batches(10, 4, 37, 41, DATA_SEED)
        config = dict(block=net['block'].__name__, layers=net['layers'], stem=net['stem'], planes=net['planes'],
                      batch=4, height=37, width=41, steps=10)
        t, m = reference_run(name, lambda: SmallResNet(**net), x, y, LR, config, PERTURBED)
        tensors.update(t)
        meta.update(m)
    fixture.save('train_step', tensors, meta)


def torchvision_net(args):
    if not args.out.endswith('.safetensors'):
        raise ValueError(f'train_step --out {args.out}: the file name must end in .safetensors')
    torch.set_num_threads(os.cpu_count() or 1)
    x, y = batches(args.steps, args.batch, args.size, args.size, DATA_SEED)
    config = dict(arch=args.arch, batch=args.batch, height=args.size, width=args.size, steps=args.steps)
    make = getattr(torchvision.models, args.arch)
    tensors, meta = reference_run(args.arch, lambda: make(num_classes=1), x, y, LR, config, args.perturbed)
    out = os.path.abspath(args.out)
    fixture.ROOT = os.path.dirname(out)
    fixture.save(os.path.basename(out)[:-len('.safetensors')], tensors, meta)


def main():
    p = argparse.ArgumentParser(description='PyTorch reference runs of ResNet training steps')
    p.add_argument('--arch', choices=['resnet18', 'resnet34', 'resnet50'], help='tool mode: a torchvision ResNet')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--out', help='tool mode: the .safetensors file to write')
    p.add_argument('--perturbed', type=int, default=0, help='tool mode: ulp-perturbed float32 runs to compare')
    args = p.parse_args()
    if args.arch is None:
        small_nets()
    elif args.out is None:
        p.error('--arch needs --out')
    else:
        torchvision_net(args)


if __name__ == '__main__':
    main()
