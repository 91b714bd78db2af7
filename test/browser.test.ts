/**
 * The web page (web/) in a real browser: Debian's Chromium, headless, driven by playwright-core
 * (no browser download), WebGPU on SwiftShader, the page served by Vite's dev server on an
 * ephemeral port. Through the page's own controls it runs the tiny UNet of tools/golden/unet.py
 * (config and layout from test/fixtures/golden/unet.safetensors, synthetic weights from
 * test/synthetic-weights.ts, as test/extract-cli.test.ts builds them) and the small Bottleneck
 * classifier (test/fixtures/checkpoints/resnet-bottleneck.zip.pth, converted in the page) on PNG
 * variants (RGBA with transparent pixels, gray, gray+alpha, palette, 16-bit, ICC-tagged, EXIF-
 * rotated), an EXIF-rotated JPEG, a lossless WebP and a GIF with a transparent index and a logical
 * screen larger than its frame (decoded by src/image/gif.ts on both sides). The page's numbers
 * must be Node's for the same files on the same adapter family (Dawn on SwiftShader's Vulkan,
 * DNF_BACKEND=swiftshader): identical decoded pixels and 8-bit DNF, float DNF and P(generated)
 * within 1e-5. A CMYK JPEG, which Chromium converts with its own rounding, is held to 1 level of
 * Node's decoded pixels (its DNF then differs and is not compared). Also: a broken
 * image, weights that do not fit the config, and Chromium without WebGPU each give their one-
 * sentence message. The result page is saved as test-output/browser/result.png.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDnf } from '../src/diffusion/dnf.js';
import { classifyDnfImages, type Verdict } from '../src/pipeline/classify.js';
import { decodeImageFile } from '../src/image/decode-node.js';
import type { RgbImage } from '../src/image/pixels.js';
import { imagesToTensor } from '../src/pipeline/preprocess.js';
import { quantizeDnf } from '../src/kernels/quantize.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig } from '../src/models/unet-config.js';
import { acquireGpu } from '../src/node/acquire.js';
import { loadClassifier } from '../src/node/classifier.js';
import { openSafetensors, writeSafetensorsFile } from '../src/node/files.js';
import type { PageResult } from '../web/main.js';
import { classifierPth } from './detect-setup.js';
import { synth, type Layout } from './synthetic-weights.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.DNF_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = join(repo, 'test-output', 'browser', 'result.png');
/** Headless Chromium without the GPU process sandbox (root in CI) and without background traffic. */
const BASE_FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
/**
 * WebGPU on Linux needs the unsafe flag. SwiftShader's Vulkan is the adapter even where a GPU exists
 * (the library Node's DNF_BACKEND=swiftshader loads, from the same chromium package), ANGLE too.
 */
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];
const SLOW = 240_000; // SwiftShader on 2 shared cores: compiles and runs take tens of seconds

let dir: string;
let server: ViteDevServer;
let url: string;
const files = { unet: '', config: '', broken: '' };
/** The good images, in the order they are given to the page. */
let images: string[];

/** Images whose browser decode may differ from Node's by one level (Chromium's CMYK conversion). */
const NEAR = new Set(['cmyk.jpg']);

/** What Node computes for each good image: decoded pixels, float DNF, 8-bit DNF, verdict. */
let want: Array<{ input: RgbImage; dnf: Float32Array; dnfImage: RgbImage; verdict: Verdict }>;

/** Deterministic bytes: value i of a pattern that depends on `seed`. */
const byte = (i: number, seed: number) => (i * seed + (i >> 4) * 29 + ((i * i) >> 6)) % 256;

