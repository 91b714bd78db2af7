/**
 * `dnf eval` end to end with the tiny UNet and the small Bottleneck classifier (test/detect-setup.ts)
 * on small synthetic trees in the CNNDetection layout (subsets with 0_real/1_fake, one nested by
 * object class, one with real images only, a broken file) and the GenImage layout (nature/ai, a
 * training split beside val). The metrics themselves are checked against sklearn in
 * metrics.test.ts; here each row must be those metrics of the per-image probabilities that
 * `dnf detect` gives for the same files, whichever way the DNFs come (computed, cached, --from-dnf).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDetect } from '../src/cli/detect.js';
import { runEval, type EvalOptions, type EvalReport } from '../src/cli/eval.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { evalMetrics, meanEvalMetrics } from '../src/metrics-eval.js';
import { acquireGpu } from '../src/node/acquire.js';
import { dnf, pattern, repo, writeModels, type Models } from './detect-setup.js';

let tmp: string;
let models: Models;
let gpu: Gpu;
let cnn: string;

/** CNNDetection-style tree: biggan flat, progan nested by class, onlyreal without fakes, plus a broken file. */
const CNN_FILES = [
  'biggan/0_real/r1.png', 'biggan/0_real/r2.jpg', 'biggan/1_fake/f1.png', 'biggan/1_fake/f2.png', 'biggan/1_fake/f3.png',
  'progan/cat/0_real/r1.png', 'progan/cat/1_fake/f1.png', 'progan/dog/0_real/r1.png', 'progan/dog/1_fake/f1.png',
  'onlyreal/0_real/r1.png', 'onlyreal/0_real/r2.png',
];

async function makeTree(root: string, files: string[], seed: number): Promise<void> {
  for (const [i, rel] of files.entries()) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    const img = pattern(12 + (i % 3) * 4, 12 + (i % 2) * 6, seed + 7 * i);
    await (rel.endsWith('.jpg') ? img.jpeg() : img.png()).toFile(join(root, rel));
  }
}

async function evaluate(root: string, opts: Partial<EvalOptions>): Promise<{ report: EvalReport; out: string; lines: string[] }> {
  let out = '';
  let err = '';
  const report = await runEval(root, {
    classifier: models.classifier, fromDnf: false, threshold: 0.5, json: true, csv: null, unet: models.unet, modelConfig: models.config,
    steps: 0, feature: 'first', antialias: false, ...opts,
  }, { gpu, out: { write: (t: string) => (out += t) }, progress: { sink: { write: (t: string) => (err += t) } }, signal: new AbortController().signal });
  return { report, out, lines: err.trim().split('\n') };
}

/** Per-file probabilities from runDetect over the same files. */
async function detectProbs(root: string): Promise<Map<string, number>> {
  const report = await runDetect([root], {
    classifier: models.classifier, fromDnf: false, threshold: 0.5, format: 'json', unet: models.unet, modelConfig: models.config,
    steps: 0, feature: 'first', antialias: false,
  }, { gpu, out: { write: () => true }, progress: { sink: { write: () => true } }, signal: new AbortController().signal });
  return new Map(report.results.map((r) => [r.file, r.prob]));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dnf-eval-'));
  models = await writeModels(tmp);
  cnn = join(tmp, 'cnn');
  await makeTree(cnn, CNN_FILES, 3);
  await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'truncated.png'), join(cnn, 'biggan', '1_fake', 'broken.png'));
  gpu = await acquireGpu();
}, 120_000);

