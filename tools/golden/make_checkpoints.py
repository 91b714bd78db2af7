#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures that test/torch-checkpoint.test.ts reads.

Run with Debian's PyTorch:  /usr/bin/python3 tools/golden/make_checkpoints.py
Output: test/fixtures/checkpoints/ (a few KB in all, committed).

- sd.{zip,legacy}.pt        a plain state dict (conv, BatchNorm with running stats and
                            num_batches_tracked, linear, and extra tensors below)
- wrapped.{zip,legacy}.pt   {'model': sd, 'optimizer': Adam state, 'total_steps': 5,
                            'args': argparse.Namespace(...)} as training scripts save them
- module.{zip,legacy}.pt    sd with every key prefixed 'module.' (DataParallel)
- list.legacy.ckpt          [sd, optimizer sd, epoch, step] as the DDIM training code saves
- sd.zip64.pt               sd.zip.pt re-packed with ZIP64 fields in the central directory
- sd.deflate.pt             sd.zip.pt re-packed with DEFLATE-compressed entries
- expected.safetensors      the tensors the reader must produce: float tensors as F32 (converted
                            from f16/bf16/f64 here by PyTorch), integer tensors in their own dtype,
                            names without 'module.'; written with struct+json (no safetensors package)
- malicious.pkl, malicious.zip.pt   pickles that call os.system on load; must be refused
- numpy-in-sd.zip.pt        a state dict with a numpy array value (an unknown global) inside
"""
import argparse
import io
import json
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'checkpoints')


def make_state_dict():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 5),
    )
    # Train one step so that the BatchNorm running stats and num_batches_tracked are not defaults.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 4, 4)).sum().backward()  # conv output [2,4,2,2] -> 16 features
    opt.step()
    sd = model.state_dict()

    lin_w = sd['3.weight']                         # [5, 16], contiguous
    sd['extra.transposed'] = lin_w.t()             # non-contiguous view sharing lin_w's storage
    base = torch.arange(24, dtype=torch.float32) * 0.5
    sd['extra.shared_a'] = base[2:7]               # two tensors in one storage, with offsets
    sd['extra.shared_b'] = base[10:22].view(3, 4)
    sd['extra.strided'] = torch.randn(4, 6)[1:, 1:5:2]         # offset + step-2 strides
    sd['extra.expanded'] = torch.randn(3, 1).expand(3, 4)      # stride 0
    sd['extra.half'] = torch.randn(2, 3).half()
    sd['extra.bf16'] = torch.randn(5).bfloat16()
    sd['extra.double'] = torch.randn(2, 2, dtype=torch.float64)
    sd['extra.scalar'] = torch.tensor(3.25)
    sd['extra.empty'] = torch.zeros(0, 3)
    sd['extra.int32'] = torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32)
    sd['extra.int64'] = torch.tensor([-(2**40), 7])
    sd['extra.uint8'] = torch.tensor([0, 255, 7], dtype=torch.uint8)
    sd['extra.bool'] = torch.tensor([True, False, True])
    return sd, opt


def save_both(obj, stem):
    torch.save(obj, os.path.join(OUT, f'{stem}.zip.pt'))
    torch.save(obj, os.path.join(OUT, f'{stem}.legacy.pt'), _use_new_zipfile_serialization=False)


def write_safetensors(path, tensors):
    """A minimal safetensors writer: 8-byte LE header length, JSON header, little-endian data."""
    names = {torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.bfloat16: 'BF16',
             torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8',
             torch.uint8: 'U8', torch.bool: 'BOOL'}
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''  # keeps bf16 bits
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    js = json.dumps(header, separators=(',', ':')).encode()
    js += b' ' * (-len(js) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)) + js + b''.join(chunks))


def repack_zip(src, dst, deflate=False, force_zip64=False):
    """Re-writes a zip: DEFLATE entries, or STORED entries with ZIP64 extras in the central directory
    (sizes and offsets set to 0xFFFFFFFF there, the real values in the 0x0001 extra field)."""
    with zipfile.ZipFile(src) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    if not force_zip64:
        with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
            for name, data in entries:
                z.writestr(name, data)
        return
    out, central = bytearray(), bytearray()
    for name, data in entries:
        n, crc, off = name.encode(), zlib.crc32(data), len(out)
        z64 = struct.pack('<HHQQ', 1, 16, len(data), len(data))  # local: sizes only
        out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(z64)) + n + z64 + data
        z64c = struct.pack('<HHQQQ', 1, 24, len(data), len(data), off)
        central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(n), len(z64c), 0, 0, 0, 0, 0xFFFFFFFF) + n + z64c
    cd_off = len(out)
    out += central
    eocd64_off = len(out)
    out += struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, len(entries), len(entries), len(central), cd_off)
    out += struct.pack('<IIQI', 0x07064b50, 0, eocd64_off, 1)
    out += struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(dst, 'wb') as f:
        f.write(out)


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned-by-pickle > /tmp/dnf-pickle-pwned',))


def main():
    os.makedirs(OUT, exist_ok=True)
    sd, opt = make_state_dict()
    save_both(sd, 'sd')
    save_both({'model': sd, 'optimizer': opt.state_dict(), 'total_steps': 5,
               'args': argparse.Namespace(lr=1e-4, name='run1')}, 'wrapped')
    save_both({'module.' + k: v for k, v in sd.items()}, 'module')
    torch.save([sd, opt.state_dict(), 3, 1234], os.path.join(OUT, 'list.legacy.ckpt'),
               _use_new_zipfile_serialization=False)
    repack_zip(os.path.join(OUT, 'sd.zip.pt'), os.path.join(OUT, 'sd.zip64.pt'), force_zip64=True)
    repack_zip(os.path.join(OUT, 'sd.zip.pt'), os.path.join(OUT, 'sd.deflate.pt'), deflate=True)

    expected = {}
    for k, v in sd.items():
        expected[k] = v.float() if v.is_floating_point() else v
    write_safetensors(os.path.join(OUT, 'expected.safetensors'), expected)

    with open(os.path.join(OUT, 'malicious.pkl'), 'wb') as f:
        pickle.dump({'model': Evil()}, f, protocol=2)
    with zipfile.ZipFile(os.path.join(OUT, 'malicious.zip.pt'), 'w') as z:
        z.writestr('archive/data.pkl', pickle.dumps(Evil(), protocol=2))
        z.writestr('archive/version', '3\n')
    torch.save({'w': torch.ones(2), 'x': np.arange(3, dtype=np.float32)}, os.path.join(OUT, 'numpy-in-sd.zip.pt'))

    # Sanity: PyTorch itself reads every fixture back to the same tensors.
    for stem in ('sd.zip', 'sd.legacy', 'sd.zip64', 'sd.deflate'):
        back = torch.load(os.path.join(OUT, stem + '.pt'))
        assert all(torch.equal(back[k], sd[k]) for k in sd), stem
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f'wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
