/**
 * Properties of the perturbations on random small images (1..40 px a side, any content): each
 * step gives the size it promises (jpeg and blur keep it, resize scales it, crop makes N x N),
 * the same bytes on a second run, and no exception for any image the decoders can give.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { perturbImage } from '../src/image/perturb.js';
import { scaledSize } from '../src/image/perturb-resize.js';
import type { PerturbStep } from '../src/image/perturb-spec.js';
import type { RgbImage } from '../src/image/pixels.js';

const image: fc.Arbitrary<RgbImage> = fc.record({ width: fc.integer({ min: 1, max: 40 }), height: fc.integer({ min: 1, max: 40 }), seed: fc.integer() })
  .map(({ width, height, seed }) => {
    const data = new Uint8Array(width * height * 3);
    let s = seed >>> 0;
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = s >>> 24;
    }
    return { width, height, data };
  });

const step: fc.Arbitrary<PerturbStep> = fc.oneof(
  fc.integer({ min: 1, max: 100 }).map((quality) => ({ kind: 'jpeg' as const, quality })),
  fc.double({ min: 0.05, max: 6, noNaN: true }).map((sigma) => ({ kind: 'blur' as const, sigma })),
  fc.double({ min: 0.05, max: 3, noNaN: true }).map((factor) => ({ kind: 'resize' as const, factor })),
  fc.integer({ min: 1, max: 50 }).map((size) => ({ kind: 'crop' as const, size })),
);

function expectedSize(img: RgbImage, s: PerturbStep): [number, number] {
  if (s.kind === 'resize') return scaledSize(img.width, img.height, s.factor);
  if (s.kind === 'crop') return [s.size, s.size];
  return [img.width, img.height];
}

describe('perturbation properties', () => {
  it('sizes as promised, deterministic, the input left untouched', () => {
    fc.assert(fc.property(image, step, (img, s) => {
      const before = img.data.slice();
      const out = perturbImage(img, [s]);
      expect([out.width, out.height]).toEqual(expectedSize(img, s));
      expect(out.data.length).toBe(out.width * out.height * 3);
      expect(perturbImage(img, [s]).data).toEqual(out.data);
      expect(img.data).toEqual(before);
    }), { numRuns: 300 });
  });

  it('a flat image stays flat under blur, resize and crop inside it (weights sum to one)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 2, max: 30 }), fc.integer({ min: 2, max: 30 }), step, (v, w, h, s) => {
      if (s.kind === 'jpeg' || (s.kind === 'crop' && (s.size > w || s.size > h))) return;
      const out = perturbImage({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) }, [s]);
      // The blur truncates each of its two passes to uint8, as scipy does, and its weights sum to
      // just under 1 in float64: a level can go in each pass (scipy turns a flat 2 into 0 at
      // sigma 0.2464, and so does this code).
      for (const x of out.data) expect(Math.abs(x - v)).toBeLessThanOrEqual(s.kind === 'blur' ? 2 : 0);
    }), { numRuns: 300 });
  });
});

describe('memory limits under perturbations', () => {
  it('resize:F > 1 counts F^2 times the pixels; other steps and shrinking count them once', async () => {
    const { perturbedLimits } = await import('../src/cli/perturb-options.js');
    const limits = { cost: async (n: number) => n, memoryBudget: 10 };
    expect(await perturbedLimits(limits, [{ kind: 'resize', factor: 2 }, { kind: 'jpeg', quality: 75 }]).cost(100)).toBe(400);
    expect(await perturbedLimits(limits, [{ kind: 'resize', factor: 0.5 }, { kind: 'blur', sigma: 1 }]).cost(100)).toBe(100);
    expect(perturbedLimits(limits, []).memoryBudget).toBe(10);
  });
});
