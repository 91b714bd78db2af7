/**
 * Image preprocessing and DNF quantisation against torchvision 0.14 / torch 1.13
 * (tools/golden/image_ops.py).
 *
 * Tolerances. Same-size images take no resampling and must be bit-exact (x / 255 is computed
 * correctly rounded on the GPU). Resized float outputs: our filter weights follow torch's
 * arithmetic (f32 positions and, with antialias, f32 weights) but torch's compiled code evidently
 * contracts some of it into FMAs, so single weights differ from torch's by up to ~5e-7; the sums
 * of up to ~170 taps (the 'big' case) of values in [0, 1], accumulated in f32, then stay within
 * 2e-6 of torch on the [-1, 1] scale (about 17 ulp of 1). Measured maxima, printed below, are
 * 2.4e-7 .. 1.1e-6 on both CPU adapters.
 * uint8 resizes round to integers: a value that torch computes within ~1e-4 of a .5 boundary may
 * round the other way, so at most 1 in 500 values may differ, and then by exactly 1/255.
 * Quantisation is exact.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ANTIALIAS, imagesToTensor, imagesToUnitTensor } from '../../src/pipeline/preprocess.js';
import type { RgbImage } from '../../src/image/pixels.js';
import { quantizeDnf } from '../../src/kernels/quantize.js';
import { cubicAaTaps, cubicTaps, resizeRgbInto, rowChunks } from '../../src/kernels/resize.js';
import { Tensor } from '../../src/tensor.js';
import { diff, expectClose, loadGolden, testGpu } from './helpers.js';

const golden = loadGolden('image_ops');

/** The generator's `pattern`: byte i = low byte of a 32-bit integer hash of i and the seed. */
function pattern(height: number, width: number, seed: number): RgbImage {
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < data.length; i++) {
    let x = (i + Math.imul(seed, 0x9e3779b9)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
    data[i] = (x ^ (x >>> 16)) & 255;
  }
  return { width, height, data };
}

const CASES: Record<string, [number, number, number, number]> = {
  up: [23, 37, 1, 32],
  down: [90, 120, 2, 32],
  down8: [200, 150, 3, 24],
  wide: [32, 50, 4, 32],
  tall: [50, 32, 5, 32],
  same: [32, 32, 6, 32],
  tiny: [2, 3, 7, 5],
  big: [750, 1000, 8, 24],
};

async function caseImage(name: string): Promise<{ img: RgbImage; size: number }> {
  const [h, w, seed, size] = CASES[name];
  const img = pattern(h, w, seed);
  const sum = img.data.reduce((a, b) => a + b, 0) % 1_000_003;
  expect(sum).toBe((await golden).get(`img.${name}.sum`)[0]); // both generators made the same image
  return { img, size };
}

const settings = Object.keys(CASES).flatMap((name) => [false, true].map((aa) => [name, aa] as const));

describe('imagesToTensor (torchvision tensor Resize, bicubic, then 2x - 1)', () => {
  it.each(settings)('%s antialias=%s', async (name, antialias) => {
    const gpu = await testGpu();
    const g = await golden;
    const { img, size } = await caseImage(name);
    const x = imagesToTensor(gpu, [img], { size, antialias });
    expect(x.shape).toEqual([1, 3, size, size]);
    const key = `f.${name}.aa${antialias ? 1 : 0}`;
    const got = await x.read();
    x.dispose();
    if (name === 'same') {
      // torch: 2 * ToTensor(img) - 1, no resampling: bit-exact
      expect(Buffer.from(got.buffer).equals(Buffer.from(g.get(key).buffer))).toBe(true);
    } else {
      const d = expectClose(got, g.get(key), 2e-6, key);
      console.log(`${key}: max |diff| ${d.maxAbs.toExponential(2)}`);
    }
  });

  it('batches images of different sizes; the default is antialias on (the reference on torchvision >= 0.17)', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const names = ['up', 'same', 'down', 'tall'];
    const imgs = await Promise.all(names.map(caseImage));
    expect(DEFAULT_ANTIALIAS).toBe(true);
    const x = imagesToTensor(gpu, imgs.map((c) => c.img), { size: 32 });
    const got = await x.read();
    x.dispose();
    const plane = 3 * 32 * 32;
    names.forEach((name, n) => expectClose(got.subarray(n * plane, (n + 1) * plane), g.get(`f.${name}.aa1`), 2e-6, name));
  });
});

