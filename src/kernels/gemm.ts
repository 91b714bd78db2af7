/**
 * How winograd_gemm.wgsl's main entry is dispatched: the batched GEMM
 *   M[q][co][t] = sum over ci of U[block(co)][q][ci][co % 16] V[q][ci][t]
 * of its two users (the Winograd product, src/kernels/conv2d-winograd.ts; the 1x1 GEMM,
 * src/kernels/conv1x1-gemm.ts), U's vec4 for (block, q, ci) at block * uBlock + q * uPos +
 * ci * uCi, V [q][cin][tpad].
 *
 * Two ways to read the operands (`reads`), giving the same bits:
 * - 'storage': from their storage bindings;
 * - 'texels' (CPU adapters' default, see gemmReads): from texel mirrors of their bindings
 *   (src/gpu/texels.ts), copied just before the dispatch (U's may be the caller's, made once for
 *   several GEMMs); an operand over the adapter's texture height stays in storage.
 * Why: Mesa 22.3's llvmpipe loads a storage buffer one invocation at a time, with a branch per
 * lane and component (inside loops even where every invocation reads the same address), while a
 * texel fetch is vector code. Earlier versions also read U, or U and V, through 64 KiB uniform
 * windows of their buffers (one gather per load on llvmpipe; several dispatches, the sum in
 * parts): against storage the 1x1 GEMM's U windows ran 1.26 .. 1.69x on llvmpipe (below the
 * texels' 1.86x) and 0.70 .. 1.08x on SwiftShader, the product's U and V windows 0.36 .. 1.21x,
 * so they were removed.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { Texels } from '../gpu/texels.js';
import type { Tensor } from '../tensor.js';
import { ceilDiv, workgroupFor } from './grid.js';

export type GemmReads = 'storage' | 'texels';

/**
 * How the GEMMs read their operands by default on this adapter: CPU adapters 'texels', others
 * (which run these GEMMs only when asked, DNF_CONV3X3=winograd) 'storage'. Measured against
 * storage (`node bench/run.mjs gemm`, 2-core AVX-512 EPYC): on llvmpipe the Winograd product
 * 0.76 .. 1.64x over the LSUN UNet's levels (mostly faster), the 1x1 GEMM at 64x64, 256 -> 512
 * channels 1.86x, the UNet 1.2 .. 1.3x (alternated runs, see the README); on SwiftShader the 1x1
 * GEMM 1.08 .. 1.92x, the product at 128x128 1.24x and 1.29x, at 64x64 0.92x, the UNet 61.4 ->
 * 53.1 s. GpuOptions.texels (env DNF_TEXELS) turns the texels on or off everywhere.
 */
export function gemmReads(gpu: Gpu): GemmReads {
  return gpu.texels === 'on' || (gpu.texels === 'auto' && gpu.memoryIsHost) ? 'texels' : 'storage';
}

export interface GemmEpilogue {
  bias?: Tensor;
  residual?: Tensor;
  /** 0: none, 1: swish, 2: relu (winograd_gemm.wgsl's act). */
  act: number;
}

export interface Gemm {
  v: Tensor;
  /** null where U is read from the caller's texel mirror alone (uTexels). */
  u: Tensor | null;
  m: Tensor;
  /** The sum's length. */
  cin: number;
  /** Columns per row of V and M. */
  tpad: number;
  /** Output channels per q of M (blocks * 16). */
  coPad: number;
  /** The GEMMs (workgroup_id.z). */
  qs: number;
  /** U's vec4 strides between blocks, between q (0: one U for every q) and between input channels. */
  uBlock: number;
  uPos: number;
  uCi: number;
  /** Groups of 4 columns per invocation (TG), invocations over a row (tpad / (4 tg)). */
  tg: number;
  lanes: number;
  epilogue?: GemmEpilogue;
  reads: GemmReads;
  /** 'texels': U's mirror made by the caller once for several GEMMs (null: U from storage; absent: recordGemm mirrors U for this one). */
  uTexels?: Texels | null;
  label: string;
}

