/**
 * How a CPU adapter reads values whose address differs from lane to lane: from storage, or from
 * an r32float (or rgba32float) texel mirror of the buffer made just before the dispatch
 * (src/gpu/texels.ts). Kernels that read their input so ask `gpu.laneReads`: the direct
 * convolutions' input (conv2d.wgsl X_TEXELS), the Winograd transforms' x and M (winograd.wgsl
 * S_TEXELS) and GroupNorm's statistics pass (group_norm.wgsl X_TEXELS). Either way the same bits.
 *
 * Why a measurement: the answer depends on the host CPU, not on anything the adapter reports.
 * Mesa 22.3's llvmpipe loads storage one lane at a time (a loop over the lanes, a branch per
 * lane), a texel fetch as a vector gather. With AVX-512 that loop compiles to fast masked code;
 * with AVX2 alone (most laptops' and many servers' CPUs) it is 2 .. 5x slower, and the texels win
 * despite their copy. On a 2-core Xeon with AVX-512, running its own code with AVX-512 turned off
 * (GALLIUM_OVERRIDE_CPU_CAPS=avx: the same cores and clock), the LSUN UNet's profile
 * (`GALLIUM_OVERRIDE_CPU_CAPS=avx BENCH_TORCH=0 node bench/run.mjs unet`, DNF_LANE_TEXELS=off
 * against auto, one run each), storage -> texels: GroupNorm's statistics 770 -> 135 ms per
 * forward, the Winograd input transforms 1913 -> 1275 ms and output transforms 1241 -> 946 ms,
 * the stride-2 Downsamples 876 -> 513 ms; the forward 10.2 -> 8.5 s. With AVX-512 the same
 * mirrors cost: the Downsample at 256x256 9.3 -> 7.5 GFLOP/s per CPU second (bench conv2d).
 *
 * So GpuOptions.laneTexels 'auto' (the default) measures, once per Gpu on CPU adapters, this
 * probe (shaders/lane_reads.wgsl: 4M values in the kernels' pattern, each way PROBE_REPS times
 * after a warm-up) and takes the texels where they run in under TEXELS_BELOW of storage's best
 * time (AVX2 code: 6.5 against 11.3 ms; AVX-512: 10.4 against 4.2; SwiftShader: 18.3 against 9.5);
 * GPUs read storage. 'on' and 'off' force either way (env DNF_LANE_TEXELS).
 */
import { Tensor } from '../tensor.js';
import type { Gpu } from './gpu.js';
import type { TexelFormat, Texels } from './texels.js';

export type LaneReads = 'storage' | 'texels';
export type LaneTexelsChoice = 'auto' | 'on' | 'off';

/** The probe's result: the choice and the best time of each way (null where not measured). */
export interface LaneReadsProbe {
  reads: LaneReads;
  storageMs: number | null;
  texelsMs: number | null;
}

const WG = 64;
const LANES = 1 << 16;
const PER_LANE = 64;
const PROBE_REPS = 4;
/** Texels only where clearly faster: where the two are close, storage saves the copy's memory. */
const TEXELS_BELOW = 0.9;

/** Times the probe both ways on `gpu` and returns the choice. */
export async function measureLaneReads(gpu: Gpu): Promise<LaneReadsProbe> {
  const n = LANES * PER_LANE;
  const src = Tensor.from(gpu, new Float32Array(n).map((_, i) => (i % 97) / 97), [n], 'lane_reads.src');
  const out = Tensor.empty(gpu, [LANES], 'lane_reads.out');
  if (!gpu.texelPool.fits(n)) {
    [src, out].forEach((t) => t.dispose());
    return { reads: 'storage', storageMs: null, texelsMs: null };
  }
  const run = async (reads: LaneReads): Promise<number> => {
    const t0 = performance.now();
    const st = reads === 'texels' ? gpu.texelMirror(src.binding, n, 'lane_reads.St', 'r32float') : null;
    gpu.dispatch({
      shader: 'lane_reads',
      overrides: { WG, S_TEXELS: st ? 1 : 0 },
      params: { lanes: LANES, per_lane: PER_LANE },
      buffers: [src.binding, out.binding, st ?? gpu.texturePlaceholder],
      workgroups: [LANES / WG],
      label: `lane_reads.${reads}`,
    });
    st?.release();
    await gpu.sync();
    return performance.now() - t0;
  };
  const best = { storage: Infinity, texels: Infinity };
  try {
    // The first run of each compiles its pipeline; alternate, so that a busy moment hits both.
    await run('storage');
    await run('texels');
    for (let r = 0; r < PROBE_REPS; r++) {
      for (const reads of ['storage', 'texels'] as const) best[reads] = Math.min(best[reads], await run(reads));
    }
  } finally {
    [src, out].forEach((t) => t.dispose());
  }
  return { reads: best.texels < TEXELS_BELOW * best.storage ? 'texels' : 'storage', storageMs: round(best.storage), texelsMs: round(best.texels) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * A texel mirror of all of t for a kernel that reads it lane by lane, where `reads` says so and
 * the adapter's textures hold it; null (read storage) otherwise. 'r32float': one value per
 * texel; 'rgba32float': one vec4.
 */
export function laneMirror(t: Tensor, reads: LaneReads, label: string, format: TexelFormat = 'r32float'): Texels | null {
  if (reads !== 'texels' || !t.size) return null;
  const texels = format === 'r32float' ? t.size : Math.ceil(t.size / 4);
  const b = t.binding;
  if (b.offset % 16 || !t.gpu.texelPool.fits(texels)) return null;
  return t.gpu.texelMirror(b, texels, label, format);
}