describe('resizeRgbInto', () => {
  it('gives the same result when the source goes up in many slabs of rows', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const { img, size } = await caseImage('down');
    for (const antialias of [false, true]) {
      const out = Tensor.empty(gpu, [2, 3, size, size], 'slabs');
      const opts = { size, antialias, input: 'unit', output: 'signed' } as const;
      resizeRgbInto(gpu, img, out, 0, opts);
      resizeRgbInto(gpu, img, out, 1, { ...opts, slabBytes: 7 * img.width * 3 + 5 }); // 7 rows per slab: 13 slabs
      const got = await out.read();
      out.dispose();
      const plane = 3 * size * size;
      expect(Buffer.from(got.buffer, 0, plane * 4).equals(Buffer.from(got.buffer, plane * 4, plane * 4))).toBe(true);
      expectClose(got.subarray(0, plane), g.get(`f.down.aa${antialias ? 1 : 0}`), 2e-6, 'slabs');
    }
  });

  it('gives the same bits when the intermediate is made in runs of output rows', async () => {
    const gpu = await testGpu();
    for (const [name, rows] of [['down', 16], ['up', 6], ['big', 160]] as const) {
      const { img, size } = await caseImage(name);
      for (const antialias of [false, true]) {
        const out = Tensor.empty(gpu, [2, 3, size, size], 'runs');
        const opts = { size, antialias, input: 'unit', output: 'signed' } as const;
        resizeRgbInto(gpu, img, out, 0, opts);
        const runs = rowChunks((antialias ? cubicAaTaps : cubicTaps)(img.height, size), size, rows);
        expect(runs!.length, `${name} aa=${antialias}`).toBeGreaterThan(1);
        resizeRgbInto(gpu, img, out, 1, { ...opts, intermediateBytes: rows * 3 * size * 4 });
        const got = await out.read();
        out.dispose();
        const plane = 3 * size * size;
        expect(Buffer.from(got.buffer, 0, plane * 4).equals(Buffer.from(got.buffer, plane * 4, plane * 4)), `${name} aa=${antialias}`).toBe(true);
      }
    }
  });

  it('resizes a 2x60000 image (far taller than one intermediate) as the separable filter in float64 does', async () => {
    const gpu = await testGpu();
    const [w, h, size] = [2, 60000, 8];
    const data = new Uint8Array(w * h * 3).map((_, i) => (i * 37 + (i >> 7) * 11) & 255);
    const img = { width: w, height: h, data };
    for (const antialias of [false, true]) {
      const out = Tensor.empty(gpu, [1, 3, size, size], 'tall');
      resizeRgbInto(gpu, img, out, 0, { size, antialias, input: 'unit', output: 'signed', intermediateBytes: 32000 * 3 * size * 4 }); // two or more runs
      const got = await out.read();
      out.dispose();
      const taps = antialias ? cubicAaTaps : cubicTaps;
      const [tx, ty] = [taps(w, size), taps(h, size)];
      let worst = 0;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            let v = 0;
            for (let j = 0; j < ty.taps; j++) {
              const r = ty.index[y * ty.taps + j];
              let row = 0;
              for (let i = 0; i < tx.taps; i++) row += tx.weight[x * tx.taps + i] * (data[(r * w + tx.index[x * tx.taps + i]) * 3 + c] / 255);
              v += ty.weight[y * ty.taps + j] * row;
            }
            worst = Math.max(worst, Math.abs(got[(c * size + y) * size + x] - (2 * v - 1)));
          }
        }
      }
      console.log(`2x60000 aa=${antialias}: max |diff| vs float64 ${worst.toExponential(2)}`);
      // f32 sums against float64, same taps: measured 2.3e-7 with 4 taps and 1.3e-5 with the
      // ~30000 taps of the antialiased 7500:1 filter (the f32 accumulation's error grows with the taps)
      expect(worst, `aa=${antialias}`).toBeLessThan(antialias ? 5e-5 : 2e-6);
    }
  });
});

