/**
 * What the browser tests share: the fixtures (the tiny UNet of tools/golden/unet.py with synthetic
 * weights, as test/extract-cli.test.ts builds them, its config, PNG/JPEG/WebP/GIF variants and a
 * broken PNG), the page served by Vite's dev server on an ephemeral port, and headless Debian
 * Chromium (no browser download) driven by playwright-core, WebGPU on SwiftShader.
 */
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll } from 'vitest';
import { writeTinyUnet } from './synthetic-weights.js';

export const repo = fileURLToPath(new URL('..', import.meta.url));
export const CHROMIUM = process.env.DNF_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(repo, 'test-output', 'browser');
/** Headless Chromium without the GPU process sandbox (root in CI) and without background traffic. */
export const BASE_FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
/**
 * WebGPU on Linux needs the unsafe flag. SwiftShader's Vulkan is the adapter even where a GPU exists
 * (the library Node's DNF_BACKEND=swiftshader loads, from the same chromium package), ANGLE too.
 */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];
export const SLOW = 240_000; // SwiftShader on 2 shared cores: compiles and runs take tens of seconds

export interface Fixtures {
  /** The temporary folder holding them all. */
  dir: string;
  unet: string;
  config: string;
  broken: string;
  /** The good images, in the order they are given to the page. */
  images: string[];
}

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

export async function writeFixtures(): Promise<Fixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'dnf-browser-'));
  const { unet, config } = await writeTinyUnet(dir);
  const images: string[] = [];
  for (const [name, bytes] of Object.entries(await imageVariants())) {
    images.push(join(dir, name));
    await writeFile(join(dir, name), bytes);
  }
  const broken = join(dir, 'truncated.png');
  await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'truncated.png'), broken);
  return { dir, unet, config, broken, images };
}

/** Vite's dev server on web/, at an ephemeral port: the server and the page's address. */
export async function startServer(): Promise<{ server: ViteDevServer; url: string }> {
  const server = await createServer({
    configFile: join(repo, 'web', 'vite.config.ts'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  return { server, url: `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}/` };
}

/** A fresh browser (its own temporary profile) on the page; `init` runs before the page's scripts. */
export async function openPage(
  url: string,
  flags: string[],
  init?: () => void,
  viewport = { width: 1000, height: 760 },
): Promise<{ browser: Browser; page: Page; logs: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_FLAGS, ...flags], timeout: 60_000 });
  const page = await browser.newPage({ viewport, acceptDownloads: true });
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`page error: ${e.message}`));
  if (init) await page.addInitScript(init);
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state !== 'starting', null, { timeout: 60_000 });
  return { browser, page, logs };
}

/**
 * For a test file that drives the main page without WebGPU: registers the hooks that start Vite
 * and Chromium before its tests and close both after; `page` is set once the hook has run.
 */
export function useMainPage(): { page: Page } {
  const opened = {} as { page: Page };
  let server: ViteDevServer | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    let url: string;
    ({ server, url } = await startServer());
    ({ browser, page: opened.page } = await openPage(url, []));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  return opened;
}

export const state = (page: Page) => page.evaluate(() => document.body.dataset.state);

/** Clicks Compute and waits for the run to end ('done' or 'failed'). */
export async function runPage(page: Page): Promise<string | undefined> {
  await page.click('#run');
  await page.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.state ?? ''), null, { timeout: SLOW });
  return state(page);
}

/** Picks the tiny UNet (with its JSON config), the Bottleneck classifier (or none) and `images` through the page's controls. */
export async function pickInputs(page: Page, fx: Fixtures, classifier: string | null, images: string[]): Promise<void> {
  await page.selectOption('#config', 'json');
  await page.setInputFiles('#config-file', fx.config);
  await page.setInputFiles('#unet-file', fx.unet);
  await page.setInputFiles('#classifier-file', classifier ? [classifier] : []);
  await page.setInputFiles('#images', images);
}
