/**
 * The small training ops against PyTorch 1.13 on the CPU (tools/golden/train_ops.py):
 * - max pool backward: `y = F.max_pool2d(x, k, s, p); y.backward(dy); x.grad` on inputs with ties,
 *   all-negative planes, NaN, +-inf and signed zeros. Exact (bit for bit, forward and backward): the
 *   forward selects, and the backward sums at most 4 (k 3, stride 2) or 9 (k 3, stride 1) dy values
 *   in PyTorch's order; the golden records that a reversed order changes some of them.
 * - global average pool backward: `F.adaptive_avg_pool2d(x, 1).backward(dy)` = dy / (h*w), exact
 *   (one correctly rounded division; dy * (1 / (h*w)) would differ in 4 and 5 elements).
 * - matmul with transposed operands, bias and accumulation, vs `torch.matmul(op(a), op(b)) [+ bias]
 *   [+ c0]`: the sums run in another order than PyTorch's BLAS, so they agree to rounding. Measured
 *   max |got - torch| / max(1, max |torch|), equal on both adapters: 2.8e-7 for K = 2048 (PyTorch's
 *   own float32 error vs float64 there: 3.4e-7), at most 1.4e-7 for K <= 12 (PyTorch's: 1.3e-7);
 *   tolerances 1e-6 (K = 2048) and 4e-7.
 * - sumRows vs `x.sum(0)`: both round sums of M values in different orders; the error scale is the
 *   column's sum of |x|. Measured max |got - torch| / sum |x|: 4.2e-8 (64 rows, where the sum
 *   cancels to -1.19 from |x| summing to 51), 5.9e-8 (37 rows), 0 (5 rows), on both adapters;
 *   tolerance 1e-6.
 * - BCEWithLogitsLoss (mean) and its gradient vs `F.binary_cross_entropy_with_logits(z, y)` and
 *   autograd, logits up to |z| = 100 and a batch of 64: exp and log are the adapters' own and the
 *   mean sums in another order. Measured on both adapters: loss 9.6e-8 relative (PyTorch's own
 *   error vs float64 is the same 9.6e-8), gradient 1.9e-9 absolute (one ulp of its scale 1/64);
 *   tolerances 1e-6 relative and 1e-8 absolute.
 * - Adam: 10 steps of `torch.optim.Adam` (lr 1e-3, defaults; lr 1e-4, betas (0.8, 0.99), eps 1e-6,
 *   weight_decay 0.01) on four tensors in one arena with padding, gradients fixed per step (zeros,
 *   1e-12, alternating +-1, magnitudes 1e-6..10). Exact after every step for param, exp_avg and
 *   exp_avg_sq: PyTorch's order and roundings are reproduced (its fused multiply-adds included;
 *   the golden records that unfused products change 807 and 892 of those values), the padding
 *   stays unchanged.
 */
import { describe, expect, it } from 'vitest';
import { adamStep } from '../../src/kernels/adam.js';
import { bceWithLogits } from '../../src/kernels/loss.js';
import { matmul, matmulPlan, sumRows } from '../../src/kernels/matmul.js';
import { globalAvgPoolBackward, maxPool2d, maxPool2dBackward } from '../../src/kernels/pool.js';
import { Tensor, VIEW_ALIGN } from '../../src/tensor.js';
import { diff, expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('train_ops');

/** Equal bit for bit (any NaN equals any NaN; +0 and -0 differ). */
function expectExact(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < want.length; i++) {
    if (g[i] !== w[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      throw new Error(`${what}: element ${i} is ${got[i]}, PyTorch's is ${want[i]}`);
    }
  }
}

describe('max pool backward', () => {
  it.each(['ties', 'even', 'neg', 'k2', 'k3s1', 'special'])('%s: forward and backward equal PyTorch bit for bit', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const [k, stride, pad] = g.metadata[`mp.${name}.window`].split(' ').map(Number);
    const x = g.tensor(gpu, `mp.${name}.x`);
    const dy = g.tensor(gpu, `mp.${name}.dy`);
    const y = maxPool2d(x, { k, stride, pad });
    const dx = maxPool2dBackward(dy, x, { k, stride, pad });
    expect(dx.shape).toEqual(x.shape);
    expectExact(await y.read(), g.get(`mp.${name}.y`), `${name} forward`);
    expectExact(await dx.read(), g.get(`mp.${name}.dx`), `${name} dx`);
    [x, dy, y, dx].forEach((t) => t.dispose());
  });

  it('the goldens see the summation order', async () => {
    const g = await golden;
    expect(Number(g.metadata['mp.k3s1.reversed_sum_differs'])).toBeGreaterThan(0);
  });

  it('refuses a dy that is not the pooled shape', async () => {
    const gpu = await testGpu();
    const x = Tensor.from(gpu, new Float32Array(2 * 8 * 8), [1, 2, 8, 8]);
    const dy = Tensor.from(gpu, new Float32Array(2 * 5 * 5), [1, 2, 5, 5]);
    expect(() => maxPool2dBackward(dy, x)).toThrow(/maxPool2dBackward: dy \[1,2,5,5\] is not the pooled shape \[1,2,4,4\] of x \[1,2,8,8\]/);
    expect(() => maxPool2dBackward(dy, x, { k: 2, pad: 2 })).toThrow(/maxPool2dBackward: unsupported window/);
    [x, dy].forEach((t) => t.dispose());
  });
});