describe('imagesToUnitTensor (torchvision Resize on the uint8 tensor, then / 255)', () => {
  it.each((['up', 'down', 'same'] as const).flatMap((n) => [false, true].map((aa) => [n, aa] as const)))(
    '%s antialias=%s',
    async (name, antialias) => {
      const gpu = await testGpu();
      const g = await golden;
      const { img, size } = await caseImage(name);
      const x = imagesToUnitTensor(gpu, [img], { size, antialias });
      const got = await x.read();
      x.dispose();
      const want = g.get(`u8.${name}.aa${antialias ? 1 : 0}`);
      let off = 0;
      for (let i = 0; i < want.length; i++) {
        if (got[i] === want[i]) continue;
        off++;
        expect(Math.abs(Math.round(got[i] * 255) - Math.round(want[i] * 255))).toBe(1); // one level, at a .5 tie
        expect(got[i]).toBe(Math.fround(Math.round(got[i] * 255) / 255)); // still an exact k / 255
      }
      console.log(`u8.${name}.aa${antialias ? 1 : 0}: ${off} of ${want.length} values one level off`);
      expect(off).toBeLessThanOrEqual(name === 'same' ? 0 : Math.floor(want.length / 500));
    },
  );
});

describe('quantizeDnf (torchvision save_image bytes)', () => {
  it('matches eps.mul(255).add_(0.5).clamp_(0, 255).to(uint8) on boundaries, NaN, inf and random values', async () => {
    const gpu = await testGpu();
    const g = await golden;
    const eps = g.tensor(gpu, 'q.x');
    const q = quantizeDnf(eps);
    const imgs = await q.read();
    q.dispose();
    eps.dispose();
    const want = g.get('q.u8'); // [2, 25, 27, 3]
    expect(imgs.map((i) => [i.width, i.height, i.data.length])).toEqual([[27, 25, 2025], [27, 25, 2025]]);
    const got = new Float32Array([...imgs[0].data, ...imgs[1].data]);
    const d = diff(got, want);
    expect(d.maxAbs, `first difference at ${d.at}: got ${got[d.at]}, want ${want[d.at]}`).toBe(0);
  });
});

describe('filter taps', () => {
  it('upscaling with antialias switches to the a = -0.5 cubic, as torch does (not only downscaling)', () => {
    // torch 1.13: x = zeros(1, 1, 1, 9); x[..., 4] = 1
    // F.interpolate(x, size=(1, 18), mode='bicubic', align_corners=False, antialias=aa)[0, 0, 0, 6:12]
    const torch = {
      aa: [-0.0703, 0.2266, 0.8672, 0.8672, 0.2266, -0.0703],
      plain: [-0.1055, 0.2617, 0.8789, 0.8789, 0.2617, -0.1055],
    };
    const response = (t: ReturnType<typeof cubicTaps>) => [6, 7, 8, 9, 10, 11].map((o) => {
      let w = 0;
      for (let k = 0; k < t.taps; k++) if (t.index[o * t.taps + k] === 4) w += t.weight[o * t.taps + k];
      return w;
    });
    response(cubicAaTaps(9, 18)).forEach((w, i) => expect(Math.abs(w - torch.aa[i])).toBeLessThan(1e-4));
    response(cubicTaps(9, 18)).forEach((w, i) => expect(Math.abs(w - torch.plain[i])).toBeLessThan(1e-4));
  });

  it('sum to 1 and stay inside the image', () => {
    for (const [inSize, outSize] of [[23, 32], [120, 32], [200, 24], [3, 5], [1, 4], [4000, 256]]) {
      for (const t of [cubicTaps(inSize, outSize), cubicAaTaps(inSize, outSize)]) {
        for (let o = 0; o < outSize; o++) {
          let sum = 0;
          for (let k = 0; k < t.taps; k++) {
            const i = t.index[o * t.taps + k];
            expect(i >= 0 && i < inSize).toBe(true);
            sum += t.weight[o * t.taps + k];
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-6);
        }
      }
    }
  });
});
