// Seconds per image for a DNF (one UNet evaluation, eps at t = 0) against DIRE (a 20-step DDIM
// inversion and reconstruction: 40 evaluations) on the same adapter, the same images and the same
// UNet: the cost ratio behind "DNF is fast". Both are timed from decoded 8-bit images to their
// 8-bit maps on the CPU (preprocessing, UNet, read-back, quantisation), after an untimed DNF and
// a one-step DIRE that compile the pipelines.
//
//   npm run build && node bench/run.mjs feature [--backend opengles|swiftshader|vulkan] [--out FILE]
//
// Environment:
//   BENCH_UNET            UNet weights (safetensors) to time; its config: BENCH_PRESET, else the one
//                         the file records or its shapes imply. Default: deterministic random weights
//                         (bench/lib/random-weights.mjs) of BENCH_PRESET.
//   BENCH_PRESET          the UNet preset (default cifar10-32, 32x32: a DIRE on lsun-bedroom-256 takes
//                         40 minutes on a CPU adapter; lsun-bedroom-256 on a real GPU)
//   BENCH_FEATURE_IMAGES  images per timed run, one batch (default 1)
//   BENCH_DIRE_STEPS      DIRE's K (default 20)
//   BENCH_DNF_REPS        timed DNF runs, averaged (default 5: one is short and noisy on a shared machine)
//
// Output lines (run.mjs adds bench, adapter, backend): kind 'dnf' and 'dire' with s_per_image and
// unet_evals per image; kind 'ratio' with dire_over_dnf (seconds per image) and the evaluation
// ratio it compares with. On CPU adapters also this process's CPU time (cpu_s_per_image, and
// dire_over_dnf_cpu), which other processes on the cores disturb less than wall time.
import { isUnetPreset, unetPreset } from '../dist/models/unet-config.js';
import { DdpmUnet } from '../dist/models/ddpm-unet.js';
import { chooseUnetConfig } from '../dist/pipeline/unet.js';
import { quantizedDnfs } from '../dist/pipeline/dnf-images.js';
import { direOfImages } from '../dist/pipeline/dire-images.js';
import { openSafetensors } from '../dist/node/files.js';
import { randomValues } from '../dist/selftest.js';
import { synthesizedSafetensors } from './lib/random-weights.mjs';
import { stateDictLayout, unetLayers } from './lib/unet-layers.mjs';

const round = (v) => +v.toPrecision(4);

async function loadModel(gpu) {
  const preset = process.env.BENCH_PRESET ?? (process.env.BENCH_UNET ? undefined : 'cifar10-32');
  if (preset !== undefined && !isUnetPreset(preset)) throw new Error(`BENCH_PRESET: unknown UNet preset "${preset}"`);
  if (!process.env.BENCH_UNET) {
    const config = unetPreset(preset);
    return { unet: await DdpmUnet.fromSafetensors(gpu, config, await synthesizedSafetensors(stateDictLayout(unetLayers(config)))), model: `random ${preset}` };
  }
  const { file, close } = await openSafetensors(process.env.BENCH_UNET);
  try {
    const given = preset ? { config: unetPreset(preset), name: `BENCH_PRESET ${preset}`, configName: `preset ${preset}`, fix: 'unset BENCH_PRESET' } : undefined;
    const { config } = chooseUnetConfig(file, given);
    return { unet: await DdpmUnet.fromSafetensors(gpu, config, file), model: process.env.BENCH_UNET };
  } finally {
    await close();
  }
}

/** Seconds (wall and CPU) of `fn`. */
async function timed(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { s, cpuS: (cpu.user + cpu.system) / 1e6 };
}

export async function run(gpu, report) {
  const count = Number(process.env.BENCH_FEATURE_IMAGES ?? 1);
  const steps = Number(process.env.BENCH_DIRE_STEPS ?? 20);
  if (!(Number.isInteger(count) && count > 0)) throw new Error(`BENCH_FEATURE_IMAGES must be a positive integer, got "${process.env.BENCH_FEATURE_IMAGES}"`);
  const dnfReps = Number(process.env.BENCH_DNF_REPS ?? 5);
  if (!(Number.isInteger(dnfReps) && dnfReps > 0)) throw new Error(`BENCH_DNF_REPS must be a positive integer, got "${process.env.BENCH_DNF_REPS}"`);
  const { unet, model } = await loadModel(gpu);
  const r = unet.config.resolution;
  const onCpu = gpu.memoryIsHost; // a CPU adapter
  // Random images of the model's size (DIRE's crop is then the identity, the DNF's resize too).
  const images = Array.from({ length: count }, (_, i) => ({ width: r, height: r, data: Uint8Array.from(randomValues(r * r * 3, 21 + i), (v) => 128 + 127 * v) }));
  const dnf = () => quantizedDnfs(unet, images, { steps: 0, feature: 'first', antialias: true });
  const dire = () => direOfImages(unet, images, steps);
  try {
    await dnf(); // compiles the UNet's pipelines
    await direOfImages(unet, images, 1); // and the DDIM steps' (K = 1: two evaluations)
    const results = {};
    for (const [kind, fn, evals, reps] of [['dnf', dnf, 1, dnfReps], ['dire', dire, 2 * steps, 1]]) {
      const t = await timed(async () => {
        for (let i = 0; i < reps; i++) await fn();
      });
      const per = { s: t.s / count / reps, cpuS: t.cpuS / count / reps };
      results[kind] = per;
      report({
        kind, model, size: `${r}x${r}`, images: count, reps, unet_evals: evals, s_per_image: round(per.s),
        ...(onCpu ? { cpu_s_per_image: round(per.cpuS) } : {}),
      });
    }
    report({
      kind: 'ratio', model, size: `${r}x${r}`, dire_over_dnf: round(results.dire.s / results.dnf.s), unet_evals_ratio: 2 * steps,
      ...(onCpu ? { dire_over_dnf_cpu: round(results.dire.cpuS / results.dnf.cpuS) } : {}),
    });
  } finally {
    unet.dispose();
  }
}
