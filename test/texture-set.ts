/**
 * A synthetic DNF data set for training tests: 8-bit RGB PNGs whose two classes differ only in
 * texture, as real and generated images' noise residuals do. Every image is seeded smooth noise
 * (bilinear upsampling of a coarse random grid) around mid-grey; the generated class adds a faint
 * periodic pattern of period 2 or 4 pixels (the checkerboard traces upsampling layers leave) with a
 * random phase. Brightness and contrast are random per image and the same for both classes, so
 * only the texture tells them apart.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePng } from '../src/image/encode-node.js';
import { Rng } from '../src/train/random.js';

export interface TextureSetOptions {
  real: number;
  fake: number;
  size: number;
  seed: number;
  /** Amplitude of the generated class's pattern, in 8-bit levels (default 12). */
  amplitude?: number;
}

export function textureImage(rng: Rng, size: number, fake: boolean, amplitude = 12): Uint8Array {
  const grid = 5;
  const coarse = Float64Array.from({ length: grid * grid * 3 }, () => rng.uniform() * 2 - 1);
  const base = 96 + 64 * rng.uniform();
  const contrast = 20 + 30 * rng.uniform();
  const period = rng.uniform() < 0.5 ? 2 : 4;
  const phase = Math.floor(rng.uniform() * period);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const gy = (y / (size - 1)) * (grid - 1);
      const gx = (x / (size - 1)) * (grid - 1);
      const y0 = Math.min(grid - 2, Math.floor(gy));
      const x0 = Math.min(grid - 2, Math.floor(gx));
      const fy = gy - y0;
      const fx = gx - x0;
      const pattern = fake ? amplitude * ((((x + phase) % period) < period / 2) !== (((y + phase) % period) < period / 2) ? 1 : -1) : 0;
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => coarse[(yy * grid + xx) * 3 + c];
        const smooth = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        const noise = (rng.uniform() - 0.5) * 6;
        out[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + contrast * smooth + pattern + noise)));
      }
    }
  }
  return out;
}

/** Writes <dir>/0_real/rNNN.png and <dir>/1_fake/fNNN.png. */
export async function writeTextureSet(dir: string, opts: TextureSetOptions): Promise<void> {
  const rng = new Rng(opts.seed);
  for (const [folder, n, fake] of [['0_real', opts.real, false], ['1_fake', opts.fake, true]] as const) {
    await mkdir(join(dir, folder), { recursive: true });
    for (let i = 0; i < n; i++) {
      const data = textureImage(rng, opts.size, fake, opts.amplitude);
      await writeFile(join(dir, folder, `${fake ? 'f' : 'r'}${String(i).padStart(3, '0')}.png`), await encodePng({ width: opts.size, height: opts.size, data }));
    }
  }
}