describe('global average pool backward', () => {
  it.each([
    ['a', 7, 7],
    ['b', 3, 5],
    ['c', 1, 1],
  ])('%s: dy / (h*w) over %dx%d planes, bit for bit', async (name, h, w) => {
    const gpu = await testGpu();
    const g = await golden;
    const dy = g.tensor(gpu, `gap.${name}.dy`);
    const dx = globalAvgPoolBackward(dy, h, w);
    expect(dx.shape).toEqual([...dy.shape, h, w]);
    expectExact(await dx.read(), g.get(`gap.${name}.dx`), `gap.${name}`);
    [dy, dx].forEach((t) => t.dispose());
  });

  it('the goldens tell a division from a multiplication by the reciprocal', async () => {
    const g = await golden;
    expect(Number(g.metadata['gap.a.recip_differs']) + Number(g.metadata['gap.b.recip_differs'])).toBeGreaterThan(0);
  });

  it('takes dy [N, C, 1, 1] and refuses other shapes', async () => {
    const gpu = await testGpu();
    const dy = Tensor.from(gpu, new Float32Array([1, 2, 3, 4]), [2, 2, 1, 1]);
    const dx = globalAvgPoolBackward(dy, 2, 1);
    expect(Array.from(await dx.read())).toEqual([0.5, 0.5, 1, 1, 1.5, 1.5, 2, 2]);
    const bad = Tensor.from(gpu, new Float32Array(4), [1, 1, 2, 2]);
    expect(() => globalAvgPoolBackward(bad, 3, 3)).toThrow(/globalAvgPoolBackward needs dy \[N, C\] or \[N, C, 1, 1\], got \[1,1,2,2\]/);
    expect(() => globalAvgPoolBackward(dy, 0, 3)).toThrow(/bad plane size 0x3/);
    [dy, dx, bad].forEach((t) => t.dispose());
  });
});

describe('matmul with transposed operands', () => {
  it.each([
    ['fc', { transB: true }, 1e-6],
    ['fc_dx', {}, 4e-7],
    ['fc_dw', { transA: true }, 4e-7],
    ['tA', { transA: true }, 4e-7],
    ['tB', { transB: true }, 4e-7],
    ['tAB', { transA: true, transB: true }, 4e-7],
    ['tA_batched', { transA: true }, 4e-7],
    ['tB_shared', { transB: true }, 4e-7],
    ['acc', { accumulate: true }, 4e-7],
    ['acc_tB', { transB: true, accumulate: true }, 4e-7],
  ] as const)('%s', async (name, trans, tol) => {
    const gpu = await testGpu();
    const g = await golden;
    const a = g.tensor(gpu, `mm.${name}.a`);
    const b = g.tensor(gpu, `mm.${name}.b`);
    const bias = g.has(`mm.${name}.bias`) ? g.tensor(gpu, `mm.${name}.bias`) : undefined;
    const out = g.has(`mm.${name}.c0`) ? g.tensor(gpu, `mm.${name}.c0`) : undefined;
    const c = matmul(a, b, { ...trans, bias, out });
    expect(c.shape).toEqual(g.shape(`mm.${name}.out`));
    expectClose(await c.read(), g.get(`mm.${name}.out`), tol, name);
    [a, b, bias, c].forEach((t) => t?.dispose());
  });

  it('transposes run the strided kernel, the plain case keeps the vec4 one', () => {
    expect(matmulPlan(8, 16, 12).shader).toBe('matmul');
    expect(matmulPlan(8, 16, 12, true).shader).toBe('matmul_any');
  });

  it('refuses mismatched transposed shapes, accumulation without an output, and aliasing', async () => {
    const gpu = await testGpu();
    const a = Tensor.from(gpu, new Float32Array(12), [3, 4]);
    const b = Tensor.from(gpu, new Float32Array(20), [5, 4]);
    expect(() => matmul(a, b)).toThrow(/matmul inner dimensions differ: \[3,4\] @ \[5,4\]/);
    expect(() => matmul(a, b, { transA: true, transB: true })).toThrow(/inner dimensions differ: \[3,4\]\^T @ \[5,4\]\^T/);
    expect(() => matmul(a, b, { transB: true, accumulate: true })).toThrow(/accumulate needs an out tensor/);
    const sq = Tensor.from(gpu, new Float32Array(16), [4, 4]);
    expect(() => matmul(sq, sq, { transA: true, out: sq })).toThrow(/must not share a buffer/);
    [a, b, sq].forEach((t) => t.dispose());
  });
});

