/**
 * `dnf extract --feature dire` end to end through the built CLI (`npm run build` first), with the
 * tiny UNet of tools/golden/unet.py (12x12): PNG and float outputs, agreement with the in-process
 * DIRE of each decoded image (batch of one: batching changes nothing), resume, bad inputs, and the
 * one-line error for a K the schedule cannot reach. DIRE's numbers themselves are checked against
 * PyTorch in test/gpu/dire.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeDire } from '../src/diffusion/dire.js';
import { decodeImageFile } from '../src/image/decode-node.js';
import { DdpmUnet } from '../src/models/ddpm-unet.js';
import { parseUnetConfig } from '../src/models/unet-config.js';
import { acquireGpu } from '../src/node/acquire.js';
import { openSafetensors } from '../src/node/files.js';
import { direOfImages } from '../src/pipeline/dire-images.js';
import { filesUnder as files } from './detect-setup.js';
import { writeTinyUnet } from './synthetic-weights.js';
import { readFile } from 'node:fs/promises';

const repo = fileURLToPath(new URL('..', import.meta.url));
const R = 12;
let root: string;
let inDir: string;
let tiny: { unet: string; config: string };

function dnf(args: string[]) {
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'dnf.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, lines: r.stderr.split('\n').filter((l) => /^(extract|dnf):/.test(l)), stderr: r.stderr };
}
const tinyArgs = () => ['--unet', tiny.unet, '--model-config', tiny.config];

/** A smooth RGB pattern with some texture, w x h. */
function pattern(w: number, h: number, seed: number) {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (((i / 3) % w) * 7 + Math.floor(i / 3 / w) * 5 + (i % 3) * 60 + ((i * seed) % 23)) % 256;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}

beforeAll(async () => {
  if (!existsSync(join(repo, 'dist', 'cli', 'extract-dire.js'))) throw new Error('dist/ has no DIRE extract: run `npm run build` first');
  root = await mkdtemp(join(tmpdir(), 'dnf-dire-'));
  tiny = await writeTinyUnet(root);
  inDir = join(root, 'in');
  await mkdir(join(inDir, 'broken'), { recursive: true });
  await pattern(20, 16, 3).png().toFile(join(inDir, 'a.png')); // bicubic down to 15x12, crop
  await pattern(30, 26, 5).jpeg().toFile(join(inDir, 'b.jpg')); // BOX halving to 15x13 first
  await copyFile(join(repo, 'test', 'fixtures', 'images', 'broken', 'empty.png'), join(inDir, 'broken', 'empty.png'));
}, 60_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('dnf extract --feature dire (built CLI)', { timeout: 300_000 }, () => {
  it('writes 8-bit DIRE PNGs and float `dire` tensors equal to the in-process DIRE; resumes; bad inputs fail alone', async () => {
    const pngOut = join(root, 'out');
    const r = dnf(['extract', inDir, '-o', pngOut, '--feature', 'dire', '--batch', '2', ...tinyArgs()]);
    expect(r.code).toBe(1);
    expect(await files(pngOut)).toEqual(['a.png', 'b.png']);
    expect(r.lines).toContainEqual(`extract: ${join(inDir, 'broken', 'empty.png')}: cannot decode image (empty file)`);
    expect(r.lines.at(-1)).toMatch(/^extract: 2 done, 0 skipped \(already done\), 1 failed /);

    const stOut = join(root, 'out-st');
    expect(dnf(['extract', inDir, '-o', stOut, '--feature', 'dire', '--format', 'safetensors', ...tinyArgs()]).code).toBe(1);
    expect(await files(stOut)).toEqual(['a.safetensors', 'b.safetensors']);

    const gpu = await acquireGpu();
    const config = parseUnetConfig(JSON.parse(await readFile(tiny.config, 'utf8')), 'tiny');
    const { file, close } = await openSafetensors(tiny.unet);
    const unet = await DdpmUnet.fromSafetensors(gpu, config, file);
    await close();
    try {
      for (const [name, src] of [['a', 'a.png'], ['b', 'b.jpg']]) {
        const want = await direOfImages(unet, [await decodeImageFile(join(inDir, src))]);
        const png = await sharp(join(pngOut, `${name}.png`)).raw().toBuffer({ resolveWithObject: true });
        expect([png.info.width, png.info.height, png.info.channels]).toEqual([R, R, 3]);
        expect(Buffer.from(want.dires[0].data).equals(png.data)).toBe(true);
        expect(Math.max(...png.data)).toBeGreaterThan(0); // a real map, not blank

        const st = await openSafetensors(join(stOut, `${name}.safetensors`));
        expect(st.file.names()).toEqual(['dire']);
        expect(st.file.info('dire').shape).toEqual([3, R, R]);
        expect(st.file.metadata).toMatchObject({ feature: 'dire', steps: '20', source: src });
        const values = await st.file.readF32('dire');
        await st.close();
        expect(Array.from(values)).toEqual(Array.from(want.values));
        expect(Buffer.from(quantizeDire(values, 0, R).data).equals(png.data)).toBe(true); // the PNG is the float map's 8-bit form
      }
    } finally {
      unet.dispose();
      await gpu.destroy();
    }

    const again = dnf(['extract', inDir, '-o', pngOut, '--feature', 'dire', ...tinyArgs()]);
    expect(again.lines.at(-1)).toMatch(/^extract: 0 done, 2 skipped \(already done\), 1 failed /);
  });

  it('refuses a step count the schedule cannot reach, in one line, exit 2', () => {
    const r = dnf(['extract', join(inDir, 'a.png'), '-o', join(root, 'none'), '--feature', 'dire', '--steps', '600', ...tinyArgs()]);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(['dnf: DDIM steps 600 cannot be spaced uniformly over 1000 timesteps; use 500 or 1000']);
    expect(existsSync(join(root, 'none'))).toBe(false);
  });
});