/**
 * Bytes of V one workgroup reads (its run of columns over every input channel): the blocks of
 * output channels are its neighbours in dispatch order, so that run is read again from a core's
 * cache rather than from memory. Measured on llvmpipe (`node bench/run.mjs conv2d`, 2-core Xeon
 * with AVX-512, 2 MiB of L2 per core), the 1x1 GEMM, GFLOP/s:
 *
 *   layer (channels)     64 lanes strided     columns together    blocks first, run of
 *                        over the row         (64 lanes)          128K  512K  2M    8M
 *   256x256, 256 -> 128  10.8                 15.7                28.6  28.6  24.2  20.7
 *   128x128, 384 -> 128  12.4                 15.0                29.4  28.7  28.0  16.0
 *   64x64, 256 -> 512    26.3                 26.6                29.9  30.3  26.8  25.5
 *   256x256, 128 -> 128                                           26.0  27.0  20.1  20.0
 *
 * (the old layout read a lane's TG vec4 a whole row apart: 16 pages per input channel at 256x256).
 */
const GEMM_RUN_BYTES = 512 << 10;

/** Invocations per workgroup: as many as the lanes need (up to 64) while the run of V stays within GEMM_RUN_BYTES, 8 at least (a SIMD vector of llvmpipe). */
export function gemmWorkgroup(lanes: number, tg: number, cin: number): number {
  const perLane = tg * 16 * cin; // TG vec4 of V (16 bytes each) per input channel
  return Math.max(8, Math.min(workgroupFor(lanes), 2 ** Math.floor(Math.log2(Math.max(1, GEMM_RUN_BYTES / perLane)))));
}

/** Records the GEMM `g`: one dispatch over every block and q, its operands read as `g.reads` asks. */
export function recordGemm(gpu: Gpu, g: Gemm): void {
  const e = g.epilogue;
  // Texel mirrors, each where it fits (the other operand then comes from storage).
  const texels = g.reads === 'texels';
  const vt = texels ? mirror(g.v, `${g.label}.Vt`) : null;
  const ownU = texels && g.uTexels === undefined && !!g.u;
  const ut = ownU ? mirror(g.u!, `${g.label}.Ut`) : (g.uTexels ?? null);
  if (!g.u && !ut) throw new Error(`${g.label}: U is neither in a buffer nor in a texel mirror`);
  const wg = gemmWorkgroup(g.lanes, g.tg, g.cin);
  gpu.dispatch({
    shader: 'winograd_gemm',
    overrides: { WG: wg, TG: g.tg, V_TEXELS: vt ? 1 : 0, U_TEXELS: ut ? 1 : 0 },
    params: {
      cin: g.cin,
      tpad: g.tpad,
      co_pad: g.coPad,
      u_block: g.uBlock,
      u_pos: g.uPos,
      has_bias: e?.bias ? 1 : 0,
      has_residual: e?.residual ? 1 : 0,
      act: e?.act ?? 0,
      u_ci: g.uCi,
    },
    // Bindings the kernel does not read (no bias, no residual, a mirror not used) are filled with ones already bound.
    buffers: [
      g.v.binding,
      (g.u ?? g.v).binding,
      g.m.binding,
      (e?.bias ?? g.v).binding,
      (e?.residual ?? g.v).binding,
      vt ?? gpu.texturePlaceholder,
      ut ?? gpu.texturePlaceholder,
    ],
    workgroups: [g.coPad / 16, ceilDiv(g.lanes, wg), g.qs],
    label: g.label,
  });
  vt?.release();
  if (ownU) ut?.release();
}

/** A texel mirror of all of t (src/gpu/texels.ts), or null where the adapter's textures cannot hold it. */
export function mirror(t: Tensor, label: string): Texels | null {
  const gpu = t.gpu;
  return gpu.texelPool.fits(t.size / 4) ? gpu.texelMirror(t.binding, t.size / 4, label) : null;
}