describe('sumRows', () => {
  it.each(['fc', 'wide', 'odd'])('%s: x.sum(0)', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, `sr.${name}.x`);
    const out = sumRows(x);
    expect(out.shape).toEqual(g.shape(`sr.${name}.out`));
    const got = await out.read();
    const want = g.get(`sr.${name}.out`);
    const scale = g.get(`sr.${name}.abs`);
    want.forEach((w, n) => expect(Math.abs(got[n] - w), `${name} column ${n}: ${got[n]} vs ${w}`).toBeLessThanOrEqual(1e-6 * scale[n]));
    [x, out].forEach((t) => t.dispose());
  });

  it('writes into a given output, which must hold N values', async () => {
    const gpu = await testGpu();
    const x = Tensor.from(gpu, new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]);
    const out = Tensor.from(gpu, new Float32Array([7, 7]), [2]);
    expect(sumRows(x, out)).toBe(out);
    expect(Array.from(await out.read())).toEqual([9, 12]);
    const small = Tensor.from(gpu, new Float32Array(3), [3]);
    expect(() => sumRows(x, small)).toThrow(/sumRows: output \[3\] does not hold the 2 column sums of \[3,2\]/);
    [x, out, small].forEach((t) => t.dispose());
  });
});

describe('BCEWithLogitsLoss', () => {
  it.each(['batch', 'vec'])('%s: mean loss and gradient', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const z = g.tensor(gpu, `bce.${name}.z`);
    const y = g.tensor(gpu, `bce.${name}.y`);
    const { loss, grad } = bceWithLogits(z, y);
    expect(loss.shape).toEqual([]);
    expect(grad.shape).toEqual(z.shape);
    const [got] = await loss.read();
    const want = g.get(`bce.${name}.loss`)[0];
    expect(Math.abs(got - want), `loss ${got} vs ${want}`).toBeLessThanOrEqual(1e-6 * Math.abs(want));
    expect(diff(await grad.read(), g.get(`bce.${name}.grad`)).maxAbs).toBeLessThanOrEqual(1e-8);
    [z, y, loss, grad].forEach((t) => t.dispose());
  });

  it('refuses targets of another shape', async () => {
    const gpu = await testGpu();
    const z = Tensor.from(gpu, new Float32Array(4), [4, 1]);
    const y = Tensor.from(gpu, new Float32Array(4), [4]);
    expect(() => bceWithLogits(z, y)).toThrow(/bceWithLogits: targets \[4\] do not match logits \[4,1\]/);
    [z, y].forEach((t) => t.dispose());
  });
});

