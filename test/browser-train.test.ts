/**
 * The Train view (web/train-view.ts, on web/train.html) in Chromium with WebGPU on SwiftShader,
 * against `dnf train` in Node on SwiftShader (bin/dnf.js, so `npm run build` first):
 * - a tiny run picked through the view's folder inputs (4 real and 4 generated 32x32 DNF-like PNGs
 *   of test/fixtures/train-loop, 2 + 2 more for validation; resnet18 at image size 32, batch 4,
 *   2 epochs, lr 1e-3, seed 7, seeded shuffle and flips): the downloaded best.safetensors holds
 *   the tensors and metadata of the best.safetensors that `dnf train` writes for the same files and
 *   settings, and Node's classifier loader (what `dnf detect --classifier` uses) takes it; "Use in
 *   Detect" hands over the same bytes; the view with its curve is saved as
 *   test-output/browser/train.png, and at 360 px (test-output/browser/train-360.png) it does not
 *   scroll sideways;
 * - Cancel stops a long run after the step in flight, and the view can start again; a missing class
 *   is one line; files dropped on a zone are counted (other files left out);
 * - source images on the main page (web/index.html), the tiny golden UNet picked in its Detect view
 *   (test/detect-setup.ts): 4 real and 4 generated PNGs of sizes around the UNet's 12 pixels and a
 *   truncated PNG among the generated ones, no validation folders, the settings above: the view
 *   computes their DNFs, says the broken file in one line and leaves it out, and the downloaded
 *   best.safetensors is byte for byte the one `dnf train --images --unet U` writes; without a UNet
 *   the view says to pick one in the Detect view; Cancel stops the DNFs of 105 images after the one
 *   in flight, before any training.
 * The page and Node run the same kernels on the same SwiftShader through different Dawn builds
 * (Chromium's and the webgpu package's); the weights are compared bit for bit (see the test for
 * the measured difference).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu } from '../src/node/acquire.js';
import { loadClassifier } from '../src/node/classifier.js';
import { bytesSource, SafetensorsFile } from '../src/weights/safetensors.js';
import { CHROMIUM, openPage, SCREENSHOTS, startServer, WEBGPU_FLAGS } from './browser-setup.js';
import { pattern, repo, writeModels, type Models } from './detect-setup.js';

const OUT = SCREENSHOTS;
const SLOW = 480_000; // SwiftShader on 2 shared cores: resnet18's shaders compile for tens of seconds
/** `dnf train`'s 4 steps and 2 validations of resnet18 on SwiftShader: measured 3m37s on 2 shared cores. */
const NODE_RUN = 900_000;

/** The run's settings, as the view's fields and as `dnf train` flags. */
const SETTINGS = { size: '32', batch: '4', epochs: '2', lr: '0.001', seed: '7' };
const FLAGS = ['--arch', 'resnet18', '--image-size', '32', '--batch-size', '4', '--epochs', '2', '--lr', '0.001', '--seed', '7'];

let dir: string;
let server: ViteDevServer;
let url: string;
/** Folders given to the view, and the same files as dnf train's roots. */
const folders = { real: '', fake: '', valReal: '', valFake: '', root: '', valRoot: '' };
let nodeBest: Uint8Array;
/** The source-image run: its picked folders (also dnf train --images' root), the UNet, Node's best.safetensors and stderr. */
const sources = { real: '', fake: '', root: '', best: new Uint8Array(), stderr: '' };
let models: Models;

/** Source PNGs of sizes around the tiny UNet's 12 pixels (resized up and down), and a truncated one among the generated. */
async function writeSources(): Promise<void> {
  const sizes = [[16, 14], [12, 12], [9, 13], [20, 10]];
  for (const [cls, folder, seed] of [['0_real', sources.real, 3], ['1_fake', sources.fake, 11]] as const) {
    for (const d of [folder, join(sources.root, cls)]) {
      await mkdir(d, { recursive: true });
      for (const [i, [w, h]] of sizes.entries()) await pattern(w, h, seed + i).png().toFile(join(d, `s${i}.png`));
      if (cls === '1_fake') await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'truncated.png'), join(d, 'truncated.png'));
    }
  }
}

