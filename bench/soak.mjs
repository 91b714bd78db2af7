#!/usr/bin/env node
// Soak benchmark: memory of `dnf extract` over a large folder with a few huge images.
//   node bench/soak.mjs [--small 10000] [--huge 4] [--huge-side 13377] [--backend NAME]
//                       [--budget BYTES] [--out FILE]
// Makes --small 32x32 PNGs and --huge flat PNGs of --huge-side^2 pixels (about 520 KB each, 537 MB
// decoded; half of them in a row, half spread out) in ten folders, runs the built CLI's extract
// over them with the tiny test UNet (tools/golden/unet.py's config, synthetic weights: the model is
// small, so what is measured is the engine's handling of the inputs), and samples the process's
// RSS every 250 ms. Prints one JSON line per tenth of the run ({bench: 'soak', phase, t, rssMiB,
// ...}) and a summary line with the peak (VmHWM), the median and the RSS of the first and last
// tenths (flat: they agree). --budget sets DNF_MEMORY_BUDGET (e.g. 1e15: no byte budget, batches
// by count only, as before the budget existed). Needs `npm run build`.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { writeTinyUnet } from './lib/tiny-unet.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (flag, dflt) => {
  const i = args.indexOf(flag);
  return i < 0 ? dflt : args[i + 1];
};
const small = Number(opt('--small', 10000));
const huge = Number(opt('--huge', 4));
const side = Number(opt('--huge-side', 13377));
const backend = opt('--backend', undefined);
const budget = opt('--budget', undefined);
const out = opt('--out', undefined);
const emit = (obj) => {
  const line = JSON.stringify({ bench: 'soak', ...obj });
  console.log(line);
  if (out) appendFileSync(out, line + '\n');
};

const root = await mkdtemp(join(tmpdir(), 'dnf-soak-'));
try {
  // The tiny UNet of the tests: config and layout from the golden fixture, synthetic weights.
  const { unet, config } = await writeTinyUnet(root);

  const inputs = join(root, 'in');
  for (let d = 0; d < 10; d++) await mkdir(join(inputs, `part${d}`), { recursive: true });
  const px = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < small; i++) {
    for (let j = 0; j < px.length; j++) px[j] = (j * 7 + i * 13 + (j >> 6) * i) & 255;
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(inputs, `part${i % 10}`, `small-${String(i).padStart(6, '0')}.png`));
  }
  if (huge > 0) {
    const first = join(root, 'huge.png');
    await sharp({ create: { width: side, height: side, channels: 3, background: { r: 90, g: 140, b: 200 } } }).png().toFile(first);
    // Half of them one after the other in the middle of the run (one batch would take them all),
    // the others spread out: one in each of folders 1, 3, 7, 9.
    for (let k = 0; k < huge; k++) {
      const [dir, name] = k < Math.ceil(huge / 2) ? [5, `huge-${k}.png`] : [[1, 3, 7, 9][k % 4], `small-${String(k).padStart(6, '0')}-huge.png`];
      await copyFile(first, join(inputs, `part${dir}`, name));
    }
  }

  const env = { ...process.env, ...(budget ? { DNF_MEMORY_BUDGET: String(Number(budget)) } : {}) };
  const cli = [join(repo, 'bin', 'dnf.js'), ...(backend ? ['--backend', backend] : []), 'extract', inputs, '-o', join(root, 'out'), '--unet', unet, '--model-config', config];
  const t0 = Date.now();
  const child = spawn(process.execPath, cli, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-20000); });
  const samples = [];
  let hwm = 0;
  const timer = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      hwm = Math.max(hwm, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
      samples.push([(Date.now() - t0) / 1000, rss]);
    } catch {
      // the process has just ended
    }
  }, 250);
  const code = await new Promise((res) => child.on('exit', (c) => res(c)));
  clearInterval(timer);
  const wall = (Date.now() - t0) / 1000;
  if (code !== 0) throw new Error(`extract exited with ${code}:\n${stderr}`);
  const written = (await readdir(join(root, 'out'), { recursive: true })).filter((f) => f.endsWith('.png')).length;

  const tenth = (k) => samples.filter(([t]) => t >= (wall * k) / 10 && t < (wall * (k + 1)) / 10).map(([, r]) => r);
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  for (let k = 0; k < 10; k++) {
    const r = tenth(k);
    emit({ phase: k, t: +((wall * (k + 1)) / 10).toFixed(1), rssMiB: +Math.max(0, ...r).toFixed(0), meanRssMiB: +mean(r).toFixed(0) });
  }
  const sorted = samples.map(([, r]) => r).sort((a, b) => a - b);
  emit({
    summary: true, small, huge, hugeSide: side, written, backend: backend ?? 'auto', budget: budget ?? 'default', wallS: +wall.toFixed(1),
    imagesPerS: +(written / wall).toFixed(1), peakRssMiB: +hwm.toFixed(0), medianRssMiB: +(sorted[sorted.length >> 1] ?? 0).toFixed(0),
    firstTenthMiB: +mean(tenth(0)).toFixed(0), lastTenthMiB: +mean(tenth(9)).toFixed(0), samples: samples.length,
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