describe('Adam over a flat arena', () => {
  /** Where each parameter tensor starts in the arena: VIEW_ALIGN-aligned, with padding between. */
  function layout(shapes: number[][]): { offsets: number[]; total: number } {
    const align = VIEW_ALIGN / 4;
    const offsets: number[] = [];
    let at = 0;
    for (const s of shapes) {
      offsets.push(at);
      at = Math.ceil((at + s.reduce((a, b) => a * b, 1) + 1) / align) * align;
    }
    return { offsets, total: at };
  }

  it.each(['adam0', 'adam1'])('%s: 10 steps equal torch.optim.Adam bit for bit; padding stays', async (run) => {
    const gpu = await testGpu();
    const g = await golden;
    const shapes: number[][] = JSON.parse(g.metadata['adam.shapes']);
    const cfg = JSON.parse(g.metadata[`${run}.config`]);
    const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const P = sizes.reduce((a, b) => a + b, 0);
    const { offsets, total } = layout(shapes);
    // Padding: zero grads and moments; the parameter padding is zero too where weight decay
    // would otherwise move it, a marker value without weight decay.
    const pad = cfg.weight_decay ? 0 : 7;
    const toArena = (flat: Float32Array, fill: number) => {
      const a = new Float32Array(total).fill(fill);
      let src = 0;
      sizes.forEach((n, i) => {
        a.set(flat.subarray(src, src + n), offsets[i]);
        src += n;
      });
      return a;
    };
    const fromArena = (a: Float32Array) => {
      const flat = new Float32Array(P);
      let dst = 0;
      sizes.forEach((n, i) => {
        flat.set(a.subarray(offsets[i], offsets[i] + n), dst);
        dst += n;
      });
      return flat;
    };
    // Four buffers, the arena a view at a non-zero offset of each.
    const lead = VIEW_ALIGN / 4;
    const owners = ['param', 'grad', 'm', 'v'].map((k) => Tensor.from(gpu, new Float32Array(lead + total).fill(k === 'param' ? pad : 0), [lead + total], k));
    gpu.write(owners[0].buffer, VIEW_ALIGN, toArena(g.get('adam.p0'), pad));
    const [param, grad, m, v] = owners.map((o) => Tensor.view(gpu, o.buffer, VIEW_ALIGN, [total], `arena.${o.label}`));
    const grads = g.get('adam.grads');
    const want = { param: g.get(`${run}.param`), m: g.get(`${run}.m`), v: g.get(`${run}.v`) };
    for (let step = 1; step <= 10; step++) {
      gpu.write(grad.buffer, VIEW_ALIGN, toArena(grads.subarray((step - 1) * P, step * P), 0));
      adamStep(param, grad, m, v, { step, lr: cfg.lr, beta1: cfg.betas[0], beta2: cfg.betas[1], eps: cfg.eps, weightDecay: cfg.weight_decay });
      for (const [name, t] of [['param', param], ['m', m], ['v', v]] as const) {
        const arena = await t.read();
        expectExact(fromArena(arena), want[name].subarray((step - 1) * P, step * P), `${run} step ${step} ${name}`);
        const padding = arena.filter((_, i) => !offsets.some((o, j) => i >= o && i < o + sizes[j]));
        expect(padding.every((x) => x === (name === 'param' ? pad : 0)), `${run} step ${step} ${name} padding`).toBe(true);
      }
    }
    const lead0 = await owners[0].read();
    expect(lead0.subarray(0, lead).every((x) => x === pad), 'the buffer outside the view').toBe(true);
    [param, grad, m, v, ...owners].forEach((t) => t.dispose());
  });

  it('the goldens see the fused roundings', async () => {
    const g = await golden;
    expect(Number(g.metadata['adam0.unfused_differs'])).toBeGreaterThan(0);
    expect(Number(g.metadata['adam1.unfused_differs'])).toBeGreaterThan(0);
  });

  it('refuses shared buffers, unequal sizes and a step below 1', async () => {
    const gpu = await testGpu();
    const [p, gr, m, v] = [0, 1, 2, 3].map(() => Tensor.from(gpu, new Float32Array(8), [8]));
    const short = Tensor.from(gpu, new Float32Array(4), [4]);
    expect(() => adamStep(p, gr, m, m, { step: 1, lr: 1e-3 })).toThrow(/adamStep: param, grad, m and v must live in four separate buffers/);
    expect(() => adamStep(p, short, m, v, { step: 1, lr: 1e-3 })).toThrow(/adamStep: sizes differ: param \[8\], grad \[4\]/);
    expect(() => adamStep(p, gr, m, v, { step: 0, lr: 1e-3 })).toThrow(/adamStep: step 0 is not a positive integer/);
    [p, gr, m, v, short].forEach((t) => t.dispose());
  });
});
