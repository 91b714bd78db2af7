/**
 * The page's Detect view in Chromium (WebGPU on SwiftShader; setup in test/browser-setup.ts): on
 * one run of the tiny UNet and the Bottleneck classifier over the fixture images and a broken one,
 * the summary line, the table (rows, sorting by P(generated)), the threshold slider relabelling
 * cards, table and summary, the CSV and JSON downloads (the fields of `dnf detect --csv/--json`,
 * compared with window.dnfResults), the zip of DNF PNGs (unzipped with fflate, decoded with sharp:
 * each the 8-bit DNF's bytes), Cancel mid-run and during a download, the idle page (no config
 * picker, no progress bar), the layout at 360 px (no sideways scroll, a long file name wrapping)
 * and useClassifier, the Train view's hand-over to Detect. Screenshots go to
 * test-output/browser/: desktop.png, table.png, narrow-360.png, narrow-360-table.png.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { unzipSync } from 'fflate';
import type { Browser, Download, Page } from 'playwright-core';
import sharp from 'sharp';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageResult } from '../web/main.js';
import { CHROMIUM, openPage, pickInputs, runPage, SCREENSHOTS, SLOW, startServer, state, WEBGPU_FLAGS, writeFixtures, type Fixtures } from './browser-setup.js';
import { classifierPth } from './detect-setup.js';

let server: ViteDevServer;
let url: string;
let fx: Fixtures;
/** The images of the run: the fixtures, one with a long name without spaces (it must wrap at 360 px), and a broken one. */
let inputs: string[];
let browser: Browser;
let page: Page;
let logs: string[];

/** What the page's results hold, minus the float DNF (not shown or saved). */
interface Seen {
  name: string;
  prob?: number;
  logit?: number;
  error?: string;
  dnfImage?: { width: number; height: number; data: number[] };
}
let results: Seen[];

const seenResults = () =>
  page.evaluate(() =>
    (window as unknown as { dnfResults: PageResult[] }).dnfResults.map((r) => ({
      name: r.name,
      prob: r.prob,
      logit: r.logit,
      error: r.error,
      dnfImage: r.dnfImage && { width: r.dnfImage.width, height: r.dnfImage.height, data: Array.from(r.dnfImage.data) },
    })),
  );

/** Sets the threshold slider as a user dragging it would (an input event per change). */
const setThreshold = (t: number) =>
  page.evaluate((v) => {
    const slider = document.getElementById('threshold') as HTMLInputElement;
    slider.value = String(v);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  }, t);

const labelAt = (prob: number, t: number) => (prob > t ? 'generated' : 'real');

/** The summary line the page must show for `rs` at threshold `t` (the time is matched, not compared). */
function summaryPattern(rs: Seen[], t: number): RegExp {
  const failed = rs.filter((r) => r.error).length;
  const probs = rs.filter((r) => r.prob !== undefined).map((r) => r.prob!);
  const generated = probs.filter((p) => p > t).length;
  return new RegExp(`^${rs.length} images: ${generated} generated, ${probs.length - generated} real at threshold ${t.toFixed(2)}, ${failed} failed, in [0-9.]+ (ms|s)$`);
}

/** The text of a download the page offers on clicking `selector`, with its suggested name. */
async function download(selector: string): Promise<{ name: string; bytes: Buffer }> {
  const [d] = await Promise.all([page.waitForEvent('download') as Promise<Download>, page.click(selector)]);
  const path = await d.path();
  return { name: d.suggestedFilename(), bytes: await readFile(path) };
}

/** A screenshot after two frames, so that a resize or a view switch has been painted. */
async function screenshot(name: string): Promise<void> {
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
}

