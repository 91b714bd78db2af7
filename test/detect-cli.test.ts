/**
 * `dnf detect` end to end with the tiny UNet and the small Bottleneck classifier (test/detect-setup.ts):
 * through the built CLI (`npm run build` first) for outputs, exit codes and messages, and in-process
 * through runDetect (on one shared GPU) for the output formats and options.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDetect, type DetectOptions } from '../src/cli/detect.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { acquireGpu } from '../src/node/acquire.js';
import { classifierPth, dnf, pattern, repo, writeModels, type Models } from './detect-setup.js';

let root: string;
let inDir: string;
let models: Models;
let gpu: Gpu;
const GOOD = ['a.png', 'b.jpg', 'sub/c.png', 'sub/d.png']; // in the order inputs are collected

interface Line {
  file: string;
  prob: number;
  logit: number;
  label: string;
}
const jsonLines = (text: string): Line[] => text.trim().split('\n').map((l) => JSON.parse(l) as Line);

/** runDetect in-process on the shared GPU; returns the report, stdout text and stderr lines. */
async function detect(inputs: string[], opts: Partial<DetectOptions>) {
  let out = '';
  let err = '';
  const report = await runDetect(inputs, {
    classifier: models.classifier, fromDnf: false, threshold: 0.5, format: 'json', unet: models.unet, modelConfig: models.config,
    steps: 0, feature: 'first', antialias: false, ...opts,
  }, { gpu, out: { write: (t: string) => (out += t) }, progress: { sink: { write: (t: string) => (err += t) } }, signal: new AbortController().signal });
  return { report, out, lines: err.trim().split('\n') };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-detect-'));
  models = await writeModels(root);
  inDir = join(root, 'in');
  await mkdir(join(inDir, 'sub'), { recursive: true });
  await mkdir(join(inDir, 'broken'), { recursive: true });
  for (const [i, rel] of GOOD.entries()) {
    const img = pattern([20, 12, 30, 12][i], [16, 12, 30, 12][i], 3 + 5 * i);
    await (rel.endsWith('.jpg') ? img.jpeg() : img.png()).toFile(join(inDir, rel));
  }
  for (const f of ['empty.png', 'truncated.png']) await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', f), join(inDir, 'broken', f));
  gpu = await acquireGpu();
}, 120_000);

