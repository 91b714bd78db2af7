/**
 * `dnf train --images` through the built CLI on a format-biased set (real JPEG q75, generated
 * PNG, same patterns and size): a warning per root before any DNF; with --equalize jpeg:75 none,
 * and the DNFs go to a cache subfolder named by the re-encoding. --perturb without --images: exit 2.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnf, pattern, repo, writeModels, type Models } from './detect-setup.js';

let root: string;
let models: Models;
let src: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-bias-train-'));
  models = await writeModels(root);
  src = join(root, 'src');
  for (const split of ['train', 'val']) {
    for (const cls of ['0_real', '1_fake']) {
      await mkdir(join(src, split, cls), { recursive: true });
      for (let i = 0; i < 2; i++) {
        const img = pattern(20, 16, i + (cls === '1_fake' ? 50 : 0));
        await (cls === '0_real' ? img.jpeg({ quality: 75 }) : img.png()).toFile(join(src, split, cls, `${i}.${cls === '0_real' ? 'jpg' : 'png'}`));
      }
    }
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('dnf train --images and format bias', { timeout: 600_000 }, () => {
  const args = (out: string) => ['train', join(src, 'train'), '--val', join(src, 'val'), '-o', out, '--images', ...models.unetArgs,
    '--init', join(repo, 'test', 'fixtures', 'train-loop', 'init.pth'), '--batch-size', '4', '--image-size', '32', '--epochs', '1'];

  it('warns about each root before computing; --equalize jpeg:75 silences it and caches under jpeg-75', async () => {
    const r = dnf(root, 'train', args(join(root, 'run')));
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.lines.filter((l) => l.includes('warning'));
    expect(warnings).toEqual([join(src, 'train'), join(src, 'val')].map((dir) =>
      `train: warning: ${dir}: format bias: 0_real: 2 JPEG q75, 20x16; 1_fake: 2 PNG, 20x16: the format alone can tell the classes apart, so the metrics may measure it instead of the generator; re-encode both classes at one quality with --equalize jpeg:75`));
    expect(r.stderr.indexOf('format bias')).toBeLessThan(r.stderr.indexOf('extract: 4 to do'));

    const eq = dnf(root, 'train', [...args(join(root, 'run-eq')), '--equalize', 'jpeg:75']);
    expect(eq.code, eq.stderr).toBe(0);
    expect(eq.stderr).not.toContain('format bias');
    expect((await readdir(join(root, 'run-eq', 'dnf', 'jpeg-75', 'train', '0_real'))).sort()).toEqual(['0.png', '1.png']);
  });

  it('--perturb without --images: one line, exit 2', () => {
    const r = dnf(root, 'train', ['train', join(src, 'train'), '--val', join(src, 'val'), '-o', join(root, 'r'), '--perturb', 'blur:1']);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(['dnf: --perturb blur:1 changes source images before their DNF; without --images the inputs are DNFs already: drop it, or give the source images']);
  });
});
