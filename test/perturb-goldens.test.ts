/**
 * Every perturbation against the reference tools (tools/golden/perturb_goldens.py: PIL 9.4 on
 * libjpeg-turbo 2.1.5, scipy 1.10, torchvision 0.14) on sources of odd sizes (37x29, 64x48, 9x5,
 * 2x3, 1x1: partial JPEG blocks and MCUs, images smaller than a blur kernel or a crop), and the
 * JPEG quality estimate against files PIL wrote.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeImageFile } from '../src/image/decode-node.js';
import { jpegQuality } from '../src/image/jpeg-header.js';
import { gaussianKernel } from '../src/image/perturb-blur.js';
import { parseSpec } from '../src/image/perturb-spec.js';
import { perturbImage } from '../src/image/perturb.js';

const dir = fileURLToPath(new URL('fixtures/perturb/', import.meta.url));
const expected: {
  ops: Record<string, { source: string; op: string; kernel?: number[] }>;
  jpegs: Record<string, { quality: number; exact: boolean }>;
} = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8'));

/** Number of bytes that differ, and the largest difference. */
function diff(a: Uint8Array, b: Uint8Array): { count: number; max: number } {
  let count = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) count++;
    max = Math.max(max, d);
  }
  return { count, max };
}

describe('perturbations against PIL / scipy / torchvision', () => {
  for (const [file, { source, op }] of Object.entries(expected.ops)) {
    it(`${op} on ${source}`, async () => {
      const src = await decodeImageFile(`${dir}${source}`);
      const want = await decodeImageFile(`${dir}${file}`);
      const got = perturbImage(src, parseSpec(op));
      expect([got.width, got.height]).toEqual([want.width, want.height]);
      // Exact: every op is the reference's own integer (or float64, in its order) arithmetic.
      expect(diff(got.data, want.data)).toEqual({ count: 0, max: 0 });
    });
  }

  it('the blur kernels equal scipy\'s _gaussian_kernel1d to the last bit (V8\'s Math.exp and numpy\'s exp agree on all 94 weights)', () => {
    for (const { op, kernel } of Object.values(expected.ops)) {
      if (!kernel) continue;
      expect([...gaussianKernel(Number(op.split(':')[1]))]).toEqual(kernel);
    }
  });
});

describe('JPEG quality from the quantisation tables', () => {
  for (const [file, want] of Object.entries(expected.jpegs)) {
    it(`${file}: quality ${want.quality}${want.exact ? '' : ' (approximately)'}`, () => {
      const q = jpegQuality(new Uint8Array(readFileSync(`${dir}${file}`)));
      expect(q?.exact).toBe(want.exact);
      if (want.exact) expect(q?.quality).toBe(want.quality);
      else expect(Math.abs(q!.quality - want.quality)).toBeLessThanOrEqual(3);
    });
  }
});
