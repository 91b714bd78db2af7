/**
 * `dnf doctor`: which GPU the engine uses, its limits and features, and a matmul self-test;
 * `--list`: every adapter Dawn offers, with the index `--adapter` takes.
 *
 * A software adapter (a CPU emulating a GPU: Mesa's llvmpipe/lavapipe/softpipe, SwiftShader,
 * Microsoft's WARP, or any adapter flagged isFallbackAdapter) is named as such, with the speed to
 * expect for the LSUN UNet: its 497.0 GFLOP per 256x256 image (2 x 248.5 G multiply-adds, counted
 * from the lsun-bedroom-256 config's layers by bench/lib/unet-layers.mjs, see bench/unet.mjs)
 * divided by the self-test's matmul rate. Matmul is the engine's fastest kernel family on these
 * adapters, so the figure is a lower bound ("or more"): on an idle 2-core machine the matmul runs
 * at 13.5-15.2 GFLOP/s on llvmpipe (DESIGN.md), an estimate of 33-37 s, and the UNet takes ~63 s
 * per image there. The rate is measured now, so a busy machine gets a slower estimate, as it
 * will get a slower run. The GPU figure is the same count at 10 TFLOP/s (a mid-range discrete
 * GPU's f32 peak).
 */
import type { Command } from 'commander';
import type { AdapterSummary } from '../gpu/gpu.js';
import { listAdapters, withGpu } from '../node/acquire.js';
import { selfTest, type SelfTest } from '../selftest.js';
import { formatDuration } from '../node/progress.js';

/** FLOPs of one LSUN UNet forward at 256x256 (see the module comment). */
export const LSUN_UNET_GFLOP = 497.0;
/** A GPU's f32 rate for the comparison: a mid-range discrete GPU, 10 TFLOP/s. */
const REAL_GPU_GFLOPS = 10_000;

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

/** The software renderer an adapter is, or null for hardware. */
export function softwareAdapter(a: AdapterSummary | { name: string }): string | null {
  const text = 'name' in a ? a.name : `${a.vendor} ${a.architecture} ${a.device} ${a.description}`;
  const m = SOFTWARE.exec(text);
  if (m) return m[0].toLowerCase() === 'swiftshader' ? 'SwiftShader' : m[0].toLowerCase() === 'warp' ? 'WARP' : m[0].toLowerCase();
  return 'isFallbackAdapter' in a && a.isFallbackAdapter ? 'fallback adapter' : null;
}

export interface SoftwareNote {
  renderer: string;
  /** Seconds per 256x256 image for the LSUN UNet at the self-test's rate (a lower bound). */
  expectSecondsPerImage: number;
  /** The same on a 10 TFLOP/s GPU. */
  gpuSecondsPerImage: number;
  basis: string;
}

export function softwareNote(renderer: string, test: SelfTest): SoftwareNote {
  return {
    renderer,
    expectSecondsPerImage: LSUN_UNET_GFLOP / test.gflops,
    gpuSecondsPerImage: LSUN_UNET_GFLOP / REAL_GPU_GFLOPS,
    basis: `${LSUN_UNET_GFLOP} GFLOP per LSUN UNet forward at the self-test's ${test.gflops.toFixed(2)} GFLOP/s`,
  };
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('show the GPU adapter, backend, limits and features, and run a quick matmul self-test; --list: the adapters to choose from with --adapter')
    .option('--json', 'print one JSON object')
    .option('--list', 'list the adapters Dawn offers, with the index --adapter takes')
    .action(async (opts: { json?: boolean; list?: boolean }) => {
      if (opts.list) {
        const list = await listAdapters(program.opts().backend);
        const rows = list.map((e) => ({ ...e, software: softwareAdapter(e) !== null }));
        if (opts.json) console.log(JSON.stringify(rows, null, 2));
        else if (!rows.length) console.log('Dawn did not list its adapters here; --adapter takes high-performance or low-power');
        else for (const r of rows) console.log(`${String(r.index).padStart(2)}  ${r.backend.padEnd(11)} ${r.name}${r.software ? '  (software: CPU)' : ''}`);
        return;
      }
      await withGpu({ backend: program.opts().backend }, async (gpu) => {
        const test = await selfTest(gpu);
        const renderer = softwareAdapter(gpu.adapter);
        const software = renderer ? softwareNote(renderer, test) : null;
        const report = { ...gpu.describe(), software, selfTest: test };
        if (opts.json) {
          console.log(JSON.stringify(report, null, 2));
        } else {
          const a = report.adapter;
          console.log(`backend        ${report.backend} (${report.featureLevel} feature level)`);
          console.log(`adapter        ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ')}${a.isFallbackAdapter ? ' (fallback)' : ''}`);
          for (const [k, v] of Object.entries(report.limits)) console.log(`${k.padEnd(34)} ${v}`);
          console.log(`features       ${report.features.join(', ') || '(none)'}`);
          const lanes = report.laneReads;
          const probe = lanes.probe ? `: measured ${lanes.probe.storageMs} ms from storage, ${lanes.probe.texelsMs} ms from texels` : lanes.laneTexels === 'auto' ? ' (a GPU: no probe)' : ` (DNF_LANE_TEXELS=${lanes.laneTexels})`;
          console.log(`lane reads     ${lanes.reads}${probe}`);
          console.log(
            `self-test      ${test.ok ? 'ok' : 'FAILED'}: matmul error ${test.maxRelError.toExponential(2)}; ` +
              `${test.size}^3 in ${test.ms.toFixed(1)} ms = ${test.gflops.toFixed(2)} GFLOP/s`,
          );
          if (software) {
            console.log(
              `software       ${software.renderer} is a software (CPU) adapter: expect ${formatDuration(software.expectSecondsPerImage * 1000)} or more ` +
                `per 256x256 image for the LSUN UNet on it (${software.basis}); a real GPU (10 TFLOP/s) takes ~${software.gpuSecondsPerImage.toFixed(2)} s`,
            );
          }
        }
        if (!test.ok) process.exitCode = 1;
      });
    });
}
