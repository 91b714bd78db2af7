// `dnf extract` end to end against the UNet alone on the current adapter: runExtract over a
// folder of JPEGs (512x384, so that decoding and resizing are real work) into DNF PNGs, beside the
// UNet's forwards on the same batches of inputs already on the GPU, which is the least extract can
// take. ratio = extract / UNet alone, by wall clock: decoding, resizing, quantising, PNG encoding
// and writing overlap the UNet when it stays near 1 (the goal: within 1.10).
//
//   npm run build && node bench/run.mjs extract [--backend opengles|swiftshader|vulkan]
//
// Environment:
//   BENCH_PRESET           the UNet preset (default lsun-bedroom-256; cifar10-32: a 32x32 UNet,
//                          where the work around it weighs most)
//   BENCH_UNET             UNet weights for that preset (default: deterministic random weights,
//                          bench/lib/random-weights.mjs, written to a temporary file)
//   BENCH_EXTRACT_IMAGES   timed images (default 2 on CPU adapters, 64 on GPUs)
//   BENCH_EXTRACT_BATCH    images per batch (default: extract's own, the UNet's defaultBatch)
// One batch is extracted first to compile the pipelines. extract's time runs from its first batch
// (the model loaded) to its last output written: on CPU adapters it includes the one-time
// transform of the Winograd weights in the first batch (about 0.6 s for the LSUN UNet on
// llvmpipe), which more images amortise; the CPU time includes the load. Output line (run.mjs adds bench,
// adapter, backend): images, batch, extract_s_per_image, unet_s_per_image, ratio, and on CPU
// adapters the same by this process's CPU time (cpu_ratio).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runExtract } from '../dist/cli/extract.js';
import { loadUnet, resolveUnet } from '../dist/cli/unet-options.js';
import { isUnetPreset, unetPreset } from '../dist/models/unet-config.js';
import { writeSafetensorsFile } from '../dist/node/files.js';
import { randomValues } from '../dist/selftest.js';
import { Tensor } from '../dist/tensor.js';
import { synth, synthInput } from './lib/random-weights.mjs';
import { stateDictLayout, unetLayers } from './lib/unet-layers.mjs';

const quiet = { write: () => true };
const round = (v) => +v.toPrecision(4);

/** A 512x384 photograph-like JPEG: smooth gradients plus grain (noise alone would not compress like a photo). */
async function writeJpeg(path, seed) {
  const [w, h] = [512, 384];
  const grain = randomValues(w * h * 3, seed);
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * w + x) * 3 + c;
        const base = 128 + 90 * Math.sin((x * (c + 1)) / 97 + seed) * Math.cos((y * (3 - c)) / 61);
        px[i] = Math.max(0, Math.min(255, Math.round(base + 12 * grain[i])));
      }
    }
  }
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
}

const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export async function run(gpu, report) {
  const preset = process.env.BENCH_PRESET ?? 'lsun-bedroom-256';
  if (!isUnetPreset(preset)) throw new Error(`BENCH_PRESET: unknown UNet preset "${preset}"`);
  const onCpu = gpu.memoryIsHost;
  const count = Number(process.env.BENCH_EXTRACT_IMAGES ?? (onCpu ? 2 : 64));
  const batchEnv = process.env.BENCH_EXTRACT_BATCH;
  if (!(Number.isInteger(count) && count > 0) || (batchEnv && !(Number(batchEnv) > 0))) throw new Error('BENCH_EXTRACT_IMAGES and BENCH_EXTRACT_BATCH must be positive integers');
  const dir = await mkdtemp(join(tmpdir(), 'dnf-bench-extract-'));
  try {
    let unetPath = process.env.BENCH_UNET;
    if (!unetPath) {
      unetPath = join(dir, 'unet.safetensors');
      const layout = stateDictLayout(unetLayers(unetPreset(preset)));
      await writeSafetensorsFile(unetPath, layout.map(([name, shape]) => ({ name, dtype: 'F32', shape, data: synth(name, shape) })));
    }
    const opts = { unet: unetPath, modelConfig: preset, steps: 0, feature: 'first', antialias: false, format: 'png', overwrite: false };
    const setup = await resolveUnet(opts);
    const unet = await loadUnet(gpu, setup);
    const batch = batchEnv ? Number(batchEnv) : unet.defaultBatch;
    const r = setup.config.resolution;

    // The UNet alone: the same batches, inputs made on the GPU beforehand (warm-up batch first).
    const batches = [];
    for (let left = count; left > 0; left -= batch) batches.push(Math.min(batch, left));
    const forward = async (b) => {
      const x = Tensor.from(gpu, synthInput('x', [b, 3, r, r]), [b, 3, r, r], 'x');
      await gpu.sync();
      const t0 = performance.now();
      const c0 = cpuS();
      const eps = unet.forwardBatched(x, new Array(b).fill(0));
      await gpu.sync();
      const s = (performance.now() - t0) / 1000;
      const c = cpuS() - c0;
      eps.dispose();
      x.dispose();
      return { s, c };
    };
    await forward(batches[0]);
    let unetS = 0;
    let unetCpu = 0;
    for (const b of batches) {
      const { s, c } = await forward(b);
      unetS += s;
      unetCpu += c;
    }
    unet.dispose();

    const images = join(dir, 'images');
    await mkdir(join(images, 'warm'), { recursive: true });
    await mkdir(join(images, 'timed'), { recursive: true });
    for (let i = 0; i < batches[0]; i++) await writeJpeg(join(images, 'warm', `${i}.jpg`), 1000 + i);
    for (let i = 0; i < count; i++) await writeJpeg(join(images, 'timed', `${i}.jpg`), i);
    const hooks = { gpu, progress: { sink: quiet }, signal: new AbortController().signal };
    const say = process.stderr.write;
    process.stderr.write = () => true; // extract's own lines
    let extractS;
    let extractCpu;
    let done;
    try {
      await runExtract([join(images, 'warm')], { ...opts, output: join(dir, 'warm-out'), batch }, hooks);
      const c0 = cpuS();
      const timed = await runExtract([join(images, 'timed')], { ...opts, output: join(dir, 'out'), batch }, hooks);
      extractCpu = cpuS() - c0;
      done = timed.done;
      extractS = timed.elapsedMs / 1000; // from the first batch (the model loaded) to the last output written
    } finally {
      process.stderr.write = say;
    }
    if (done !== count) throw new Error(`bench extract: ${done} of ${count} images extracted`);
    report({
      kernel: 'extract (decode + resize + UNet + quantise + PNG)',
      preset, images: count, batch,
      extract_s_per_image: round(extractS / count), unet_s_per_image: round(unetS / count), ratio: round(extractS / unetS),
      ...(onCpu ? { extract_cpu_s_per_image: round(extractCpu / count), unet_cpu_s_per_image: round(unetCpu / count), cpu_ratio: round(extractCpu / unetCpu) } : {}),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
