"""Goldens for BatchNorm2d in train mode (shaders/batch_norm.wgsl, src/kernels/batch-norm.ts).

Run: /usr/bin/python3 tools/golden/batch_norm.py   (Debian's python3-torch)

Per case <name>, with bn = torch.nn.BatchNorm2d(C) (eps 1e-5, momentum 0.1), random weight, bias
and running statistics (rm0, rv0), in train mode:
    out = act(bn(x) + residual)                  act relu or none, residual or none
    dx, dweight, dbias = torch.autograd.grad((out * dy).sum(), [x, bn.weight, bn.bias])
    rm1, rv1: the running statistics after that forward
    out_eval = act(bn.eval()(x) + residual)      with rm1, rv1
    rm2, rv2: after a second train-mode forward, of x2
The same computation in float64 (keys <name>.f64.*) is the reference that measures PyTorch's own
float32 error; the metadata records it per tensor (max |f32 - f64| / max(1, max |f64|)).
Shapes: C not a multiple of 4 (1, 2, 5, 13), odd planes (7x9, 47x49: the scalar entries), vec4 planes
(4x6, 48x48), 1x1 planes (M = N = 3), large means (x = 100 + randn), and planes large enough for
several tiles per channel (a tile is 256 invocations x 16 values).
"""
import torch

from fixture import save

torch.manual_seed(0)

# name: (shape, x offset, residual, relu)
CASES = {
    'odd': ((3, 5, 7, 9), 0.0, False, False),
    'vec': ((3, 13, 4, 6), 0.0, True, True),
    'plane1': ((3, 13, 1, 1), 0.0, False, True),
    'bigmean': ((3, 5, 8, 8), 100.0, True, False),
    'bigmean_odd': ((3, 5, 5, 3), 100.0, False, True),
    'tiles': ((3, 2, 48, 48), 0.0, True, True),
    'tiles_odd': ((3, 1, 47, 49), 0.0, False, False),
}


def run(inputs, residual, relu, dtype):
    """The case's outputs computed in `dtype` from the same inputs."""
    d = {k: v.to(dtype) for k, v in inputs.items()}
    c = d['x'].shape[1]
    bn = torch.nn.BatchNorm2d(c).to(dtype)
    with torch.no_grad():
        bn.weight.copy_(d['weight'])
        bn.bias.copy_(d['bias'])
        bn.running_mean.copy_(d['rm0'])
        bn.running_var.copy_(d['rv0'])
    res = d['residual'] if residual else 0

    def forward(x):
        y = bn(x) + res
        return torch.relu(y) if relu else y

    x = d['x'].clone().requires_grad_(True)
    bn.train()
    out = forward(x)
    dx, dw, db = torch.autograd.grad((out * d['dy']).sum(), [x, bn.weight, bn.bias])
    r = {'out': out, 'dx': dx, 'dweight': dw, 'dbias': db, 'rm1': bn.running_mean.clone(), 'rv1': bn.running_var.clone()}
    bn.eval()
    with torch.no_grad():
        r['out_eval'] = forward(d['x'])
        bn.train()
        forward(d['x2'])
    r['rm2'] = bn.running_mean.clone()
    r['rv2'] = bn.running_var.clone()
    return r


t = {}
meta = {'generator': 'tools/golden/batch_norm.py', 'torch': torch.__version__}
for name, (shape, offset, residual, relu) in CASES.items():
    c = shape[1]
    inputs = {
        'x': torch.randn(shape) + offset,
        'x2': torch.randn(shape) * 1.5 + offset,
        'dy': torch.randn(shape),
        'residual': torch.randn(shape),
        'weight': torch.rand(c) + 0.5,
        'bias': torch.randn(c),
        'rm0': torch.randn(c) * 0.1,
        'rv0': torch.rand(c) + 0.5,
    }
    if not residual:
        del inputs['residual']
    f32 = run(inputs, residual, relu, torch.float32)
    f64 = run(inputs, residual, relu, torch.float64)
    for k, v in inputs.items():
        t[f'{name}.{k}'] = v
    for k in f32:
        t[f'{name}.{k}'] = f32[k]
        t[f'{name}.f64.{k}'] = f64[k]
        err = (f32[k].double() - f64[k]).abs().max() / max(1.0, f64[k].abs().max().item())
        meta[f'{name}.torch_f32_error.{k}'] = f'{err.item():.3e}'
    meta[f'{name}.residual'] = int(residual)
    meta[f'{name}.relu'] = int(relu)

save('batch_norm', t, meta)
