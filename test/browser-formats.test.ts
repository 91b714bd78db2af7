/**
 * The page's decoders of our own for BMP and TIFF, in a real browser: Debian's Chromium, headless
 * (playwright-core), the engine's sources compiled by Vite's dev server as the page gets them.
 * decodeImageBlob (src/image/decode-browser.ts) hands BMP to src/image/bmp.ts and TIFF to
 * src/image/tiff.ts (the `tiff` package bundled for the browser) before any GPU work, so no
 * WebGPU is needed; every BMP and TIFF golden must give exactly Node's decoded pixels.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImageFile } from '../src/image/decode-node.js';
import { repo, useMainPage } from './browser-setup.js';

const fixtures = join(repo, 'test', 'fixtures', 'images');
const cases = ['bmp', 'tiff'].flatMap((sub) => readdirSync(join(fixtures, sub)).filter((f) => /\.(bmp|tif)$/.test(f)).map((f) => join(fixtures, sub, f)));

const view = useMainPage();

describe('BMP and TIFF decoded in Chromium', { timeout: 120_000 }, () => {
  it('every golden gives Node\'s pixels, through decodeImageBlob', async () => {
    // A string, so that vitest does not rewrite the dynamic import meant for the browser.
    const script = `(async () => {
      const { decodeImageBlob } = await import(${JSON.stringify(`/@fs${join(repo, 'src', 'image', 'decode-browser.ts')}`)});
      const out = {};
      for (const f of ${JSON.stringify(cases)}) {
        const blob = await (await fetch('/@fs' + f)).blob();
        try {
          const img = await decodeImageBlob(null, blob, f);
          let s = '';
          for (const v of img.data) s += String.fromCharCode(v);
          out[f] = img.width + 'x' + img.height + ':' + btoa(s);
        } catch (e) {
          out[f] = 'error: ' + e.message;
        }
      }
      return out;
    })()`;
    const got = (await view.page.evaluate(script)) as Record<string, string>;
    expect(cases.length).toBeGreaterThan(30);
    for (const f of cases) {
      const img = await decodeImageFile(f);
      expect(got[f], f).toBe(`${img.width}x${img.height}:${Buffer.from(img.data).toString('base64')}`);
    }
  });
});
