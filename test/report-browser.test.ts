/**
 * The report of `dnf eval --report` in headless Chromium (playwright-core, /usr/bin/chromium as in
 * test/browser-setup.ts), opened as a file:// URL with no server: a report over three synthetic
 * subsets of 240 images (well, barely and not separated) and a real-only one, with mistakes whose
 * source images are files on disk, format findings and a robustness plot in their slots. The page
 * must load without a console message or page error, request nothing but its own file, show
 * the metrics table's rows as `dnf eval` computes them, and every image must decode (curves,
 * thumbnails). Screenshot: test-output/report.png (its path is printed).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalRows } from '../src/cli/eval.js';
import { MistakeCollector } from '../src/node/report/mistakes.js';
import { renderVegaLiteSvg as renderSvg } from '../src/plot-svg.js';
import { writeEvalReport } from '../src/node/report/write.js';
import { BASE_FLAGS, CHROMIUM, repo } from './browser-setup.js';

let tmp: string;
let browser: Browser;
const SCREENSHOT = join(repo, 'test-output', 'report.png');

/** Deterministic uniform numbers in [0, 1) (a small LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Noise pixels standing in for an image or its DNF. */
function noise(size: number, rand: () => number, tint: number) {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i % 3 === tint ? 96 : 0) + Math.floor(rand() * 160);
  return { width: size, height: size, data };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dnf-report-browser-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: BASE_FLAGS, timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('report.html in Chromium', { timeout: 180_000 }, () => {
  it('loads offline without errors or requests, shows every row, decodes every image; screenshot', async () => {
    const rand = lcg(7);
    const subsets = [['adm', 2.5], ['sdv1', 1], ['vqdiffusion', 0], ['onlyreal', 1]] as const;
    const mistakes = new MistakeCollector(0.5);
    const predictions = [];
    for (const [subset, separation] of subsets) {
      await mkdir(join(tmp, subset), { recursive: true });
      for (let i = 0; i < 240; i++) {
        const label = subset === 'onlyreal' || i % 2 === 0 ? 0 : 1;
        // A logit normal around +-separation: a classifier that separates this subset that well.
        const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
        const prob = Math.fround(1 / (1 + Math.exp(-(z + (label ? separation : -separation)))));
        const file = join(tmp, subset, `${label ? 'fake' : 'real'}-${String(i).padStart(3, '0')}.png`);
        const p = { file, subset, label: label as 0 | 1, prob, logit: 0 };
        predictions.push(p);
        const wrong = (prob > 0.5) !== (label === 1);
        if (wrong) await sharp(Buffer.from(noise(48, rand, label ? 0 : 2).data), { raw: { width: 48, height: 48, channels: 3 } }).png().toFile(file);
        mistakes.offer(p, noise(32, rand, 1));
      }
    }
    const names = subsets.map(([s]) => s);
    const rows = evalRows(names, predictions, 0.5);
    const robustness = await renderSvg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'sample data of this test',
      width: 300,
      height: 160,
      data: { values: [100, 90, 75, 50].flatMap((q, i) => names.slice(0, 3).map((s, j) => ({ q, s, ap: 1 - 0.05 * i * (j + 1) }))) },
      mark: { type: 'line', point: true },
      encoding: { x: { field: 'q', type: 'quantitative', title: 'JPEG quality' }, y: { field: 'ap', type: 'quantitative', title: 'AP' }, color: { field: 's', type: 'nominal' } },
    });
    const path = await writeEvalReport(join(tmp, 'report'), {
      title: 'dnf eval: synthetic',
      root: tmp,
      facts: [['root', tmp], ['threshold', '0.5']],
      rows,
      predictions,
      subsets: names,
      mistakes,
      failures: [{ file: join(tmp, 'adm', 'broken.png'), error: 'cannot decode image (truncated)' }],
      formatFindings: ['adm: 0_real: 120 JPEG q~75, 48x48; 1_fake: 120 PNG, 48x48 (sample finding of this test)'],
      robustness: { svg: robustness, caption: 'AP against JPEG quality (sample data of this test)' },
    });

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const logs: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(path).href;
    await page.goto(url, { waitUntil: 'load' });

    const shown = await page.$$eval('#metrics-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    const pct = (v: number | null) => (v === null ? 'n/a' : (100 * v).toFixed(2));
    expect(shown.map((r) => r[0])).toEqual([...names, 'mean', 'total']);
    expect(shown.map((r) => [r[1], r[4], r[5], r[8], r[9], r[11], r[12], r[13]])).toEqual(rows.map((r) => [
      r.count === null ? '' : String(r.count), pct(r.acc), pct(r.ap), pct(r.auc), pct(r.oracleAcc), pct(r.tprAtFpr1), pct(r.tprAtFpr5), pct(r.ece),
    ]));
    expect(shown.find((r) => r[0] === 'onlyreal')!.slice(8, 10)).toEqual(['n/a', 'n/a']);
    const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ alt: i.alt, ok: i.complete && i.naturalWidth > 0 })));
    expect(images.filter((i) => !i.ok)).toEqual([]);
    // Three subsets and the pooled set have curves; each card two thumbnails (source and DNF).
    expect(images.filter((i) => i.alt.startsWith('ROC')).length).toBe(4);
    const cards = await page.$$eval('.card', (cs) => cs.length);
    const kept = await mistakes.cards();
    expect(cards).toBe(kept.realCalledFake.length + kept.fakeCalledReal.length);
    expect(kept.realCalledFake.length).toBe(16); // onlyreal alone has more than 16 real images called generated
    expect(images.filter((i) => i.alt.startsWith('source of')).length).toBe(cards);
    expect(await page.textContent('#format')).toContain('1_fake: 120 PNG');
    expect(await page.textContent('#failures')).toContain('adm/broken.png: cannot decode image (truncated)');
    expect(await page.getAttribute('.card .file', 'title')).toBe(kept.realCalledFake[0].file);
    expect(await page.textContent('.card .file')).toBe(kept.realCalledFake[0].file.slice(tmp.length + 1));
    expect(logs).toEqual([]);
    expect(requests).toEqual([url]);

    await mkdir(join(repo, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`report screenshot: ${SCREENSHOT}`);
    await page.close();
  });
});