afterAll(async () => {
  gpu?.destroy();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('dnf eval', { timeout: 300_000 }, () => {
  let computed: EvalReport;

  it('CNNDetection layout: one row per subset, mean and total, each the metrics of detect\'s probabilities', async () => {
    const predictionsFile = join(tmp, 'cnn-predictions.csv');
    const { report, out, lines } = await evaluate(cnn, { cache: join(tmp, 'cache'), predictions: predictionsFile });
    computed = report;
    const perImage = (await readFile(predictionsFile, 'utf8')).trim().split('\n');
    expect(perImage[0]).toBe('file,subset,label,prob,logit,predicted,error');
    const failedRows = perImage.filter((l) => l.includes('broken.png'));
    expect(failedRows).toEqual([expect.stringMatching(new RegExp(`^${join(cnn, 'biggan', '1_fake', 'broken.png')},biggan,generated,,,,cannot decode image`))]);
    expect(perImage.slice(1).filter((l) => !failedRows.includes(l))).toEqual(report.predictions.map((p) => {
      const name = (l: number) => (l === 1 ? 'generated' : 'real');
      return [p.file, p.subset, name(p.label), String(p.prob), String(p.logit), name(p.prob > 0.5 ? 1 : 0), ''].join(',');
    }));
    expect(perImage.slice(1).map((l) => l.split(',')[0])).toEqual([...perImage.slice(1).map((l) => l.split(',')[0])].sort()); // input order: sorted paths
    expect(report.failed).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^eval: .*broken\.png: cannot decode image/));
    expect(lines[0]).toMatch(/^eval: warning: format bias in biggan: 0_real: 1 JPEG q80, 1 PNG; .*--equalize jpeg:80/); // r2.jpg among PNGs
    expect(lines[1]).toBe(`eval: 12 images in 3 subsets (0 DNFs cached in ${join(tmp, 'cache')}); batch 16, ${gpu.describe().backend}, ResNet (bottleneck blocks 1,2,1,1, stem 10) (classifier.safetensors), DNF by tiny-unet.safetensors`);
    expect(lines.at(-1)).toMatch(/^eval: 11 images classified in 3 subsets, 1 failed \(left out of the metrics\) in /);

    const probs = await detectProbs(cnn);
    expect(report.predictions.map((p) => p.prob)).toEqual(report.predictions.map((p) => probs.get(p.file)));
    const label = (rel: string) => (rel.includes('0_real') ? 0 : 1);
    const metricsOf = (prefix: string) => {
      const files = CNN_FILES.filter((f) => f.startsWith(prefix));
      return evalMetrics(files.map(label), files.map((f) => probs.get(join(cnn, f))!), 0.5);
    };
    const subsets = ['biggan', 'onlyreal', 'progan'].map((s) => ({ subset: s, kind: 'subset', ...metricsOf(`${s}/`) }));
    const want = [...subsets, { subset: 'mean', kind: 'mean', count: null, real: null, fake: null, oracleThreshold: null, ...meanEvalMetrics(subsets) }, { subset: 'total', kind: 'total', ...metricsOf('') }];
    expect(report.rows).toEqual(want);
    expect(report.rows.find((r) => r.subset === 'onlyreal')).toMatchObject({ count: 2, real: 2, fake: 0, ap: null, fakeAcc: null, auc: null, oracleAcc: null, tprAtFpr1: null });
    expect(out.trim().split('\n').map((l) => JSON.parse(l))).toEqual(want.map((r) => ({
      subset: r.subset, kind: r.kind, images: r.count, real: r.real, fake: r.fake, acc: r.acc, ap: r.ap, real_acc: r.realAcc, fake_acc: r.fakeAcc,
      auc: r.auc, oracle_acc: r.oracleAcc, oracle_threshold: r.oracleThreshold, tpr_at_fpr_1: r.tprAtFpr1, tpr_at_fpr_5: r.tprAtFpr5, ece: r.ece,
    })));
  });

  it('reuses the cache (no UNet needed once every DNF is there) and gives the same rows; --from-dnf on the cache too', async () => {
    await rm(join(cnn, 'biggan', '1_fake', 'broken.png')); // the one image without a cached DNF
    const cached = await evaluate(cnn, { cache: join(tmp, 'cache'), unet: join(tmp, 'no-such-unet.safetensors') });
    expect(cached.lines[1]).toMatch(/^eval: 11 images in 3 subsets \(11 DNFs cached in .*\); batch 16, .*, inputs are DNFs$/);
    expect(cached.report.rows).toEqual(computed.rows);
    const fromDnf = await evaluate(join(tmp, 'cache'), { fromDnf: true });
    expect(fromDnf.report.rows).toEqual(computed.rows);
    await expect(evaluate(cnn, { cache: join(tmp, 'cache'), fromDnf: true })).rejects.toThrow(/--cache keeps DNFs computed from images; with --from-dnf/);
  });

  it('GenImage layout through the built CLI: the table on stdout, the CSV in the current folder, the train split skipped', async () => {
    const gen = join(tmp, 'genimage');
    await makeTree(gen, ['sdv4/val/ai/a.png', 'sdv4/val/nature/b.png', 'sdv4/val/ai/c.png', 'sdv4/train/ai/t.png', 'mj/ai/d.png', 'mj/nature/e.png'], 11);
    const r = dnf(tmp, 'eval', ['eval', gen, '--classifier', models.classifier, ...models.unetArgs]);
    expect(r.code).toBe(0);
    expect(r.lines).toContain('eval: skipped the training split sdv4/train');
    // Two tables: the metrics at the threshold, then the threshold-free ones.
    const [table, free] = r.stdout.trim().split('\n\n').map((t) => t.split('\n'));
    expect(table[0].trim().split(/\s{2,}/)).toEqual(['subset', 'images', 'real', 'fake', 'acc %', 'AP %', 'real acc %', 'fake acc %']);
    expect(table.map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ['subset', 'images', 'real', 'fake'], ['mj', '2', '1', '1'], ['sdv4', '3', '1', '2'], ['mean', expect.any(String), expect.any(String), expect.any(String)], ['total', '5', '2', '3'],
    ]);
    const csv = (await readFile(join(tmp, 'genimage-eval.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('subset,kind,images,real,fake,acc,ap,real_acc,fake_acc,auc,oracle_acc,oracle_threshold,tpr_at_fpr_1,tpr_at_fpr_5,ece');
    expect(csv.slice(1).map((l) => l.split(',').slice(0, 5).join(','))).toEqual(['mj,subset,2,1,1', 'sdv4,subset,3,1,2', 'mean,mean,,,', 'total,total,5,2,3']);
    // The table shows the CSV's fractions as percentages.
    const total = csv[4].split(',');
    expect(table[4].split(/\s+/).slice(4)).toEqual(total.slice(5, 9).map((v) => (100 * Number(v)).toFixed(2)));
    expect(free[0].trim().split(/\s{2,}/)).toEqual(['subset', 'AUC %', 'oracle acc %', 'TPR@1%FPR %', 'TPR@5%FPR %', 'ECE %']);
    expect(free.slice(1, 5).map((l) => l.split(/\s+/)[0])).toEqual(['mj', 'sdv4', 'mean', 'total']);
    expect(free[4].split(/\s+/).slice(1)).toEqual([total[9], total[10], total[12], total[13], total[14]].map((v) => (100 * Number(v)).toFixed(2)));
    expect(Math.max(...[...table, ...free].map((l) => l.length))).toBeLessThanOrEqual(100);
    expect(r.lines.at(-1)).toMatch(/^eval: 5 images classified in 2 subsets, 0 failed in .*; wrote genimage-eval\.csv$/);
  });

  it('--report DIR through the built CLI: report.html with every row, the curves, the mistakes of the predictions, the failure', async () => {
    await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'truncated.png'), join(cnn, 'progan', 'cat', '1_fake', 'broken.png'));
    const dir = join(tmp, 'report');
    const predictionsFile = join(tmp, 'report-predictions.csv');
    const r = dnf(tmp, 'eval', ['eval', cnn, '--classifier', models.classifier, ...models.unetArgs, '--cache', join(tmp, 'cache'), '--no-csv', '--report', dir, '--predictions', predictionsFile]);
    expect(r.code).toBe(1); // the broken image
    const path = join(dir, 'report.html');
    expect(r.lines.at(-1)).toMatch(new RegExp(`^eval: 11 images classified in 3 subsets, 1 failed .*; wrote ${path}$`));
    const html = await readFile(path, 'utf8');
    expect([...html.matchAll(/<tr class="(\w+)" data-subset="([^"]+)">/g)].map((m) => `${m[1]}:${m[2]}`))
      .toEqual(['subset:biggan', 'subset:onlyreal', 'subset:progan', 'mean:mean', 'total:total']);
    expect([...html.matchAll(/<figure data-set="([^"]+)"><img alt="ROC/g)].map((m) => m[1])).toEqual(['biggan', 'progan', 'all images (total)']);
    expect(html).toContain('<b>onlyreal</b>: <span class="empty">no curves: 2 real and 0 generated images');
    expect(html).toMatch(/<li><code>progan\/cat\/1_fake\/broken\.png<\/code>: cannot decode image/);
    // The mistakes shown are those of the per-image predictions at 0.5, most confident first.
    const preds = (await readFile(predictionsFile, 'utf8')).trim().split('\n').slice(1).map((l) => l.split(',')).filter((f) => f[3] !== '');
    const wrong = (label: string) => preds.filter((f) => f[1] !== undefined && f[2] === label && (Number(f[3]) > 0.5) !== (label === 'generated'))
      .sort((a, b) => (label === 'real' ? Number(b[3]) - Number(a[3]) : Number(a[3]) - Number(b[3])) || (a[0] < b[0] ? -1 : 1));
    const shown = (id: string) => {
      const part = html.split(`<section id="${id}">`)[1].split('</section>')[0];
      return [...part.matchAll(/<div class="prob">P\(generated\) ([0-9.]+)<\/div><div class="file" title="([^"]+)">/g)].map((m) => [m[2], m[1]]);
    };
    const expected = (label: string) => wrong(label).map((f) => [f[0], Number(f[3]).toFixed(4)]);
    expect(shown('real-called-generated')).toEqual(expected('real'));
    expect(shown('generated-called-real')).toEqual(expected('generated'));
    expect(wrong('real').length + wrong('generated').length).toBeGreaterThan(0);
    expect((html.match(/<img alt="source of /g) ?? []).length).toBe(wrong('real').length + wrong('generated').length);
    expect(html).not.toMatch(/<script|href=|url\(/i);
    await rm(join(cnn, 'progan', 'cat', '1_fake', 'broken.png'));
  });

  it('clear messages (exit 2) for a root without images or without class folders', async () => {
    await mkdir(join(tmp, 'empty', 'g', '0_real'), { recursive: true });
    await makeTree(join(tmp, 'flat'), ['g/real/a.png'], 1);
    const cases: Array<[string, RegExp]> = [
      ['empty', /dnf: no images found in .*empty \(looked for png/],
      ['flat', /dnf: .*flat: no images in 0_real\/1_fake \(CNNDetection\) or nature\/ai \(GenImage\) folders \(1 images elsewhere\)/],
    ];
    for (const [dir, message] of cases) {
      const r = dnf(tmp, 'eval', ['eval', join(tmp, dir), '--classifier', models.classifier, ...models.unetArgs, '--no-csv']);
      expect(r.code, dir).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});
