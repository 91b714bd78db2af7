/**
 * Format bias (src/node/format-bias.ts): header profiles of files, the comparison of the classes,
 * and `dnf eval` on a synthetic set whose real images are JPEG q75 and whose generated ones are
 * PNG but otherwise alike (same pattern family and size): eval warns about the format; with
 * --equalize jpeg:75 the warning is gone and every input went through the same re-encoding.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval, type EvalOptions } from '../src/cli/eval.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { acquireGpu } from '../src/node/acquire.js';
import { compareClasses, describeClass, profileFile, type FileProfile } from '../src/node/format-bias.js';
import { pattern, writeModels, type Models } from './detect-setup.js';

const fixtures = fileURLToPath(new URL('fixtures/perturb/', import.meta.url));

describe('file profiles from headers', () => {
  it('JPEG: format, quality from the tables, size; PNG: format and size', async () => {
    expect(await profileFile(`${fixtures}q50.jpg`)).toEqual({ format: 'JPEG', quality: { quality: 50, exact: true }, size: '16x16' });
    expect(await profileFile(`${fixtures}custom-tables.jpg`)).toMatchObject({ format: 'JPEG', quality: { exact: false }, size: '16x16' });
    expect(await profileFile(`${fixtures}src-a.png`)).toEqual({ format: 'PNG', quality: null, size: '37x29' });
    expect(await profileFile(join(fixtures, 'no-such.png'))).toEqual({ format: 'unreadable', quality: null, size: null });
  });

  const jpeg = (q: number, size = '256x256', exact = true): FileProfile => ({ format: 'JPEG', quality: { quality: q, exact }, size });
  const png = (size = '256x256'): FileProfile => ({ format: 'PNG', quality: null, size });

  it('describes a class', () => {
    expect(describeClass([jpeg(75), jpeg(75)])).toBe('2 JPEG q75, 256x256');
    expect(describeClass([jpeg(75, '256x256', false)])).toBe('1 JPEG q~75, 256x256');
    expect(describeClass([jpeg(70), jpeg(95, '512x512'), png(), png()])).toBe('2 JPEG q70-95, 2 PNG; 256x256 (3), 1 other size') // most common first, ties by name;
  });

  it('finds format, quality and size differences, and names the fix', () => {
    const f = compareClasses('', Array(10).fill(jpeg(75)), Array(10).fill(png()))!;
    expect(f.differences).toEqual(['format']);
    expect(f.message).toBe('format bias: 0_real: 10 JPEG q75, 256x256; 1_fake: 10 PNG, 256x256: the format alone can tell the classes apart, so the metrics may measure it instead of the generator; re-encode both classes at one quality with --equalize jpeg:75');
    expect(compareClasses('s', Array(10).fill(jpeg(95)), Array(10).fill(jpeg(75)))!.differences).toEqual(['JPEG quality']);
    expect(compareClasses('s', Array(10).fill(png('512x512')), Array(10).fill(png()))!.message).toMatch(/^format bias in s: .*the size alone .*--perturb crop:/);
    // Alike, or within the thresholds (a 20-point share gap, 5 quality levels): no finding.
    expect(compareClasses('s', Array(10).fill(jpeg(75)), Array(10).fill(jpeg(78)))).toBeNull();
    expect(compareClasses('s', [...Array(9).fill(png()), jpeg(75)], Array(10).fill(png()))).toBeNull();
    expect(compareClasses('s', [], Array(10).fill(png()))).toBeNull();
    // Sizes: one class of one size against sizes all over is a finding; varied sizes on both sides are not.
    const varied = (n: number, off: number) => Array.from({ length: n }, (_, i) => png(`${200 + off + i}x300`));
    expect(compareClasses('s', varied(10, 0), Array(10).fill(png()))!.differences).toEqual(['size']);
    expect(compareClasses('s', varied(10, 0), varied(10, 50))).toBeNull();
  });
});

describe('dnf eval on a format-biased set', { timeout: 300_000 }, () => {
  let tmp: string;
  let models: Models;
  let gpu: Gpu;
  let root: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'dnf-bias-'));
    models = await writeModels(tmp);
    root = join(tmp, 'set');
    await mkdir(join(root, '0_real'), { recursive: true });
    await mkdir(join(root, '1_fake'), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await pattern(16, 16, 3 + i).jpeg({ quality: 75 }).toFile(join(root, '0_real', `r${i}.jpg`));
      await pattern(16, 16, 13 + i).png().toFile(join(root, '1_fake', `f${i}.png`));
    }
    gpu = await acquireGpu();
  }, 120_000);

  afterAll(async () => {
    gpu?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  async function evaluate(opts: Partial<EvalOptions>) {
    let err = '';
    const report = await runEval(root, {
      classifier: models.classifier, fromDnf: false, threshold: 0.5, json: true, csv: null, unet: models.unet, modelConfig: models.config,
      steps: 0, feature: 'first', antialias: false, ...opts,
    }, { gpu, out: { write: () => true }, progress: { sink: { write: (t: string) => (err += t) } }, signal: new AbortController().signal });
    return { report, lines: err.trim().split('\n') };
  }

  it('warns before computing, and --equalize jpeg:75 makes the warning go', async () => {
    const biased = await evaluate({ report: join(tmp, 'report') });
    const warning = 'eval: warning: format bias: 0_real: 3 JPEG q75, 16x16; 1_fake: 3 PNG, 16x16: the format alone can tell the classes apart, so the metrics may measure it instead of the generator; re-encode both classes at one quality with --equalize jpeg:75';
    expect(biased.lines).toContain(warning);
    expect(biased.lines.indexOf(warning)).toBeLessThan(biased.lines.findIndex((l) => / images in 1 subset/.test(l)));
    expect(biased.report.formatBias.map((f) => f.differences)).toEqual([['format']]);
    // --report: the finding in the page's format section.
    const html = await readFile(join(tmp, 'report', 'report.html'), 'utf8');
    expect(html).toContain(`<ul class="findings"><li>${warning.slice('eval: warning: '.length)}</li></ul>`);

    const equal = await evaluate({ equalize: [{ kind: 'jpeg', quality: 75 }], cache: join(tmp, 'cache') });
    expect(equal.lines.filter((l) => l.includes('warning'))).toEqual([]);
    expect(equal.report.formatBias).toEqual([]);
    expect(equal.report.predictions).toHaveLength(6);
    // The same re-encoding of every input as --perturb jpeg:75, and the DNFs cached under its name.
    const perturbed = await evaluate({ perturb: [{ kind: 'jpeg', quality: 75 }] });
    expect(equal.report.predictions.map((p) => p.prob)).toEqual(perturbed.report.predictions.map((p) => p.prob));
    expect(perturbed.report.predictions.map((p) => p.prob)).not.toEqual(biased.report.predictions.map((p) => p.prob));
    const cachedAgain = await evaluate({ equalize: [{ kind: 'jpeg', quality: 75 }], cache: join(tmp, 'cache'), unet: join(tmp, 'no-unet.safetensors') });
    expect(cachedAgain.lines).toContainEqual(expect.stringMatching(/6 DNFs cached in .*cache/));
    expect(cachedAgain.report.rows).toEqual(equal.report.rows);
  });
});
