"""Goldens for the small training ops (test/gpu/train-ops.test.ts): max pool and global average
pool backward (src/kernels/pool.ts), transposed and accumulating matmuls and column sums
(src/kernels/matmul.ts), BCEWithLogitsLoss with its gradient (src/kernels/loss.ts), and 10 steps
of torch.optim.Adam (src/kernels/adam.ts).

Run: /usr/bin/python3 tools/golden/train_ops.py   (Debian's python3-torch 1.13, CPU, AVX2 kernels)

Cases (torch code per case below; gradients come from autograd's backward):
  mp.<case>.{x,dy,y,dx}: y = F.max_pool2d(x, k, s, p); y.backward(dy); dx = x.grad. x has ties
      (values rounded to halves, an all-equal plane, all-negative planes so border windows hold
      only negatives next to the -inf padding); mp.special holds NaN, +-inf and signed zeros.
      Metadata mp.<case>.window = "k s p"; mp.<case>.reversed_sum_differs counts elements of dx
      that a sum in reverse window order would change (the exact test sees the order).
  gap.<case>.{dy,dx}: y = F.adaptive_avg_pool2d(x, 1) (a mean in PyTorch); y.backward(dy[..., None, None]).
      Metadata gap.<case>.recip_differs counts elements where dy * (1 / (h*w)) != dy / (h*w).
  mm.<case>.{a,b,[bias],[c0],out}: out = [c0 +] op(a) @ op(b) [+ bias], op = transpose per
      metadata mm.<case>.op; mm.<case>.torch_err = max |torch f32 - f64| / max(1, max |f64|).
  sr.<case>.{x,out,abs}: out = x.sum(0); abs = x.abs().sum(0), the scale of its rounding errors
  bce.<case>.{z,y,loss,grad}: loss = F.binary_cross_entropy_with_logits(z, y) (mean); grad = z.grad;
      bce.<case>.loss64 is the float64 loss.
  adam.p0 [P], adam.grads [10, P]: initial parameters and the gradient of each step, the four
      parameter tensors (shapes in metadata adam.shapes) concatenated; per run r (adam0: lr 1e-3,
      defaults; adam1: lr 1e-4, betas (0.8, 0.99), eps 1e-6, weight_decay 0.01):
      r.param, r.m, r.v [10, P]: the parameters and state['exp_avg'], state['exp_avg_sq'] after
      each opt.step(); r.config (JSON); r.unfused_differs: values of param, m and v (summed over
      steps, each step from PyTorch's state) that separately rounded products in grad.add, add_
      and addcmul_ would change.
"""
import json

import torch
import torch.nn.functional as F

from fixture import save

torch.manual_seed(0)
t = {}
meta = {'generator': 'tools/golden/train_ops.py', 'torch': torch.__version__}


def rel_err(x, ref):
    return ((x.double() - ref).abs().max() / max(1.0, ref.abs().max().item())).item()


# ------------------------------------------------------------------ max pool backward

def ties(*shape):
    """Values rounded to halves in [-1, 1]: many equal maxima in every window."""
    return torch.randint(-2, 3, shape).float() / 2


def max_pool_case(name, x, k, s, p):
    x = x.clone().requires_grad_()
    y = F.max_pool2d(x, k, s, p)
    dy = torch.randn(y.shape)
    y.backward(dy)
    t[f'mp.{name}.x'], t[f'mp.{name}.dy'], t[f'mp.{name}.y'], t[f'mp.{name}.dx'] = x, dy, y, x.grad
    meta[f'mp.{name}.window'] = f'{k} {s} {p}'
    # The same gradient summed in reverse window order: how many elements would differ.
    _, idx = F.max_pool2d(x.detach(), k, s, p, return_indices=True)
    planes = x.shape[0] * x.shape[1]
    rev = torch.zeros(planes, x.shape[2] * x.shape[3])
    flat_idx, flat_dy = idx.reshape(planes, -1), dy.reshape(planes, -1)
    for c in range(planes):
        for j in reversed(range(flat_idx.shape[1])):
            rev[c, flat_idx[c, j]] += flat_dy[c, j]
    meta[f'mp.{name}.reversed_sum_differs'] = int((rev.reshape(x.shape) != x.grad).sum())


