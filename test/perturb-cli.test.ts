/**
 * The perturbation options through the built CLI, with the tiny UNet and classifier
 * (test/detect-setup.ts): an `eval --robustness` sweep on a small two-subset set (table, CSV,
 * plot, a DNF cache folder per perturbation), each of its rows what `eval --perturb P` gives,
 * `detect --perturb` agreeing with eval's per-image predictions, and one-line usage errors.
 */
import { readFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnf, filesUnder, pattern, writeModels, type Models } from './detect-setup.js';
import { mkdir } from 'node:fs/promises';

let tmp: string;
let models: Models;
let root: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dnf-perturb-'));
  models = await writeModels(tmp);
  root = join(tmp, 'set');
  let seed = 1;
  for (const subset of ['a', 'b']) {
    for (const cls of ['0_real', '1_fake']) {
      await mkdir(join(root, subset, cls), { recursive: true });
      for (let i = 0; i < 2; i++) await pattern(20, 18, seed++).png().toFile(join(root, subset, cls, `${i}.png`));
    }
  }
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const parseCsv = (text: string) => {
  const [head, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
};

describe('perturbations through the CLI', { timeout: 600_000 }, () => {
  it('eval --robustness: a row per perturbation and subset, the CSV and plot, DNFs cached per perturbation', async () => {
    const cache = join(tmp, 'cache');
    const r = dnf(tmp, 'eval', ['eval', root, '--classifier', models.classifier, ...models.unetArgs, '--robustness', 'jpeg:90,50 blur:1 resize:0.5', '--cache', cache, '--report', join(tmp, 'report')]);
    expect(r.code, r.stderr).toBe(0);
    const table = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(table[0]).toEqual(['perturbation', 'subset', 'images', 'acc %', 'AP %', 'real acc %', 'fake acc %', 'AUC %']);
    const labels = ['none', 'jpeg:90', 'jpeg:50', 'blur:1', 'resize:0.5'];
    expect(table.slice(1).map((row) => row.slice(0, 2))).toEqual(labels.flatMap((p) => ['a', 'b', 'mean', 'total'].map((s) => [p, s])));
    expect(r.lines).toContain('eval: robustness 2 of 5: jpeg:50');
    expect(r.lines).toContain('eval: robustness 5 of 5: unperturbed'); // last: its report holds the whole sweep's plot
    expect(r.lines.at(-1)).toBe('eval: robustness: 5 runs; wrote set-robustness.csv, set-robustness.svg');

    const csv = parseCsv(await readFile(join(tmp, 'set-robustness.csv'), 'utf8'));
    expect(Object.keys(csv[0])).toEqual(['perturbation', 'kind', 'strength', 'subset', 'row', 'images', 'acc', 'ap', 'real_acc', 'fake_acc', 'auc']);
    expect(csv.filter((c) => c.subset === 'a').map((c) => [c.perturbation, c.kind, c.strength, c.images])).toEqual([
      ['none', '', '', '4'], ['jpeg:90', 'jpeg', '90', '4'], ['jpeg:50', 'jpeg', '50', '4'], ['blur:1', 'blur', '1', '4'], ['resize:0.5', 'resize', '0.5', '4'],
    ]);
    // The table shows the CSV's numbers (the last five columns: the mean row has no image count), ROC-AUC included.
    expect(table.slice(1).map((row) => row.slice(-5))).toEqual(csv.map((c) => [c.acc, c.ap, c.real_acc, c.fake_acc, c.auc].map((v) => (v === '' ? 'n/a' : (100 * Number(v)).toFixed(2)))));
    expect(csv.every((c) => c.auc !== '')).toBe(true);

    const svg = await readFile(join(tmp, 'set-robustness.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['accuracy: JPEG quality', 'AP: blur sigma (px)', 'AP: resize factor', 'dashed: unperturbed']) expect(svg).toContain(text);
    // --report: the unperturbed run's report.html shows the same plot.
    const html = await readFile(join(tmp, 'report', 'report.html'), 'utf8');
    expect(html).toContain(`<figure class="robustness"><img alt="robustness plot" src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}">`);

    expect((await readdir(cache)).sort()).toEqual(['a', 'b', 'blur-1', 'jpeg-50', 'jpeg-90', 'resize-0.5']);
    for (const sub of ['jpeg-90', 'jpeg-50', 'blur-1', 'resize-0.5']) expect(await filesUnder(join(cache, sub)), sub).toHaveLength(8);
    // A perturbation changes the DNFs: the cached files differ from the unperturbed ones.
    expect(await readFile(join(cache, 'jpeg-50', 'a', '0_real', '0.png'))).not.toEqual(await readFile(join(cache, 'a', '0_real', '0.png')));

    // Each row is what eval --perturb gives alone; detect --perturb gives eval's per-image probabilities.
    const alone = dnf(tmp, 'eval', ['eval', root, '--classifier', models.classifier, ...models.unetArgs, '--perturb', 'jpeg:50', '--json', '--no-csv', '--predictions', join(tmp, 'p.csv')]);
    expect(alone.code, alone.stderr).toBe(0);
    const rows = alone.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((o) => [o.subset, String(o.acc), String(o.ap ?? '')])).toEqual(csv.filter((c) => c.perturbation === 'jpeg:50').map((c) => [c.subset, c.acc, c.ap]));
    const det = dnf(tmp, 'detect', ['detect', root, '--classifier', models.classifier, ...models.unetArgs, '--perturb', 'jpeg:50', '--json']);
    expect(det.code, det.stderr).toBe(0);
    const detected = new Map(det.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((o) => [o.file, String(o.prob)]));
    const predictions = parseCsv(await readFile(join(tmp, 'p.csv'), 'utf8'));
    expect(predictions).toHaveLength(8);
    for (const p of predictions) expect(detected.get(p.file), p.file).toBe(p.prob);
  });

  it('bad specs and misplaced options: one line, exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['eval', root, '--classifier', models.classifier, '--robustness', 'jpeg:95,101'], /^dnf: .*--robustness "jpeg:95,101": "jpeg:101" needs a JPEG quality \(an integer 1\.\.100\); the grammar: STEP\[\+STEP\.\.\.\]/],
      [['extract', root, '-o', join(tmp, 'x'), '--perturb', 'blur:0'], /^dnf: .*--perturb "blur:0": "blur:0" needs a blur sigma/],
      [['eval', root, '--classifier', models.classifier, '--equalize', 'blur:1'], /^dnf: .*--equalize "blur:1": takes one jpeg:Q/],
      [['detect', root, '--classifier', models.classifier, '--from-dnf', '--perturb', 'jpeg:75'], /^dnf: --perturb jpeg:75 changes source images before their DNF; with --from-dnf the inputs are DNFs already/],
      [['eval', root, '--classifier', models.classifier, ...models.unetArgs, '--perturb', 'jpeg:75', '--robustness', 'blur:1'], /^dnf: --robustness evaluates under each perturbation of its sweep/],
    ];
    for (const [args, message] of cases) {
      const r = dnf(tmp, args[0], args);
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('dnf:'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    }
  });
});