/** The CSV field as RFC 4180 writes it: quoted when it holds a comma, quote or line break. */
const csvField = (v: string | number | undefined) => (v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set DNF_CHROMIUM`);
  fx = await writeFixtures();
  const long = join(fx.dir, 'a-photograph-with-a-very-long-file-name-and-no-spaces-to-break-it-at-0123456789.png');
  await copyFile(fx.images[0], long);
  inputs = [...fx.images, long, fx.broken];
  ({ server, url } = await startServer());
  ({ browser, page, logs } = await openPage(url, WEBGPU_FLAGS));
  await mkdir(SCREENSHOTS, { recursive: true });
}, SLOW);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (fx) await rm(fx.dir, { recursive: true, force: true });
});

describe('the Detect view in Chromium with WebGPU (SwiftShader)', { timeout: SLOW }, () => {
  it('idle: no config file picker, no progress bar, no results, Cancel hidden', async () => {
    expect(await state(page), logs.join('\n')).toBe('ready');
    // `hidden` used to lose against label{display:flex} and #progress{display:flex}.
    expect(await page.isVisible('#config-file')).toBe(false);
    expect(await page.isVisible('#progress')).toBe(false);
    expect(await page.isVisible('#outcome')).toBe(false);
    expect(await page.isVisible('#cancel')).toBe(false);
    expect(await page.isVisible('#train-view')).toBe(false);
    await page.selectOption('#config', 'json');
    expect(await page.isVisible('#config-file')).toBe(true);
  });

  it('runs the images, says the first one compiles the GPU kernels, and sums the results up', async () => {
    await pickInputs(page, fx, classifierPth, inputs);
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { progressSeen: string[] }).progressSeen = []);
      const text = document.getElementById('progress-text')!;
      new MutationObserver(() => seen.push(text.textContent ?? '')).observe(text, { childList: true, characterData: true, subtree: true });
    });
    expect(await runPage(page), logs.join('\n')).toBe('done');
    results = await seenResults();
    const n = inputs.length;
    expect(results.map((r) => r.name)).toEqual(inputs.map((p) => basename(p)));
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    const imageLines = seen.filter((l) => l.includes('Image '));
    expect(imageLines[0]).toBe(`Compiling GPU kernels (first image only)… Image 1 of ${n}: ${results[0].name}`);
    expect(imageLines[1]).toBe(`Image 2 of ${n}: ${results[1].name}`);
    expect(await page.textContent('#summary')).toMatch(summaryPattern(results, 0.5));
    expect(await page.isVisible('#cancel')).toBe(false);
    await screenshot('desktop.png');
  });

  it('shows the results as a table, sorted by P(generated) on a header click', async () => {
    await page.click('#show-table');
    expect(await page.isVisible('#results')).toBe(false);
    const rows = page.locator('#table tbody tr');
    expect(await rows.count()).toBe(results.length);
    const column = (i: number) => rows.evaluateAll((trs, c) => trs.map((tr) => (tr as HTMLTableRowElement).cells[c].textContent), i);
    expect(await column(1)).toEqual(results.map((r) => r.name));
    expect(await column(2)).toEqual(results.map((r) => (r.prob === undefined ? '' : r.prob.toFixed(4))));
    expect(await column(3)).toEqual(results.map((r) => (r.logit === undefined ? '' : r.logit.toFixed(3))));
    expect(await column(4)).toEqual(results.map((r) => (r.prob === undefined ? '' : labelAt(r.prob, 0.5))));
    expect(await column(6)).toEqual(results.map((r) => r.error ?? ''));

    const byProb = results.filter((r) => r.prob !== undefined).sort((a, b) => b.prob! - a.prob!);
    const failures = results.filter((r) => r.prob === undefined).map((r) => r.name);
    await page.click('#table th[data-key="prob"] button');
    expect(await page.getAttribute('#table th[data-key="prob"]', 'aria-sort')).toBe('descending');
    expect(await column(1)).toEqual([...byProb.map((r) => r.name), ...failures]);
    await screenshot('table.png');
    await page.click('#table th[data-key="prob"] button');
    expect(await page.getAttribute('#table th[data-key="prob"]', 'aria-sort')).toBe('ascending');
    // Ties (the long-named copy of rgba.png) keep the input order both ways.
    const byProbUp = results.filter((r) => r.prob !== undefined).sort((a, b) => a.prob! - b.prob!);
    expect(await column(1)).toEqual([...byProbUp.map((r) => r.name), ...failures]);
  });

  it('relabels cards, table and summary live as the threshold moves', async () => {
    const probs = results.filter((r) => r.prob !== undefined).map((r) => r.prob!).sort((a, b) => a - b);
    // A threshold on the slider's 0.01 grid with a different split than 0.5's.
    const t = Math.ceil(probs[1] * 100) / 100;
    expect(probs.filter((p) => p > t).length).not.toBe(probs.filter((p) => p > 0.5).length);
    await setThreshold(t);
    expect(await page.textContent('#threshold-value')).toBe(t.toFixed(2));
    expect(await page.textContent('#summary')).toMatch(summaryPattern(results, t));
    const labels = results.filter((r) => r.prob !== undefined).map((r) => labelAt(r.prob!, t));
    const tableLabels = await page.locator('#table tbody tr').evaluateAll((trs) =>
      trs.sort((a, b) => Number((a as HTMLElement).dataset.index) - Number((b as HTMLElement).dataset.index)).map((tr) => (tr as HTMLTableRowElement).cells[4].textContent),
    );
    expect(tableLabels.filter(Boolean)).toEqual(labels);
    await page.click('#show-cards');
    expect(await page.locator('#results .card .verdict').allTextContents()).toEqual(labels);
    await setThreshold(0.5);
    expect(await page.locator('#results .card .verdict').allTextContents()).toEqual(results.filter((r) => r.prob !== undefined).map((r) => labelAt(r.prob!, 0.5)));
  });

  it("downloads CSV and JSON lines in dnf detect's fields: {file, prob, logit, label}, {file, error}", async () => {
    const csv = await download('#save-csv');
    expect(csv.name).toBe('dnf-detect.csv');
    const lines = results.map((r) => (r.error ? [r.name, '', '', '', r.error] : [r.name, r.prob, r.logit, labelAt(r.prob!, 0.5), '']).map(csvField).join(','));
    expect(csv.bytes.toString('utf8')).toBe(['file,prob,logit,label,error', ...lines].join('\n') + '\n');

    const json = await download('#save-json');
    expect(json.name).toBe('dnf-detect.jsonl');
    const objects = json.bytes.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    // JSON numbers round-trip doubles exactly: the saved prob and logit are the page's own.
    expect(objects).toEqual(results.map((r) => (r.error ? { file: r.name, error: r.error } : { file: r.name, prob: r.prob, logit: r.logit, label: labelAt(r.prob!, 0.5) })));
  });

  it('saves all DNFs as a zip of PNGs that decode to the 8-bit DNF bytes', async () => {
    const zip = await download('#save-zip');
    expect(zip.name).toBe('dnf-images.zip');
    const entries = unzipSync(new Uint8Array(zip.bytes));
    const done = results.filter((r) => r.dnfImage);
    // '<stem>.dnf.png'; a second image with the same stem keeps its extension (exif-rotated.png and .jpg).
    const stems = done.map((r) => r.name.replace(/\.[^.]*$/, ''));
    const names = done.map((r, i) => (stems.indexOf(stems[i]) < i ? `${r.name}.dnf.png` : `${stems[i]}.dnf.png`));
    expect(names).toContain('exif-rotated.jpg.dnf.png');
    expect(Object.keys(entries)).toEqual(names);
    for (const [i, r] of done.entries()) {
      const png = entries[names[i]];
      const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height], r.name).toEqual([r.dnfImage!.width, r.dnfImage!.height]);
      expect(Array.from(data.filter((_, i) => i % 4 === 3)).every((a) => a === 255), r.name).toBe(true);
      expect(Array.from(data.filter((_, i) => i % 4 !== 3)), r.name).toEqual(r.dnfImage!.data);
    }
  });

  it('fits 360 px without sideways scrolling, cards and table alike', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    const scrollWidth = () => page.evaluate(() => document.scrollingElement!.scrollWidth);
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await screenshot('narrow-360.png');
    await page.click('#show-table');
    expect(await scrollWidth()).toBeLessThanOrEqual(360);
    await screenshot('narrow-360-table.png');
    await page.click('#show-cards');
    await page.setViewportSize({ width: 1000, height: 760 });
  });

  it('Cancel mid-run: stops after the image in flight, keeps the results so far, back to ready', async () => {
    const n = inputs.length;
    await page.click('#run');
    await page.waitForFunction(() => (window as unknown as { dnfResults: PageResult[] }).dnfResults.length >= 1, null, { timeout: SLOW, polling: 'raf' });
    expect(await page.isVisible('#cancel')).toBe(true);
    await page.click('#cancel');
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: SLOW });
    const partial = await seenResults();
    expect(partial.length).toBeGreaterThanOrEqual(1);
    expect(partial.length).toBeLessThan(n);
    expect(partial).toEqual(results.slice(0, partial.length)); // the same numbers as the full run
    expect(await page.textContent('#progress-text')).toBe(`Cancelled after ${partial.length} of ${n} images; the results so far are kept.`);
    expect(await page.textContent('#summary')).toMatch(new RegExp(`^${partial.length} images?: `));
    expect(await page.locator('#results .card').count()).toBe(partial.length);
    expect(await page.isVisible('#cancel')).toBe(false);
    expect(await page.isDisabled('#run')).toBe(false);
  });

  it('Cancel during a model download: back to ready, nothing computed', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await page.route('https://weights.example/**', async (route) => {
      await gate;
      await route.fulfill({ path: fx.unet, headers: { 'access-control-allow-origin': '*' } });
    });
    await page.fill('#unet-url', 'https://weights.example/tiny-unet.safetensors');
    await page.click('#run');
    await page.waitForFunction(() => document.body.dataset.state === 'loading');
    await page.click('#cancel');
    release();
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: SLOW });
    expect(await page.textContent('#progress-text')).toBe('Cancelled while loading the models.');
    expect(await page.evaluate(() => (window as unknown as { dnfResults: PageResult[] }).dnfResults.length)).toBe(0);
    expect(await page.isVisible('#error')).toBe(false);
  });

  it('switches between the Detect and Train tabs', async () => {
    await page.click('#tab-train');
    expect(await page.isVisible('#train-view')).toBe(true);
    expect(await page.isVisible('#detect-view')).toBe(false);
    expect(await page.getAttribute('#tab-train', 'aria-selected')).toBe('true');
    await page.click('#tab-detect');
    expect(await page.isVisible('#detect-view')).toBe(true);
    expect(await page.isVisible('#train-view')).toBe(false);
  });

  it("useClassifier (the Train view's hand-over) makes the next Detect run use those weights", async () => {
    // Without the hand-over the run would read its classifier from this URL (the route above: not one).
    await page.setInputFiles('#classifier-file', []);
    await page.fill('#classifier-url', 'https://weights.example/other.safetensors');
    await page.click('#tab-train');
    // The page's own module (Vite serves it at /main.ts), called as the Train view calls it.
    const b64 = (await readFile(classifierPth)).toString('base64');
    await page.evaluate(`(async () => {
      const { useClassifier } = await import(location.origin + '/main.ts');
      useClassifier(Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0)), 'trained.pth');
    })()`);
    expect(await page.isVisible('#detect-view')).toBe(true);
    expect(await page.$eval('#classifier-file', (i: HTMLInputElement) => i.files?.[0]?.name)).toBe('trained.pth');
    expect(await page.inputValue('#classifier-url')).toBe(''); // the picked file replaces the URL, as a user's pick does
    await page.setInputFiles('#unet-file', fx.unet);
    await page.setInputFiles('#images', inputs.slice(0, 2));
    expect(await runPage(page), logs.join('\n')).toBe('done');
    const got = await seenResults();
    expect(got.map((r) => [r.name, r.prob])).toEqual(results.slice(0, 2).map((r) => [r.name, r.prob]));
  });
});