afterAll(async () => {
  gpu?.destroy();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('dnf detect (built CLI)', { timeout: 300_000 }, () => {
  let first: Line[];

  it('prints one JSON line per input in input order (the broken ones with their error), reports them, exits 1', () => {
    const r = dnf(root, 'detect', ['detect', inDir, '--classifier', models.classifier, ...models.unetArgs, '--json', '--batch', '2']);
    expect(r.code).toBe(1);
    const all = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line | { file: string; error: string });
    expect(all.map((l) => l.file)).toEqual(['a.png', 'b.jpg', 'broken/empty.png', 'broken/truncated.png', 'sub/c.png', 'sub/d.png'].map((f) => join(inDir, f)));
    expect(all[2]).toEqual({ file: join(inDir, 'broken', 'empty.png'), error: 'cannot decode image (empty file)' });
    expect(Object.keys(all[3])).toEqual(['file', 'error']);
    expect((all[3] as { error: string }).error).toMatch(/^cannot decode image/);
    first = all.filter((l): l is Line => !('error' in l));
    expect(first.map((l) => l.file)).toEqual(GOOD.map((f) => join(inDir, f)));
    for (const l of first) {
      expect(Object.keys(l)).toEqual(['file', 'prob', 'logit', 'label']);
      expect(l.prob).toBeCloseTo(1 / (1 + Math.exp(-l.logit)), 6); // prob is float32(sigmoid(logit)): 6e-8 apart at most
      expect(l.prob).toBeGreaterThan(0);
      expect(l.prob).toBeLessThan(1);
      expect(l.label).toBe(l.prob > 0.5 ? 'generated' : 'real');
    }
    expect(new Set(first.map((l) => l.label))).toEqual(new Set(['real', 'generated'])); // the fixture spans the threshold
    expect(r.lines).toContainEqual(expect.stringMatching(/^detect: 6 images; batch 2, \w+, ResNet \(bottleneck blocks 1,2,1,1, stem 10\) \(classifier\.safetensors\), DNF by tiny-unet\.safetensors$/));
    expect(r.lines).toContainEqual(`detect: ${join(inDir, 'broken', 'empty.png')}: cannot decode image (empty file)`);
    expect(r.lines).toContainEqual(expect.stringMatching(/^detect: .*truncated\.png: cannot decode image/));
    const generated = first.filter((l) => l.label === 'generated').length;
    expect(r.lines.at(-1)).toMatch(new RegExp(`^detect: 4 classified \\(${generated} generated, ${4 - generated} real at threshold 0.5\\), 2 failed in [\\dhm.]+s \\(([\\d.]+ images/s|[\\dhm.]+s/image)\\)$`));
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('detect(image) equals detect --from-dnf on the PNG that extract wrote for it, bit for bit', () => {
    const out = join(root, 'dnf-png');
    expect(dnf(root, 'extract', ['extract', inDir, '-o', out, ...models.unetArgs, '--batch', '3']).code).toBe(1); // the broken files
    const r = dnf(root, 'detect', ['detect', out, '--from-dnf', '--classifier', models.classifier, '--json']);
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatch(/^detect: 4 images; batch 16, .*, inputs are DNFs$/);
    const fromDnf = jsonLines(r.stdout);
    expect(fromDnf.map((l) => l.file)).toEqual(GOOD.map((f) => join(out, f.replace('.jpg', '.png'))));
    expect(fromDnf.map((l) => [l.prob, l.label])).toEqual(first.map((l) => [l.prob, l.label])); // toEqual on numbers: identical
  });

  it('refuses bad usage and setup with exit 2 and one line', () => {
    const base = ['detect', inDir, ...models.unetArgs];
    const cases: Array<[string[], RegExp]> = [
      [base, /^dnf: detect needs a classifier \(--classifier FILE or DNF_CLASSIFIER\), and none is published: train one with `dnf train`/m],
      [[...base, '--classifier', models.classifier, '--json', '--csv'], /option '--json' cannot be used with option '--csv'/],
      [[...base, '--classifier', models.classifier, '--threshold', '1.5'], /--threshold must be a number from 0 to 1/],
      [[...base, '--classifier', models.unet], /tiny-unet\.safetensors: not a torchvision ResNet classifier \(no conv1\.weight\)/],
      [[...base, '--classifier', join(root, 'missing.pth')], /missing\.pth: no such file; check the path/],
      [['detect', inDir, '--classifier', models.classifier, '--unet', join(root, 'none.safetensors')], /none\.safetensors: UNet weights not found/],
    ];
    for (const [args, message] of cases) {
      const r = dnf(root, 'detect', args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});

describe('runDetect', { timeout: 300_000 }, () => {
  it('the default table: fixed columns, probabilities to 4 decimals; CSV with a header and quoted names', async () => {
    const odd = join(root, 'odd');
    await mkdir(odd, { recursive: true });
    await copyFile(join(inDir, 'a.png'), join(odd, 'x, "y".png'));
    await copyFile(join(inDir, 'sub', 'c.png'), join(odd, 'z.png'));
    const json = jsonLines((await detect([odd], {})).out);
    const table = (await detect([odd], { format: 'table' })).out;
    expect(table.split('\n')).toEqual([
      '  prob  label      file',
      ...json.map((l) => `${l.prob.toFixed(4)}  ${l.label.padEnd(9)}  ${l.file}`),
      '',
    ]);
    const csv = (await detect([odd], { format: 'csv' })).out;
    expect(csv).toBe(`file,prob,logit,label,error\n"${join(odd, 'x, ""y"".png')}",${json[0].prob},${json[0].logit},${json[0].label},\n${join(odd, 'z.png')},${json[1].prob},${json[1].logit},${json[1].label},\n`);
  });

  it('a failed input is a CSV row with its error, in input order; the table leaves it to stderr', async () => {
    const mixed = join(root, 'mixed');
    await mkdir(mixed, { recursive: true });
    await copyFile(join(inDir, 'a.png'), join(mixed, 'a.png'));
    await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'empty.png'), join(mixed, 'b.png'));
    await copyFile(join(inDir, 'sub', 'c.png'), join(mixed, 'c.png'));
    const json = jsonLines((await detect([join(mixed, 'a.png'), join(mixed, 'c.png')], {})).out);
    const csv = await detect([mixed], { format: 'csv', batch: 3 });
    expect(csv.out.split('\n')).toEqual([
      'file,prob,logit,label,error',
      `${join(mixed, 'a.png')},${json[0].prob},${json[0].logit},${json[0].label},`,
      `${join(mixed, 'b.png')},,,,cannot decode image (empty file)`,
      `${join(mixed, 'c.png')},${json[1].prob},${json[1].logit},${json[1].label},`,
      '',
    ]);
    const table = await detect([mixed], { format: 'table' });
    expect(table.out.split('\n').map((l) => l.slice(19))).toEqual(['file', join(mixed, 'a.png'), join(mixed, 'c.png'), '']);
    expect(table.lines).toContain(`detect: ${join(mixed, 'b.png')}: cannot decode image (empty file)`);
  });

  it('--threshold moves the labels, not the probabilities', async () => {
    const at = async (threshold: number) => jsonLines((await detect([join(inDir, 'sub')], { threshold })).out);
    const base = await at(0.5);
    for (const t of [0, 0.3, 0.999]) {
      const got = await at(t);
      expect(got.map((l) => l.prob)).toEqual(base.map((l) => l.prob));
      expect(got.map((l) => l.label)).toEqual(base.map((l) => (l.prob > t ? 'generated' : 'real')));
    }
  });

  it('a PyTorch checkpoint passed directly is converted in memory, with a note, and gives the converted file\'s results', async () => {
    const pth = await detect([join(inDir, 'a.png')], { classifier: classifierPth });
    expect(pth.lines[0]).toBe(`detect: ${classifierPth}: a PyTorch checkpoint (zip), converted in memory; \`dnf convert ${classifierPth}\` once saves this step`);
    const st = await detect([join(inDir, 'a.png')], { classifier: models.classifier });
    expect(st.lines.some((l) => l.includes('converted in memory'))).toBe(false);
    expect(pth.out).toBe(st.out);
    expect(pth.report.results[0].logit).toBe(st.report.results[0].logit);
  });
});
