"""Writes golden fixtures as safetensors files (plain struct + json: no extra package needed).

Every generator in tools/golden imports `save(name, tensors, meta)`; tests read the files from
test/fixtures/golden/<name>.safetensors. Tensors are written as float32 (integers as I64).
"""
import json
import os
import struct

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'golden')


def save(name, tensors, meta=None):
    os.makedirs(ROOT, exist_ok=True)
    header = {}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype.is_floating_point:
            t = t.to(torch.float32)
            dtype = 'F32'
        else:
            t = t.to(torch.int64)
            dtype = 'I64'
        data = t.numpy().tobytes()
        header[key] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if meta:
        header['__metadata__'] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    path = os.path.join(ROOT, name + '.safetensors')
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f'wrote {os.path.relpath(path)} ({8 + len(h) + offset} bytes, {len(tensors)} tensors)')
