/**
 * The perturbations in a real browser: Debian's Chromium, headless (playwright-core), the engine's
 * sources compiled by Vite's dev server as the page gets them. Each golden's source pixels (as
 * Node decodes them) go into the page, src/image/perturb.ts runs there, and the bytes that come
 * back must equal PIL's / scipy's / torchvision's golden (test/perturb-goldens.test.ts checks the
 * same in Node): no WebGPU needed, and no difference between the platforms' float64 Math.exp.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImageFile } from '../src/image/decode-node.js';
import { repo, useMainPage } from './browser-setup.js';

const dir = join(repo, 'test', 'fixtures', 'perturb');
const expected: { ops: Record<string, { source: string; op: string }> } = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));

const view = useMainPage();

const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');

describe('perturbations in Chromium', { timeout: 120_000 }, () => {
  it('every golden op gives the reference\'s bytes', async () => {
    const cases = await Promise.all(Object.entries(expected.ops).map(async ([file, { source, op }]) => {
      const src = await decodeImageFile(join(dir, source));
      return { file, op, width: src.width, height: src.height, data: b64(src.data) };
    }));
    // A string, so that vitest does not rewrite the dynamic imports meant for the browser.
    const script = `(async () => {
      const { perturbImage } = await import(${JSON.stringify(`/@fs${join(repo, 'src', 'image', 'perturb.ts')}`)});
      const { parseSpec } = await import(${JSON.stringify(`/@fs${join(repo, 'src', 'image', 'perturb-spec.ts')}`)});
      const out = {};
      for (const c of ${JSON.stringify(cases)}) {
        const data = Uint8Array.from(atob(c.data), (ch) => ch.charCodeAt(0));
        const img = perturbImage({ width: c.width, height: c.height, data }, parseSpec(c.op));
        let s = '';
        for (const v of img.data) s += String.fromCharCode(v);
        out[c.file] = img.width + 'x' + img.height + ':' + btoa(s);
      }
      return out;
    })()`;
    const got = (await view.page.evaluate(script)) as Record<string, string>;
    for (const file of Object.keys(expected.ops)) {
      const want = await decodeImageFile(join(dir, file));
      expect(got[file], file).toBe(`${want.width}x${want.height}:${b64(want.data)}`);
    }
    expect(Object.keys(got)).toHaveLength(Object.keys(expected.ops).length);
  });
});
