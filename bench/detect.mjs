// End-to-end `dnf detect` throughput on the current adapter, through runDetect on a folder of
// random 256x256 PNGs: decode + DNF (lsun-bedroom-256 UNet, eps at t = 0) + quantisation + the
// ResNet50 classifier, in images/s; and the same images taken as DNF PNGs (`--from-dnf`: decode +
// classifier).
// The UNet: BENCH_UNET (default /tmp/dnf-unet-full/weights.safetensors, written by
// `/usr/bin/python3 tools/golden/unet_full.py`; the real lsun_bedroom weights time the same).
// The classifier: a random ResNet50. BENCH_DETECT_IMAGES images (default 2; the UNet takes about
// a minute per image on llvmpipe, ten on SwiftShader) in batches of BENCH_DETECT_BATCH (default:
// detect's own). One image is run first to compile the pipelines (BENCH_DETECT_WARMUP=0 skips it).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runDetect } from '../dist/cli/detect.js';
import { writeSafetensorsFile } from '../dist/node/files.js';
import { randomValues } from '../dist/selftest.js';
import { randomResnet50Tensors } from './resnet.mjs';

const SIZE = 256;
const quiet = { write: () => true };

export async function run(gpu, report) {
  const unet = process.env.BENCH_UNET ?? '/tmp/dnf-unet-full/weights.safetensors';
  if (!existsSync(unet)) throw new Error(`bench detect: ${unet} not found; run \`/usr/bin/python3 tools/golden/unet_full.py\` or set BENCH_UNET to UNet weights`);
  const count = Number(process.env.BENCH_DETECT_IMAGES ?? 2);
  const batch = process.env.BENCH_DETECT_BATCH ? Number(process.env.BENCH_DETECT_BATCH) : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'dnf-bench-detect-'));
  try {
    const classifier = join(dir, 'resnet50.safetensors');
    await writeSafetensorsFile(classifier, randomResnet50Tensors());
    const images = join(dir, 'images');
    await mkdir(join(images, 'warm'), { recursive: true });
    await mkdir(join(images, 'timed'), { recursive: true });
    for (let i = 0; i <= count; i++) {
      const px = Uint8Array.from(randomValues(SIZE * SIZE * 3, 11 + i), (v) => 128 + 127 * v);
      await sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(join(images, i === count ? 'warm' : 'timed', `${i}.png`));
    }
    const opts = { classifier, fromDnf: false, threshold: 0.5, format: 'json', unet, modelConfig: 'lsun-bedroom-256', steps: 0, feature: 'first', antialias: false, batch };
    const hooks = { gpu, out: quiet, progress: { sink: quiet }, signal: new AbortController().signal };
    if (process.env.BENCH_DETECT_WARMUP !== '0') await runDetect([join(images, 'warm')], opts, hooks);

    let t0 = performance.now();
    const r = await runDetect([join(images, 'timed')], opts, hooks);
    let s = (performance.now() - t0) / 1000;
    report({ kernel: 'detect (decode + DNF + ResNet50)', images: r.results.length, batch: batch ?? 'default', s: +s.toFixed(1), images_per_s: +(r.results.length / s).toFixed(4), s_per_image: +(s / r.results.length).toFixed(1) });

    // Any 256x256 PNG times like a DNF PNG here: the timed images stand in for their DNFs.
    t0 = performance.now();
    const f = await runDetect([join(images, 'timed')], { ...opts, fromDnf: true }, hooks);
    s = (performance.now() - t0) / 1000;
    report({ kernel: 'detect --from-dnf (decode + ResNet50)', images: f.results.length, batch: batch ?? 'default', s: +s.toFixed(1), images_per_s: +(f.results.length / s).toFixed(3), s_per_image: +(s / f.results.length).toFixed(2) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