/** The image variants, named by what they exercise (sizes around the UNet's 12 to exercise the resize). */
async function imageVariants(): Promise<Record<string, Buffer>> {
  const raw = (w: number, h: number, channels: 1 | 2 | 3 | 4, seed: number, alpha?: number[]) => {
    const px = Buffer.alloc(w * h * channels);
    for (let i = 0; i < px.length; i++) px[i] = alpha && i % channels === channels - 1 ? alpha[(i / channels) % alpha.length | 0] : byte(i, seed);
    return sharp(px, { raw: { width: w, height: h, channels } });
  };
  const deep = new Uint16Array(15 * 13 * 3).map((_, i) => (i * 9973 + 1234) % 65536);
  // Alpha 0 keeps its colour in Node (PIL drops alpha without compositing); partial alphas must not premultiply.
  const alphas = [255, 0, 128, 7, 255, 200];
  return {
    'rgba.png': await raw(16, 14, 4, 37, alphas).png().toBuffer(),
    'gray.png': await raw(13, 11, 1, 29).toColourspace('b-w').png().toBuffer(),
    'gray-alpha.png': await raw(12, 12, 2, 17, alphas).toColourspace('b-w').png().toBuffer(),
    'palette.png': await raw(20, 9, 4, 7, alphas).png({ palette: true }).toBuffer(),
    'rgb16.png': await sharp(deep, { raw: { width: 15, height: 13, channels: 3 } }).toColourspace('rgb16').png().toBuffer(),
    'icc-p3.png': await raw(16, 14, 3, 11).withIccProfile('p3').png().toBuffer(),
    'exif-rotated.png': await raw(16, 14, 3, 13).withMetadata({ orientation: 6 }).png().toBuffer(),
    'exif-rotated.jpg': await raw(16, 14, 3, 19).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toBuffer(),
    'lossless.webp': await raw(14, 16, 3, 23).webp({ lossless: true }).toBuffer(),
    'transparent.gif': await readFile(join(repo, 'test', 'fixtures', 'images', 'pil', 'screen_trns.gif')),
    'cmyk.jpg': await readFile(join(repo, 'test', 'fixtures', 'images', 'pil', 'cmyk.jpg')),
  };
}

async function writeFixtures(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'dnf-browser-'));
  const golden = await openSafetensors(join(repo, 'test', 'fixtures', 'golden', 'unet.safetensors'));
  const layout = JSON.parse(golden.file.metadata.keys) as Layout;
  files.config = join(dir, 'tiny-unet.json');
  await writeFile(files.config, golden.file.metadata.config);
  await golden.close();
  files.unet = join(dir, 'tiny-unet.safetensors');
  await writeSafetensorsFile(files.unet, layout.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: synth(name, shape) })));
  images = [];
  for (const [name, bytes] of Object.entries(await imageVariants())) {
    images.push(join(dir, name));
    await writeFile(join(dir, name), bytes);
  }
  files.broken = join(dir, 'truncated.png');
  await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'truncated.png'), files.broken);
}

/** Node's results for the images, image by image as the page runs them, on SwiftShader. */
async function nodeResults(): Promise<typeof want> {
  const gpu = await acquireGpu({ backend: 'swiftshader' });
  try {
    const config = parseUnetConfig(JSON.parse(await readFile(files.config, 'utf8')), files.config);
    const { file, close } = await openSafetensors(files.unet);
    const unet = await DdpmUnet.fromSafetensors(gpu, config, file).finally(close);
    const { model: classifier } = await loadClassifier(gpu, classifierPth);
    const out: typeof want = [];
    for (const path of images) {
      const input = await decodeImageFile(path);
      const x = imagesToTensor(gpu, [input], { size: config.resolution });
      const eps = computeDnf(unet, x);
      const q = quantizeDnf(eps);
      const [dnfImage] = await q.read();
      const dnf = await eps.read();
      [x, eps, q].forEach((t) => t.dispose());
      const [verdict] = await classifyDnfImages(classifier, [dnfImage]);
      out.push({ input, dnf, dnfImage, verdict });
    }
    unet.dispose();
    classifier.dispose();
    return out;
  } finally {
    gpu.destroy();
  }
}

async function startServer(): Promise<void> {
  server = await createServer({
    configFile: join(repo, 'web', 'vite.config.ts'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  url = `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}/`;
}

/** A fresh browser (its own temporary profile) on the page; `init` runs before the page's scripts. */
async function openPage(flags: string[], init?: () => void): Promise<{ browser: Browser; page: Page; logs: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_FLAGS, ...flags], timeout: 60_000 });
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`page error: ${e.message}`));
  if (init) await page.addInitScript(init);
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state !== 'starting', null, { timeout: 60_000 });
  return { browser, page, logs };
}

const state = (page: Page) => page.evaluate(() => document.body.dataset.state);

