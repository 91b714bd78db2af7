/**
 * Shared by the detect and eval CLI tests: the tiny UNet of tools/golden/unet.py (ch 32, 12x12,
 * synthetic weights) and the small Bottleneck classifier of tools/golden/resnet.py, written to a
 * folder, plus patterned test images.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { convertCheckpoint } from '../src/node/convert.js';
import { writeTinyUnet } from './synthetic-weights.js';

export const repo = fileURLToPath(new URL('..', import.meta.url));
/** The classifier as a PyTorch checkpoint ({'model': sd, ...}, zip). */
export const classifierPth = join(repo, 'test', 'fixtures', 'checkpoints', 'resnet-bottleneck.zip.pth');

export interface Models {
  unet: string;
  config: string;
  /** classifierPth converted to safetensors (its logits on the tiny UNet's DNFs straddle 0). */
  classifier: string;
  /** The UNet options of the CLI. */
  unetArgs: string[];
}

export async function writeModels(dir: string): Promise<Models> {
  if (!existsSync(join(repo, 'dist', 'cli', 'detect.js'))) throw new Error('dist/ has no detect command: run `npm run build` first');
  const { unet, config } = await writeTinyUnet(dir);

  const classifier = join(dir, 'classifier.safetensors');
  await convertCheckpoint(classifierPth, classifier);
  return { unet, config, classifier, unetArgs: ['--unet', unet, '--model-config', config] };
}

/** An RGB image of w x h with a pattern that depends on `seed`. */
export function pattern(w: number, h: number, seed: number) {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * seed + (i >> 5) * 11 + ((i * i * seed) >> 7)) % 256;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}

/** Runs the built CLI in `cwd`; `lines` are its stderr lines from `label` or dnf (not the GPU driver's chatter). */
export function dnf(cwd: string, label: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'dnf.js'), ...args], { cwd, encoding: 'utf8', timeout: 300_000 });
  const lines = r.stderr.split('\n').filter((l) => l.startsWith(`${label}:`) || l.startsWith('dnf:'));
  return { code: r.status, stdout: r.stdout, lines, stderr: r.stderr };
}

/** Every file under `dir`, relative, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  }
  return out.sort();
}
