#!/usr/bin/env node
// Scaling benchmark of the work queue: images/s of `dnf worker` with 1 and 2 workers on this
// machine, beside one plain `dnf extract`, and the queue's own cost per batch.
//   node bench/scale.mjs [--images 300] [--workers 1,2] [--batch 25] [--overhead-batches 200]
//                        [--unet FILE --model-config FILE] [--backend NAME] [--out FILE]
// Starts a redis-server (Debian's) on a free port, makes --images 32x32 PNGs, and with the tiny
// test UNet (tools/golden/unet.py's config, synthetic weights) unless --unet is given:
// - {bench: 'scale', mode: 'extract'}: one plain `dnf extract` of the images;
// - {bench: 'scale', mode: 'queue', workers: W}: push (batches of --batch files), W workers with
//   --exit-when-empty started at once; `seconds` from the workers' start to the last exit (each
//   loads the UNet: a fixed cost), `steady` images/s from the first batch taken to the last done;
// - {bench: 'scale', mode: 'overhead'}: --overhead-batches batches of one file whose output exists,
//   so nothing is decoded or computed: ms per batch to push, and to take, check, record and
//   acknowledge (one worker, in this process; from the first batch taken to the last done).
// One JSON line per result on stdout. Needs `npm run build`.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { pushInputs } from '../dist/node/queue/push.js';
import { DnfQueue } from '../dist/node/queue/store.js';
import { runQueueWorker } from '../dist/node/queue/worker.js';
import { writeTinyUnet } from './lib/tiny-unet.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'bin', 'dnf.js');
const args = process.argv.slice(2);
const opt = (flag, dflt) => {
  const i = args.indexOf(flag);
  return i < 0 ? dflt : args[i + 1];
};
const images = Number(opt('--images', 300));
const workerCounts = String(opt('--workers', '1,2')).split(',').map(Number);
const batch = Number(opt('--batch', 25));
const overheadBatches = Number(opt('--overhead-batches', 200));
const backend = opt('--backend', undefined);
const out = opt('--out', undefined);
const emit = (obj) => {
  const line = JSON.stringify({ bench: 'scale', ...obj });
  console.log(line);
  if (out) appendFileSync(out, line + '\n');
};

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
const accepts = (port) =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Runs the CLI; resolves with its exit code. */
const dnf = (cliArgs) =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...(backend ? ['--backend', backend] : []), ...cliArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.once('close', (code) => (code === 0 ? resolve(code) : (process.stderr.write(err), resolve(code))));
  });

const root = await mkdtemp(join(tmpdir(), 'dnf-scale-'));
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
try {
  for (let i = 0; i < 100 && !(await accepts(port)); i++) await new Promise((r) => setTimeout(r, 50));
  let unetArgs;
  if (opt('--unet')) {
    unetArgs = ['--unet', opt('--unet'), ...(opt('--model-config') ? ['--model-config', opt('--model-config')] : [])];
  } else {
    const { unet, config } = await writeTinyUnet(root);
    unetArgs = ['--unet', unet, '--model-config', config];
  }
  const input = join(root, 'in');
  await mkdir(input, { recursive: true });
  for (let i = 0; i < images; i++) {
    const px = Buffer.alloc(32 * 32 * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * (7 + i) + (k >> 5) * 11) % 256;
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(input, `img${String(i).padStart(5, '0')}.png`));
  }

  let t = performance.now();
  await dnf(['extract', input, '-o', join(root, 'plain'), ...unetArgs]);
  let seconds = (performance.now() - t) / 1000;
  emit({ mode: 'extract', images, seconds: +seconds.toFixed(2), imagesPerSec: +(images / seconds).toFixed(2) });

  for (const w of workerCounts) {
    const name = `scale-${w}`;
    if ((await dnf(['queue', 'push', input, '--redis', url, '--name', name, '--batch', String(batch)])) !== 0) throw new Error('push failed');
    t = performance.now();
    const codes = await Promise.all(Array.from({ length: w }, () => dnf(['worker', '--redis', url, '--name', name, '-o', join(root, `out-${w}`), ...unetArgs, '--exit-when-empty'])));
    seconds = (performance.now() - t) / 1000;
    const q = new DnfQueue(url, name);
    const results = [...(await q.results()).values()];
    await q.close();
    const start = Math.min(...results.map((r) => r.at - r.ms));
    const end = Math.max(...results.map((r) => r.at));
    const done = results.reduce((n, r) => n + r.done, 0);
    if (done !== images || codes.some((c) => c !== 0)) throw new Error(`queue run with ${w} workers: ${done} of ${images} done, exit codes ${codes}`);
    emit({
      mode: 'queue', workers: w, images, batch, seconds: +seconds.toFixed(2), imagesPerSec: +(images / seconds).toFixed(2),
      steadyImagesPerSec: +(done / ((end - start) / 1000)).toFixed(2),
    });
  }

  // The queue's own cost: batches of one file whose output exists already.
  const few = join(root, 'few');
  const fewOut = join(root, 'few-out');
  await mkdir(few, { recursive: true });
  await mkdir(fewOut, { recursive: true });
  const anImage = join(input, (await readdir(input))[0]);
  for (let i = 0; i < overheadBatches; i++) {
    await copyFile(anImage, join(few, `f${i}.png`));
    await copyFile(anImage, join(fewOut, `f${i}.png`)); // a complete PNG: the worker skips it
  }
  const q = new DnfQueue(url, 'overhead');
  t = performance.now();
  await pushInputs(q, [few], { settings: { format: 'png', steps: 0, feature: 'first', antialias: true, keepExt: false }, batch: 1, attempts: 1 });
  const pushMs = performance.now() - t;
  t = performance.now();
  const report = await runQueueWorker({
    queue: q, output: fewOut, batchSize: 1, lockMs: 30_000, exitWhenEmpty: true, sink: { write() {} },
    processBatch: async () => {
      throw new Error('nothing is computed in the overhead run');
    },
  });
  const workMs = performance.now() - t;
  const res = [...(await q.results()).values()];
  await q.close();
  const span = Math.max(...res.map((r) => r.at)) - Math.min(...res.map((r) => r.at - r.ms));
  if (report.skipped !== overheadBatches) throw new Error(`overhead run: ${report.skipped} of ${overheadBatches} skipped`);
  emit({
    mode: 'overhead', batches: overheadBatches, pushMsPerBatch: +(pushMs / overheadBatches).toFixed(2),
    takeCheckAckMsPerBatch: +(span / overheadBatches).toFixed(2),
    // with the worker's start (its thread and connections) and its last look at the empty queue
    workerWallMs: Math.round(workMs),
  });
} finally {
  redis.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
}