/** Clicks Compute and waits for the run to end ('done' or 'failed'). */
async function runPage(page: Page): Promise<string | undefined> {
  await page.click('#run');
  await page.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.state ?? ''), null, { timeout: SLOW });
  return state(page);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set DNF_CHROMIUM`);
  await writeFixtures();
  want = await nodeResults();
  await startServer();
}, SLOW);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the web page in Chromium with WebGPU (SwiftShader)', { timeout: SLOW }, () => {
  let browser: Browser;
  let page: Page;
  let logs: string[];

  beforeAll(async () => {
    ({ browser, page, logs } = await openPage(WEBGPU_FLAGS));
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
  });

  it('finds the SwiftShader adapter', async () => {
    expect(await state(page), logs.join('\n')).toBe('ready');
    expect(await page.textContent('#adapter')).toBe('GPU: google swiftshader (WebGPU core, software fallback)');
  });

  it("computes Node's DNF and probability for images picked through the page, and reports a broken one", async () => {
    await page.selectOption('#config', 'json');
    await page.setInputFiles('#config-file', files.config);
    await page.setInputFiles('#unet-file', files.unet);
    await page.setInputFiles('#classifier-file', classifierPth);
    await page.setInputFiles('#images', [...images, files.broken]);
    expect(await runPage(page), logs.join('\n')).toBe('done');

    const got = await page.evaluate(() =>
      (window as unknown as { dnfResults: PageResult[] }).dnfResults.map((r) => ({
        name: r.name,
        error: r.error,
        input: r.input && { width: r.input.width, height: r.input.height, data: Array.from(r.input.data) },
        dnf: r.dnf && Array.from(r.dnf),
        dnfImage: r.dnfImage && { width: r.dnfImage.width, height: r.dnfImage.height, data: Array.from(r.dnfImage.data) },
        prob: r.prob,
      })),
    );
    await mkdir(join(repo, 'test-output', 'browser'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    expect(got.map((r) => r.name)).toEqual([...images, files.broken].map((p) => basename(p)));
    let dnfDiff = 0;
    let probDiff = 0;
    for (const [i, w] of want.entries()) {
      const r = got[i];
      expect(r.error, r.name).toBeUndefined();
      if (NEAR.has(r.name)) {
        expect([r.input!.width, r.input!.height], r.name).toEqual([w.input.width, w.input.height]);
        const d = maxAbsDiff(r.input!.data, w.input.data);
        console.log(`${r.name}: decoded pixels within ${d} of Node's`);
        expect(d, r.name).toBeLessThanOrEqual(1);
        continue;
      }
      // Chromium's decoders (PNG, and here JPEG and WebP too) fed through createImageBitmap without
      // premultiplication, colour conversion or EXIF rotation give sharp's bytes exactly.
      expect(r.input, r.name).toEqual({ width: w.input.width, height: w.input.height, data: Array.from(w.input.data) });
      expect(r.dnfImage, r.name).toEqual({ width: 12, height: 12, data: Array.from(w.dnfImage.data) });
      dnfDiff = Math.max(dnfDiff, maxAbsDiff(r.dnf!, w.dnf));
      probDiff = Math.max(probDiff, Math.abs(r.prob! - w.verdict.prob));
    }
    // Same kernels, same SwiftShader, different Dawn/Tint builds (Chromium's and the webgpu
    // package's): the floats may differ by rounding only; 1e-5 is the bound (measured: 0).
    console.log(`browser vs Node over ${want.length - NEAR.size} images: float DNF max |diff| ${dnfDiff}, P(generated) max |diff| ${probDiff}`);
    expect(dnfDiff).toBeLessThanOrEqual(1e-5);
    expect(probDiff).toBeLessThanOrEqual(1e-5);
    // The classifier's verdicts are not all alike (its logits on these DNFs straddle 0), so the labels are tested too.
    const labels = got.slice(0, want.length).map((r) => (r.prob! > 0.5 ? 'generated' : 'real'));
    expect(new Set(labels).size).toBe(2);

    const bad = got.at(-1)!;
    expect(bad.error).toBe('truncated.png: cannot decode image (corrupt, truncated, or a format this browser cannot read): convert it to PNG');
    const cards = page.locator('#results .card');
    expect(await cards.count()).toBe(images.length + 1);
    expect(await cards.locator('.verdict').allTextContents()).toEqual(labels);
    // The DNF picture shows the 8-bit DNF exactly: its canvas holds Node's bytes (alpha 255).
    const shown = await cards.nth(0).locator('canvas.dnf').evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));
    expect(shown.filter((_, i) => i % 4 !== 3)).toEqual(Array.from(want[0].dnfImage.data));
    expect(await cards.last().locator('.error').textContent()).toBe(bad.error);
    expect(await page.textContent('#progress-text')).toBe(`Done: ${images.length} of ${images.length + 1} images, 1 could not be read.`);
  });

  it('says in one sentence that weights do not fit the chosen config', async () => {
    await page.selectOption('#config', 'cifar10-32');
    expect(await runPage(page)).toBe('failed');
    expect(await page.textContent('#error')).toMatch(
      /^tiny-unet\.safetensors: these weights are a UNet with ch 32, .*; preset cifar10-32 has ch 128, .*: pick the matching model config$/,
    );
  });

  it('loads the UNet from a URL (a streamed download), and says when the address is wrong', async () => {
    // A cross-origin server, played by the test: the weights at one address, 404 elsewhere.
    const cors = { 'access-control-allow-origin': '*' };
    await page.route('https://weights.example/**', (route) =>
      route.request().url().endsWith('/tiny-unet.safetensors')
        ? route.fulfill({ path: files.unet, headers: cors })
        : route.fulfill({ status: 404, body: 'no such file', headers: cors }),
    );
    await page.selectOption('#config', 'json');
    await page.setInputFiles('#classifier-file', []);
    await page.setInputFiles('#images', images[0]);
    await page.fill('#unet-url', 'https://weights.example/models/tiny-unet.safetensors');
    expect(await page.inputValue('#unet-file')).toBe(''); // a URL replaces the picked file
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { progressSeen: string[] }).progressSeen = []);
      const text = document.getElementById('progress-text')!;
      new MutationObserver(() => seen.push(text.textContent ?? '')).observe(text, { childList: true, characterData: true, subtree: true });
    });
    expect(await runPage(page), logs.join('\n')).toBe('done');
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    const size = `${((await stat(files.unet)).size / 1e6).toFixed(1)} MB`;
    expect(seen).toContain(`Downloading the UNet weights: ${size} of ${size}`);
    expect(seen).toContain(`Loading the UNet weights: ${size} of ${size}`);
    const [r] = await page.evaluate(() => (window as unknown as { dnfResults: PageResult[] }).dnfResults.map((x) => ({ dnf: Array.from(x.dnf!), prob: x.prob })));
    expect(maxAbsDiff(r.dnf, want[0].dnf)).toBeLessThanOrEqual(1e-5); // measured: 0, as above
    expect(r.prob).toBeUndefined(); // no classifier: no verdict
    expect(await page.locator('#results .verdict').count()).toBe(0);

    await page.fill('#unet-url', 'https://weights.example/models/missing.safetensors');
    expect(await runPage(page)).toBe('failed');
    expect(await page.textContent('#error')).toBe('https://weights.example/models/missing.safetensors: the server answered 404 Not Found; check the address');
  });
});

describe('the web page without WebGPU', { timeout: SLOW }, () => {
  it('Chromium without the WebGPU flag: says there is no adapter, and offers no run', async () => {
    const { browser, page } = await openPage([]);
    try {
      expect(await state(page)).toBe('unavailable');
      expect(await page.textContent('#error')).toBe('WebGPU is present but no GPU adapter is available: enable hardware acceleration in the browser settings.');
      expect(await page.isDisabled('#run')).toBe(true);
    } finally {
      await browser.close();
    }
  });

  it('a browser without navigator.gpu: says it does not offer WebGPU', async () => {
    const { browser, page } = await openPage(WEBGPU_FLAGS, () => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    try {
      expect(await state(page)).toBe('unavailable');
      expect(await page.textContent('#error')).toBe('This browser does not offer WebGPU: use a current Chrome, Edge or Safari (or Firefox with WebGPU enabled).');
    } finally {
      await browser.close();
    }
  });
});