x = ties(2, 3, 9, 11)
x[0, 1] = 0.5                      # all equal: every window picks its first tap
x[1, 2] = -1 - torch.rand(9, 11)   # all negative, padding must never win
x[1, 0, :, 0] = -3                 # negative border column
max_pool_case('ties', x, 3, 2, 1)
max_pool_case('even', ties(2, 2, 8, 8), 3, 2, 1)
max_pool_case('neg', -torch.rand(1, 2, 7, 7) - 0.5, 3, 2, 1)
max_pool_case('k2', ties(1, 2, 7, 6), 2, 2, 0)
max_pool_case('k3s1', ties(1, 2, 6, 7), 3, 1, 1)   # up to 9 windows share an element
nan, inf = float('nan'), float('inf')
x = ties(1, 3, 5, 6)
x[0, 0, 0, 1], x[0, 0, 1, 0], x[0, 0, 3, 3] = nan, nan, nan   # the last NaN in a window wins
x[0, 0, 2, 4] = inf
x[0, 1] = -inf                                                # all -inf: the first tap
x[0, 1, 3, 2] = -0.0
x[0, 2] = 0.0
x[0, 2, ::2, ::3] = -0.0                                      # -0 == +0: the first one wins
max_pool_case('special', x, 3, 2, 1)

# ------------------------------------------------------------------ global average pool backward

for name, shape in [('a', (3, 5, 7, 7)), ('b', (2, 3, 3, 5)), ('c', (2, 2, 1, 1))]:
    x = torch.randn(shape, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1)
    dy = torch.randn(shape[:2]) * 10 ** torch.empty(shape[:2]).uniform_(-3, 3)
    y.backward(dy[..., None, None])
    hw = shape[2] * shape[3]
    t[f'gap.{name}.dy'], t[f'gap.{name}.dx'] = dy, x.grad
    recip = dy * torch.tensor(1 / hw, dtype=torch.float32)
    meta[f'gap.{name}.recip_differs'] = int((recip != dy / hw).sum())
    assert torch.equal(x.grad, (dy / hw)[..., None, None].expand(shape))

# ------------------------------------------------------------------ matmul with transposed operands

def op(m, trans):
    return m.transpose(-1, -2) if trans else m


def mm_case(name, a, b, trans_a=False, trans_b=False, bias=None, c0=None):
    out = torch.matmul(op(a, trans_a), op(b, trans_b))
    out64 = torch.matmul(op(a.double(), trans_a), op(b.double(), trans_b))
    if bias is not None:
        out, out64 = out + bias, out64 + bias.double()
        t[f'mm.{name}.bias'] = bias
    if c0 is not None:
        out, out64 = c0 + out, c0.double() + out64
        t[f'mm.{name}.c0'] = c0
    t[f'mm.{name}.a'], t[f'mm.{name}.b'], t[f'mm.{name}.out'] = a, b, out
    meta[f'mm.{name}.op'] = ('A^T' if trans_a else 'A') + ' @ ' + ('B^T' if trans_b else 'B')
    meta[f'mm.{name}.torch_err'] = f'{rel_err(out, out64):.3e}'


x, w, dy = torch.randn(5, 2048), torch.randn(1, 2048) * 0.02, torch.randn(5, 1)
mm_case('fc', x, w, trans_b=True, bias=torch.randn(1))     # F.linear(x, w, bias): 5x2048 . 2048x1
mm_case('fc_dx', dy, w)                                    # dY @ W: 5x1 . 1x2048
mm_case('fc_dw', dy, x, trans_a=True)                      # dY^T @ X: 1x5 . 5x2048
mm_case('tA', torch.randn(7, 3), torch.randn(7, 5), trans_a=True)
mm_case('tB', torch.randn(3, 7), torch.randn(5, 7), trans_b=True)
mm_case('tAB', torch.randn(7, 3), torch.randn(5, 7), trans_a=True, trans_b=True)
mm_case('tA_batched', torch.randn(2, 6, 4), torch.randn(2, 6, 5), trans_a=True)
mm_case('tB_shared', torch.randn(3, 4, 9), torch.randn(6, 9), trans_b=True)
mm_case('acc', torch.randn(8, 12), torch.randn(12, 16), c0=torch.randn(8, 16))             # vec4 kernel
mm_case('acc_tB', torch.randn(5, 7), torch.randn(3, 7), trans_b=True, c0=torch.randn(5, 3))

for name, shape in [('fc', (64, 1)), ('wide', (5, 2048)), ('odd', (37, 9))]:
    x = torch.randn(shape)
    t[f'sr.{name}.x'], t[f'sr.{name}.out'], t[f'sr.{name}.abs'] = x, x.sum(0), x.abs().sum(0)
    meta[f'sr.{name}.torch_err'] = f'{rel_err(x.sum(0), x.double().sum(0)):.3e}'

# ------------------------------------------------------------------ BCEWithLogitsLoss

