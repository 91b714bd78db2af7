#!/usr/bin/env python3
"""Checks that a PyTorch checkpoint written by `dnf convert x.safetensors -o x.pth` loads in PyTorch.

Run with Debian's PyTorch:  /usr/bin/python3 tools/golden/check_pth.py FILE [--arch resnet50]
                                           [--key model] [--compare REFERENCE]

1. torch.load(FILE, weights_only=True): the restricted unpickler accepts the file (no code runs);
2. torchvision.models.<arch>(num_classes=1).load_state_dict(sd[key], strict=True): every tensor
   of the architecture is present, with its shape, nothing extra;
3. with --compare REFERENCE (a safetensors file, e.g. the one FILE was converted from): every tensor
   equals the reference's bit for bit, with the same dtype (int64 num_batches_tracked included);
4. with --logits CASE (a safetensors file holding `x` [N, 3, H, W] and the engine's eval-mode
   `logits` [N] of the same weights): model.eval()(x).squeeze(1) equals them within 1e-4 of
   max(1, max |logit|) (float32 through a ResNet: both sides round differently, see
   test/gpu/resnet.test.ts; measured errors are printed).
5. with --detect JSONL (the output of `dnf detect IMAGES --from-dnf --classifier X --json`, X the
   safetensors FILE was converted from): for every image, sigmoid(model.eval()(ToTensor(image)))
   with the reference's Resize((S, S)) bicubic for --size S (identity for S x S DNFs) equals the
   engine's prob within 1e-4.
Prints "OK: <n> tensors ..." and exits 0, or prints the failure and exits 1.
"""
import argparse
import json
import struct
import sys

import torch
import torchvision

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'F16': torch.float16, 'BF16': torch.bfloat16,
          'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8,
          'BOOL': torch.bool}


def read_safetensors(path):
    """The tensors of a safetensors file (struct + json: no extra package needed)."""
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop('__metadata__', None)
    out = {}
    for name, e in header.items():
        b, end = e['data_offsets']
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e['dtype']]) if end > b else torch.empty(0, dtype=DTYPES[e['dtype']])
        out[name] = t.reshape(e['shape'])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('file')
    ap.add_argument('--arch', default='resnet50', help='a torchvision.models constructor (default resnet50)')
    ap.add_argument('--key', default='model', help="where the state dict is ('' for a bare one; default model)")
    ap.add_argument('--compare', metavar='REFERENCE', help='a safetensors file whose tensors FILE must equal')
    ap.add_argument('--logits', metavar='CASE', help="a safetensors file with 'x' and the engine's 'logits'")
    ap.add_argument('--detect', metavar='JSONL', help="`dnf detect --json` lines whose probabilities the model must reproduce")
    ap.add_argument('--size', type=int, default=256, help='with --detect: the classifier input side (default 256)')
    args = ap.parse_args()

    ckpt = torch.load(args.file, weights_only=True)
    sd = ckpt[args.key] if args.key else ckpt
    model = getattr(torchvision.models, args.arch)(num_classes=1)
    model.load_state_dict(sd, strict=True)

    counts = sum(1 for k in sd if k.endswith('num_batches_tracked'))
    line = f'OK: {len(sd)} tensors ({counts} num_batches_tracked), {args.arch}(num_classes=1) loads them strictly'
    if args.compare:
        ref = read_safetensors(args.compare)
        if list(ref) != list(sd):
            sys.exit(f'FAIL: names differ from {args.compare}: {sorted(set(ref) ^ set(sd))[:5]}')
        for name, want in ref.items():
            got = sd[name]
            if got.dtype != want.dtype or got.shape != want.shape or not torch.equal(got, want):
                sys.exit(f'FAIL: {name}: {got.dtype} {tuple(got.shape)} differs from {want.dtype} {tuple(want.shape)} in {args.compare}')
        line += f'; all equal to {args.compare} bit for bit'
    if args.logits:
        case = read_safetensors(args.logits)
        with torch.no_grad():
            got = model.eval()(case['x']).squeeze(1)
        want = case['logits']
        err = (got - want).abs().max().item()
        bound = 1e-4 * max(1.0, want.abs().max().item())
        if not err <= bound:
            sys.exit(f'FAIL: logits differ by {err:.3e} (bound {bound:.3e}): torch {got.tolist()} engine {want.tolist()}')
        line += f'; eval logits of {len(want)} images equal the engine\'s within {err:.2e}'
    if args.detect:
        from PIL import Image
        import torchvision.transforms.functional as TF
        lines = [json.loads(l) for l in open(args.detect) if l.strip()]
        worst = 0.0
        model.eval()
        for l in lines:
            x = TF.to_tensor(Image.open(l['file']).convert('RGB'))
            if x.shape[1:] != (args.size, args.size):
                x = TF.resize((x * 255).round().to(torch.uint8), [args.size, args.size], interpolation=TF.InterpolationMode.BICUBIC, antialias=False).float() / 255
            with torch.no_grad():
                p = torch.sigmoid(model(x[None]))[0, 0].item()
            worst = max(worst, abs(p - l['prob']))
        if not worst <= 1e-4:
            sys.exit(f'FAIL: probabilities differ from {args.detect} by up to {worst:.3e} (bound 1e-4)')
        line += f'; probabilities of {len(lines)} images equal dnf detect\'s within {worst:.2e}'
    print(line)


if __name__ == '__main__':
    main()
