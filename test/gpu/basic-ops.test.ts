/**
 * Elementwise ops, matmul and reductions against PyTorch (tools/golden/basic_ops.py).
 * Tolerances: elementwise ops are single roundings apart from torch's (exp differs by a few ulp):
 * 1e-6 of the output scale. Matmul sums K products in another order than torch's BLAS: the error
 * grows like sqrt(K) ulp; 1e-5 of the output scale covers K <= 100 with margin. Reductions: the
 * sum of 20011 values in [-0.5, 1.5) is compared with the float64 sum (1e-5 relative); min and max
 * are exact.
 */
import { describe, expect, it } from 'vitest';
import { add, mul } from '../../src/kernels/elementwise.js';
import { matmul, matmulPlan } from '../../src/kernels/matmul.js';
import { reduceAll, reduceLast } from '../../src/kernels/reduce.js';
import { expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('basic_ops');

describe('elementwise', () => {
  it.each([
    ['add', 'ew.y', 'ew.add'],
    ['add', 'ew.ch', 'ew.add_ch'],
    ['mul', 'ew.s', 'ew.mul_s'],
    ['mul', 'ew.y', 'ew.mul'],
  ] as const)('%s x with %s', async (op, other, expected) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, 'ew.x');
    const y = g.tensor(gpu, other);
    const out = (op === 'add' ? add : mul)(x, y);
    expect(out.shape).toEqual(g.shape(expected));
    expectClose(await out.read(), g.get(expected), 1e-6, expected);
    [x, y, out].forEach((t) => t.dispose());
  });

  it('refuses shapes that do not broadcast and outputs that alias inputs', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, 'ew.x');
    const bad = g.tensor(gpu, 'mm.cube.a');
    expect(() => add(x, bad)).toThrow(/cannot broadcast/);
    expect(() => add(x, x, x)).toThrow(/alias/);
    x.dispose();
    bad.dispose();
  });
});

describe('matmul', () => {
  it.each(['mm.cube', 'mm.odd', 'mm.vec_tail', 'mm.batched', 'mm.bcast_b', 'mm.tall'])('%s', async (name) => {
    const gpu = await testGpu();
    const g = await golden;
    const a = g.tensor(gpu, `${name}.a`);
    const b = g.tensor(gpu, `${name}.b`);
    const out = matmul(a, b);
    expect(out.shape).toEqual(g.shape(`${name}.out`));
    expectClose(await out.read(), g.get(`${name}.out`), 1e-5, name);
    [a, b, out].forEach((t) => t.dispose());
  });

  it('covers both kernel variants', () => {
    expect(matmulPlan(67, 130, 93).shader).toBe('matmul_any');
    expect(matmulPlan(37, 140, 52).shader).toBe('matmul');
  });

  it.each([['mm.bias_swish', 'swish']] as const)('%s fuses bias and activation', async (name, act) => {
    const gpu = await testGpu();
    const g = await golden;
    const a = g.tensor(gpu, `${name}.a`);
    const b = g.tensor(gpu, `${name}.b`);
    const bias = g.tensor(gpu, `${name}.bias`);
    const out = matmul(a, b, { bias, act });
    expectClose(await out.read(), g.get(`${name}.out`), 1e-5, name);
    [a, b, bias, out].forEach((t) => t.dispose());
  });

  it('rejects mismatched inner dimensions', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const a = g.tensor(gpu, 'mm.odd.a');
    expect(() => matmul(a, a)).toThrow(/inner dimensions/);
    a.dispose();
  });
});

describe('reductions', () => {
  it.each(['sum', 'max', 'min'] as const)('%s over the last axis', async (op) => {
    const gpu = await testGpu();
    const g = await golden;
    for (const name of ['red.rows', 'red.small']) {
      if (!g.has(`${name}.${op}`)) continue;
      const x = g.tensor(gpu, name);
      const out = reduceLast(x, op);
      expect(out.shape).toEqual(g.shape(`${name}.${op}`));
      expectClose(await out.read(), g.get(`${name}.${op}`), op === 'sum' ? 1e-5 : 0, `${name}.${op}`);
      x.dispose();
      out.dispose();
    }
  });

  it.each(['sum', 'max', 'min'] as const)('%s over all elements (chunked)', async (op) => {
    const gpu = await testGpu();
    const g = await golden;
    const x = g.tensor(gpu, 'red.all');
    const out = reduceAll(x, op);
    expect(out.shape).toEqual([]);
    const want = g.get(`red.all.${op}`);
    const got = await out.read();
    if (op === 'sum') expect(Math.abs(got[0] - want[0]) / Math.abs(want[0])).toBeLessThan(1e-5);
    else expect(got[0]).toBe(want[0]);
    x.dispose();
    out.dispose();
  });
});