z = torch.randn(64, 1) * 3
y = (torch.rand(64, 1) > 0.5).float()
z[:8, 0] = torch.tensor([100.0, -100.0, 100.0, -100.0, 30.0, -30.0, 0.0, 1e-7])
y[:4, 0] = torch.tensor([1.0, 0.0, 0.0, 1.0])   # saturated: right (loss 0) and wrong (loss 100)
for name, zs, ys in [('batch', z, y), ('vec', torch.randn(5) * 4, torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]))]:
    zs = zs.clone().requires_grad_()
    loss = F.binary_cross_entropy_with_logits(zs, ys)
    loss.backward()
    t[f'bce.{name}.z'], t[f'bce.{name}.y'], t[f'bce.{name}.loss'], t[f'bce.{name}.grad'] = zs, ys, loss, zs.grad
    z64 = zs.detach().double()
    t[f'bce.{name}.loss64'] = (z64.clamp(min=0) - z64 * ys.double() + torch.log1p(torch.exp(-z64.abs()))).mean()

# ------------------------------------------------------------------ Adam

STEPS = 10
shapes = [(37,), (4, 5, 3, 3), (1,), (2, 64)]
p0 = [torch.randn(s) for s in shapes]
grads = []
for step in range(STEPS):
    g = [torch.randn(s) * 1e-2 for s in shapes]
    g[0][torch.rand(shapes[0]) < 0.2] = 0.0                    # some zero gradients
    g[1] = torch.randn(shapes[1]) * 1e-12                      # tiny gradients
    g[2] = torch.tensor([1.0 if step % 2 else -1.0])           # large, alternating sign
    g[3] = torch.randn(shapes[3]) * 10 ** torch.empty(shapes[3]).uniform_(-6, 1)
    if 3 <= step <= 5:
        g[3].zero_()                                           # moments decay without input
    grads.append(g)
flat = lambda ts: torch.cat([x.reshape(-1) for x in ts])
t['adam.p0'] = flat(p0)
t['adam.grads'] = torch.stack([flat(g) for g in grads])
meta['adam.shapes'] = json.dumps(shapes)


def f32(x):
    return x.to(torch.float32)


def unfused_step(p, g, m, v, step, lr, b1, b2, eps, wd):
    """Adam with every product rounded before its add (what an unfused kernel computes)."""
    d = torch.float64
    if wd:
        g = f32(g.to(d) + f32(p.to(d) * torch.tensor(wd, dtype=torch.float32).to(d)).to(d))
    c1, c2 = torch.tensor(1 - b1, dtype=torch.float32).to(d), torch.tensor(1 - b2, dtype=torch.float32).to(d)
    m = f32(f32(m * b1).to(d) + f32(g.to(d) * c1).to(d))
    v = f32(f32(v * b2).to(d) + f32(f32(c2 * g.to(d)).to(d) * g.to(d)).to(d))
    denom = (v.sqrt() / (1 - b2 ** step) ** 0.5).add_(eps)
    return p.addcdiv(m, denom, value=-lr / (1 - b1 ** step)), m, v


runs = {
    'adam0': {'lr': 1e-3, 'betas': (0.9, 0.999), 'eps': 1e-8, 'weight_decay': 0.0},
    'adam1': {'lr': 1e-4, 'betas': (0.8, 0.99), 'eps': 1e-6, 'weight_decay': 0.01},
}
for name, cfg in runs.items():
    params = [x.clone().requires_grad_() for x in p0]
    opt = torch.optim.Adam(params, **cfg)   # foreach defaults to False: _single_tensor_adam
    hist = {'param': [], 'm': [], 'v': []}
    differs = 0
    for step, g in enumerate(grads, start=1):
        before = [(x.detach().clone(), opt.state[x]['exp_avg'].clone() if step > 1 else torch.zeros_like(x),
                   opt.state[x]['exp_avg_sq'].clone() if step > 1 else torch.zeros_like(x)) for x in params]
        for x, gi in zip(params, g):
            x.grad = gi.clone()
        opt.step()
        hist['param'].append(flat([x.detach() for x in params]))
        hist['m'].append(flat([opt.state[x]['exp_avg'] for x in params]))
        hist['v'].append(flat([opt.state[x]['exp_avg_sq'] for x in params]))
        b1, b2 = cfg['betas']
        alt = [unfused_step(p, gi, m, v, step, cfg['lr'], b1, b2, cfg['eps'], cfg['weight_decay'])
               for (p, m, v), gi in zip(before, g)]
        for i, k in enumerate(['param', 'm', 'v']):
            differs += int((flat([a[i] for a in alt]) != hist[k][-1]).sum())
    for k, v in hist.items():
        t[f'{name}.{k}'] = torch.stack(v)
    meta[f'{name}.config'] = json.dumps(cfg)
    meta[f'{name}.unfused_differs'] = differs

save('train_ops', t, meta)
for k in sorted(meta):
    if k.endswith(('err', 'differs')):
        print(f'{k}: {meta[k]}')