/** `dnf --backend swiftshader train ARGS` in a child process: its exit status and stderr. */
function dnfTrain(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'bin', 'dnf.js'), '--backend', 'swiftshader', 'train', ...args], { cwd: dir, timeout: NODE_RUN, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** The fixture's first `n` images of a class into `to` (which becomes a picked folder). */
async function copyImages(split: 'train' | 'val', cls: '0_real' | '1_fake', n: number, to: string[]): Promise<void> {
  for (const d of to) await mkdir(d, { recursive: true });
  for (let i = 0; i < n; i++) {
    for (const d of to) await copyFile(join(repo, 'test', 'fixtures', 'train-loop', split, cls, `${i}.png`), join(d, `${i}.png`));
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set DNF_CHROMIUM`);
  dir = await mkdtemp(join(tmpdir(), 'dnf-browser-train-'));
  Object.assign(folders, {
    real: join(dir, 'pick', 'my-real'), fake: join(dir, 'pick', 'my-generated'),
    valReal: join(dir, 'pick', 'val-real'), valFake: join(dir, 'pick', 'val-generated'),
    root: join(dir, 'root'), valRoot: join(dir, 'val-root'),
  });
  await copyImages('train', '0_real', 4, [folders.real, join(folders.root, '0_real')]);
  await copyImages('train', '1_fake', 4, [folders.fake, join(folders.root, '1_fake')]);
  await copyImages('val', '0_real', 2, [folders.valReal, join(folders.valRoot, '0_real')]);
  await copyImages('val', '1_fake', 2, [folders.valFake, join(folders.valRoot, '1_fake')]);
  // The two Node runs at once (each compiles resnet18's shaders on SwiftShader, mostly on one core).
  const run = join(dir, 'run');
  Object.assign(sources, { real: join(dir, 'pick', 'photos'), fake: join(dir, 'pick', 'generated-photos'), root: join(dir, 'source-root') });
  models = await writeModels(dir);
  await writeSources();
  const imagesRun = join(dir, 'images-run');
  const [r, ri] = await Promise.all([
    dnfTrain([folders.root, '--val', folders.valRoot, '-o', run, ...FLAGS]),
    dnfTrain([sources.root, '--val', sources.root, '-o', imagesRun, '--images', ...models.unetArgs, ...FLAGS]),
  ]);
  expect(r.status, r.stderr).toBe(0);
  nodeBest = new Uint8Array(await readFile(join(run, 'best.safetensors')));
  sources.stderr = ri.stderr;
  console.log(`dnf train --images: exit ${ri.status}; ${ri.stderr.split('\n').filter((l) => /^(extract|train):/.test(l)).join(' | ')}`);
  sources.best = new Uint8Array(await readFile(join(imagesRun, 'best.safetensors')));

  let base: string;
  ({ server, url: base } = await startServer());
  url = `${base}train.html`;
}, 2 * NODE_RUN + SLOW);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const viewState = (page: Page) => page.evaluate(() => document.getElementById('train-view')!.dataset.state);

async function fillSettings(page: Page, settings: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(settings)) await page.fill(`#train-${id}`, value);
}

function tensorsOf(bytes: Uint8Array) {
  return SafetensorsFile.open(bytesSource('best.safetensors', bytes));
}

describe('the Train view in Chromium with WebGPU (SwiftShader)', { timeout: SLOW }, () => {
  let browser: Browser;
  let page: Page;
  let logs: string[] = [];

  beforeAll(async () => {
    ({ browser, page, logs } = await openPage(url, WEBGPU_FLAGS, undefined, { width: 1000, height: 900 }));
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
  });

  it("trains on picked folders to Node's best.safetensors, downloads it and hands it to Detect", async () => {
    expect(await page.evaluate(() => document.body.dataset.state), logs.join('\n')).toBe('ready');
    await page.setInputFiles('#train-real', folders.real);
    await page.setInputFiles('#train-fake', folders.fake);
    await page.setInputFiles('#train-val-real', folders.valReal);
    await page.setInputFiles('#train-val-fake', folders.valFake);
    expect(await page.textContent('#train-real-count')).toBe('my-real: 4 images');
    await fillSettings(page, SETTINGS);
    // The command the view shows is the one run in Node above.
    expect(await page.textContent('#train-command')).toContain(`dnf train ROOT --val VAL_ROOT -o RUN ${FLAGS.join(' ')} (ROOT/0_real`);

    await page.click('#train-start');
    await page.waitForFunction(() => ['done', 'failed', 'cancelled'].includes(document.getElementById('train-view')!.dataset.state!), null, { timeout: SLOW });
    expect(await viewState(page), `${await page.textContent('.train-error')}\n${logs.join('\n')}`).toBe('done');
    const log = await page.locator('#train-log li').allTextContents();
    expect(log[0]).toBe('resnet18 at 32x32, batch 4, 8 training images (4 real, 4 generated), 4 validation images; seed 7');
    expect(log.filter((l) => l.startsWith('epoch '))).toHaveLength(2);
    expect(await page.textContent('#train-status')).toMatch(/^Done after 4 steps \(all epochs done\): best val acc .* at epoch [12]\.$/);
    // The curve: one loss point per step, accuracy and AP after each epoch.
    expect(await page.locator('#train-curve polyline.loss').getAttribute('points')).toMatch(/^(\S+ ){3}\S+$/);
    expect(await page.locator('#train-curve circle.acc').count()).toBe(2);
    await mkdir(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'train.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
    expect(download.suggestedFilename()).toBe('best.safetensors');
    const saved = join(dir, 'page-best.safetensors');
    await download.saveAs(saved);
    const pageBest = new Uint8Array(await readFile(saved));

    const got = await tensorsOf(pageBest);
    const want = await tensorsOf(nodeBest);
    expect(got.metadata).toEqual(want.metadata);
    expect(got.names()).toEqual(want.names());
    let maxDiff = 0;
    let differing = 0;
    for (const name of want.names()) {
      expect(got.info(name).shape, name).toEqual(want.info(name).shape);
      const [a, b] = [await got.readF32(name), await want.readF32(name)];
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (d > 0) differing++;
        maxDiff = Math.max(maxDiff, d);
      }
    }
    console.log(`page vs dnf train: ${want.names().length} tensors, max |diff| ${maxDiff}, ${differing} values differ; files ${Buffer.compare(Buffer.from(pageBest), Buffer.from(nodeBest)) === 0 ? 'identical' : 'differ'}`);
    // Same kernels, data order, flips and init on the same SwiftShader: the weights are Node's bit for bit.
    expect(maxDiff).toBe(0);
    expect(Buffer.from(pageBest).equals(Buffer.from(nodeBest))).toBe(true);

    // What `dnf detect --classifier` reads it with takes the download, with its input size.
    const gpu = await acquireGpu({ backend: 'swiftshader' });
    try {
      const loaded = await loadClassifier(gpu, saved);
      expect(loaded.inputSize).toBe(32);
      loaded.model.dispose();
    } finally {
      gpu.destroy();
    }

    await page.click('#train-use');
    // The bytes themselves (45 MB) stay in the page: their SHA-256 comes back.
    const used = await page.evaluate(async () => {
      const { name, bytes } = window.dnfUsedClassifier!;
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
      return { name, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
    });
    expect(used).toEqual({ name: 'best.safetensors', sha256: createHash('sha256').update(pageBest).digest('hex') });

    await page.setViewportSize({ width: 360, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(OUT, 'train-360.png'), fullPage: true });
    await page.setViewportSize({ width: 1000, height: 900 });
  });

  it('Cancel stops a long run after the step in flight', async () => {
    const points = async () => ((await page.locator('#train-curve polyline.loss').getAttribute('points')) ?? '').split(' ').filter(Boolean).length;
    await fillSettings(page, { epochs: '200' });
    await page.click('#train-start');
    await page.waitForFunction(() => /^Epoch /.test(document.getElementById('train-status')!.textContent ?? ''), null, { timeout: SLOW });
    await page.click('#train-cancel');
    const atClick = await points();
    await page.waitForFunction(() => document.getElementById('train-view')!.dataset.state !== 'training', null, { timeout: SLOW });
    expect(await viewState(page), await page.textContent('.train-error') ?? '').toBe('cancelled');
    const status = (await page.textContent('#train-status'))!;
    const steps = Number(/^Cancelled after (\d+) steps \(cancelled\)/.exec(status)?.[1]);
    expect(steps, status).toBeGreaterThanOrEqual(1);
    expect(steps).toBeLessThanOrEqual(atClick + 1); // the step in flight at the click ends, no other begins
    expect(await points()).toBe(steps);
    await page.waitForTimeout(3000);
    expect(await points()).toBe(steps); // nothing trains on after Cancel
    expect(await page.isDisabled('#train-start')).toBe(false);
    expect(await page.isDisabled('#train-cancel')).toBe(true);
  });

  it('says in one line what is missing when a class has no images', async () => {
    const notes = join(dir, 'pick', 'no-images');
    await mkdir(notes, { recursive: true });
    await writeFile(join(notes, 'notes.txt'), 'not an image');
    await page.setInputFiles('#train-fake', notes);
    expect(await page.textContent('#train-fake-count')).toBe('no-images: 0 images (1 other file left out)');
    await page.click('#train-start');
    await page.waitForFunction(() => document.getElementById('train-view')!.dataset.state === 'failed', null, { timeout: 30_000 });
    expect(await page.textContent('.train-error')).toBe('no generated training images: pick or drop a folder of them (training needs both classes)');
    expect(await page.isDisabled('#train-start')).toBe(false);
  });

  it('takes files dropped on a zone', async () => {
    await page.evaluate(() => {
      const data = new DataTransfer();
      for (const name of ['a.png', 'b.png', 'notes.txt']) data.items.add(new File([new Uint8Array(4)], name));
      document.getElementById('train-val-real-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => document.getElementById('train-val-real-count')!.textContent !== 'val-real: 2 images', null, { timeout: 10_000 });
    expect(await page.textContent('#train-val-real-count')).toBe('dropped files: 2 images (1 other file left out)');
  });
});

describe("the Train view on source images, with the Detect view's UNet", { timeout: SLOW }, () => {
  let browser: Browser;
  let page: Page;
  let logs: string[] = [];

  beforeAll(async () => {
    ({ browser, page, logs } = await openPage(url.replace(/train\.html$/, ''), WEBGPU_FLAGS, undefined, { width: 1000, height: 900 }));
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
  });

  it('says to pick a UNet in the Detect view when none is chosen', async () => {
    expect(await page.evaluate(() => document.body.dataset.state), logs.join('\n')).toBe('ready');
    await page.click('#tab-train');
    await page.selectOption('#train-input', 'source');
    await page.setInputFiles('#train-real', sources.real);
    await page.setInputFiles('#train-fake', sources.fake);
    expect(await page.textContent('#train-fake-count')).toBe('generated-photos: 5 images');
    expect(await page.textContent('#train-command')).toContain('dnf train ROOT --val ROOT -o RUN --images --unet UNET --arch');
    await page.click('#train-start');
    await page.waitForFunction(() => document.getElementById('train-view')!.dataset.state === 'failed', null, { timeout: 30_000 });
    expect(await page.textContent('.train-error')).toBe('source images: pick UNet weights in the Detect view first (its UNet computes their DNFs)');
  });

  it("computes the DNFs with the Detect view's UNet and trains to the best.safetensors of dnf train --images", async () => {
    await page.click('#tab-detect');
    await page.selectOption('#config', 'json');
    await page.setInputFiles('#config-file', models.config);
    await page.setInputFiles('#unet-file', models.unet);
    await page.click('#tab-train');
    await fillSettings(page, SETTINGS);
    // The command the view shows is the one run in Node above, with the Detect view's UNet.
    expect(await page.textContent('#train-command')).toContain(`dnf train ROOT --val ROOT -o RUN --images --unet tiny-unet.safetensors --model-config tiny-unet.json ${FLAGS.join(' ')} (ROOT/0_real`);

    await page.click('#train-start');
    await page.waitForFunction(() => ['done', 'failed', 'cancelled'].includes(document.getElementById('train-view')!.dataset.state!), null, { timeout: SLOW });
    expect(await viewState(page), `${await page.textContent('.train-error')}\n${logs.join('\n')}`).toBe('done');
    const log = await page.locator('#train-log li').allTextContents();
    // The broken file: one line, left out, as extract leaves it out of the cache Node trains on.
    expect(log[0]).toBe('generated-photos/truncated.png: cannot decode image (corrupt, truncated, or a format this browser cannot read): convert it to PNG (left out)');
    expect(sources.stderr).toContain('truncated.png');
    expect(log[1]).toBe("DNFs of 8 source images computed with the Detect view's UNet; 1 left out");
    expect(log[2]).toBe('resnet18 at 32x32, batch 4, 8 training images (4 real, 4 generated), 8 validation images (the training images); seed 7');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
    const saved = join(dir, 'page-images-best.safetensors');
    await download.saveAs(saved);
    const pageBest = new Uint8Array(await readFile(saved));
    const got = await tensorsOf(pageBest);
    const want = await tensorsOf(sources.best);
    expect(got.metadata).toEqual(want.metadata);
    let maxDiff = 0;
    for (const name of want.names()) {
      const [a, b] = [await got.readF32(name), await want.readF32(name)];
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    }
    console.log(`page vs dnf train --images: max |diff| ${maxDiff}`);
    // The same UNet kernels, quantisation, data order, flips and init on the same SwiftShader: Node's file bit for bit.
    expect(Buffer.from(pageBest).equals(Buffer.from(sources.best))).toBe(true);
  });

  it('Cancel stops the DNFs after the image in flight, before any training', async () => {
    const many = join(dir, 'pick', 'many-photos');
    await mkdir(many, { recursive: true });
    for (let i = 0; i < 100; i++) await pattern(12, 12, 50 + i).png().toFile(join(many, `m${i}.png`));
    await page.setInputFiles('#train-real', many);
    await page.click('#train-start');
    await page.waitForFunction(() => /^Computing DNFs: /.test(document.getElementById('train-status')!.textContent ?? ''), null, { timeout: SLOW });
    await page.click('#train-cancel');
    await page.waitForFunction(() => document.getElementById('train-view')!.dataset.state !== 'training', null, { timeout: SLOW });
    expect(await viewState(page), (await page.textContent('.train-error')) ?? '').toBe('cancelled');
    const status = (await page.textContent('#train-status'))!;
    const done = Number(/^Cancelled while computing DNFs, after (\d+) of 105\.$/.exec(status)?.[1]);
    expect(done, status).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(105);
    expect(await page.locator('#train-log li').count()).toBe(0); // no training began (the broken file comes last: m*, s* before truncated)
    expect(await page.isDisabled('#train-start')).toBe(false);
  });
});
