/**
 * How winograd_gemm.wgsl's main entry is dispatched: the batched GEMM
 *   M[q][co][t] = sum over ci of U[block(co)][q][ci][co % 16] V[q][ci][t]
 * of its two users (the Winograd product, src/kernels/conv2d-winograd.ts; the 1x1 GEMM,
 * src/kernels/conv1x1-gemm.ts), U's vec4 for (block, q, ci) at block * uBlock + q * uPos +
 * ci * uCi, V's in blocks of vBlock columns ([q][block][cin][vBlock], the last block narrower
 * where tpad ends first; one block of tpad: [q][cin][tpad]).
 *
 * Four ways to read the operands (`reads`), all giving the same bits:
 * - 'storage': one dispatch over every block and q, U and V read from their storage bindings;
 * - 'texels' (CPU adapters' default, see gemmReads): one dispatch, U and V read from texel mirrors
 *   of their bindings (src/gpu/texels.ts), copied just before it;
 * - 'u' (the 1x1 GEMM; one U for every q): several dispatches, each reading U through a 64 KiB
 *   uniform window of U's buffer that holds every U vector it reads: runs of blocks for all q
 *   (all images), the whole sum in each;
 * - 'uv' (the Winograd product; a tuning option): U and V both through windows. A dispatch takes
 *   one q, one block of V's columns and kc input channels (kc rows of the block fill V's window,
 *   those rows of U for a run of blocks fill U's: U [q][cin][blocks][16] keeps them together);
 *   the sum runs over the input channels in parts, each dispatch continuing the partial sum the
 *   one before stored in M, in order: the same bits as one pass.
 * Why: Mesa 22.3's llvmpipe loads a storage buffer one invocation at a time, with a branch per
 * lane and component (inside loops even where every invocation reads the same address), a
 * uniform buffer's as one gather, and a texel as vector code. Measured: see gemmReads and the
 * README's Speed section. Where no window or mirror fits (a slice over a window, a buffer under
 * one, a mirror over the adapter's texture height) or a window would hold a single workgroup,
 * the GEMM keeps its storage bindings.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { Texels } from '../gpu/texels.js';
import type { Tensor } from '../tensor.js';
import { ceilDiv, workgroupFor } from './grid.js';

/** Bytes of winograd_gemm.wgsl's uniform windows Uw and Vw (array<vec4<f32>, 4096>; the WebGPU default limit). */
export const WINDOW_BYTES = 65536;
const WINDOW_VEC4 = WINDOW_BYTES / 16;

/**
 * Invocations per workgroup of a windowed dispatch: one SIMD vector of llvmpipe with AVX2, so that
 * a window's few blocks and q still make workgroups for every thread.
 */
export const WINDOW_WG = 8;
/** Fewest workgroups per windowed dispatch: below, the GEMM keeps its storage bindings. */
const MIN_WORKGROUPS = 2;
/** Fewest input channels per part of a split sum ('uv'): fewer would mostly move partial sums. */
const MIN_PART = 8;

/**
 * How the GEMM of `user` reads its operands by default on this adapter: CPU adapters 'texels'.
 * Measured against storage (`node bench/run.mjs gemm`, 2-core AVX-512 EPYC): on llvmpipe the
 * Winograd product 0.76 .. 1.64x over the LSUN UNet's levels (mostly faster), the 1x1 GEMM at
 * 64x64, 256 -> 512 channels 1.86x against the U windows' 1.69x, the UNet 1.2 .. 1.3x
 * (alternated runs, see the README); on SwiftShader the 1x1 GEMM 1.08 .. 1.92x where the U
 * windows ran 0.70 .. 1.08x, the product at 128x128 1.24x and 1.29x, at 64x64 0.92x, the UNet
 * 61.4 -> 53.1 s. Other adapters (which run these GEMMs only when asked, DNF_CONV3X3=winograd):
 * the 1x1 GEMM U through windows ('u'), the Winograd product storage. GpuOptions.texels (env
 * DNF_TEXELS) turns the texels on or off everywhere.
 */
export function gemmReads(gpu: Gpu, user: 'winograd' | 'conv1x1'): GemmReads {
  if (gpu.texels === 'on' || (gpu.texels === 'auto' && gpu.memoryIsHost)) return 'texels';
  return user === 'conv1x1' ? 'u' : 'storage';
}

export interface GemmEpilogue {
  bias?: Tensor;
  residual?: Tensor;
  /** 0: none, 1: swish, 2: relu (winograd_gemm.wgsl's act). */
  act: number;
}

export type GemmReads = 'storage' | 'u' | 'uv' | 'texels';

export interface Gemm {
  v: Tensor;
  u: Tensor;
  m: Tensor;
  /** The sum's length. */
  cin: number;
  /** Columns per row of V and M. */
  tpad: number;
  /** Columns per block of V (a multiple of 4 tg; the last block narrower where tpad ends first; tpad: one block). */
  vBlock: number;
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

/** A window of a buffer: its byte offset there, and the vec4 index in the tensor's binding where it starts (may be below 0). */
export interface Window {
  offset: number;
  start: number;
}

/** One dispatch: blocks [y0, y0 + blocks), q [z0, z0 + qs), lanes [x0, xEnd), input channels [c0, c0 + kc). */
export interface GemmDispatch {
  y0: number;
  blocks: number;
  z0: number;
  qs: number;
  x0: number;
  xEnd: number;
  c0: number;
  kc: number;
  u?: Window;
  v?: Window;
}

type Shape = Pick<Gemm, 'v' | 'u' | 'cin' | 'tpad' | 'vBlock' | 'coPad' | 'qs' | 'uBlock' | 'uPos' | 'uCi' | 'tg' | 'lanes' | 'reads'> & { label?: string };

/**
 * The window of t's buffer holding t's vec4 [first, end) (indices in t's binding), aligned as
 * uniform bindings must be and inside the buffer; null when none does.
 */
function windowOf(gpu: Gpu, t: Tensor, first: number, end: number): Window | null {
  const { buffer, offset: base } = t.binding;
  const align = Math.max(16, gpu.limits.minUniformBufferOffsetAlignment);
  const last = Math.floor((buffer.size - WINDOW_BYTES) / align) * align;
  if (last < 0) return null;
  const offset = Math.min(Math.floor((base + 16 * first) / align) * align, last);
  if (base + 16 * first < offset || base + 16 * end > offset + WINDOW_BYTES) return null;
  return { offset, start: (offset - base) / 16 };
}

/** Greedy runs [a, b) over 0 .. n, each as long as `fit` allows; null when a single item does not fit. */
function runs<T>(n: number, fit: (a: number, b: number) => T | null): { a: number; b: number; value: T }[] | null {
  const out: { a: number; b: number; value: T }[] = [];
  for (let a = 0; a < n; ) {
    let b = a + 1;
    let best = fit(a, b);
    if (best === null) return null;
    for (let next; b < n && (next = fit(a, b + 1)) !== null; b++) best = next;
    out.push({ a, b, value: best });
    a = b;
  }
  return out;
}

/** U's vec4 [first, end) for blocks [y0, y1), q [z0, z1), input channels [c0, c1). */
function uSpan(g: Shape, y0: number, y1: number, z0: number, z1: number, c0: number, c1: number): [number, number] {
  return [y0 * g.uBlock + z0 * g.uPos + c0 * g.uCi, (y1 - 1) * g.uBlock + (z1 - 1) * g.uPos + (c1 - 1) * g.uCi + 4];
}

/** 'u' (one U for every q, uPos 0: the 1x1 GEMM): runs of blocks for all q, each with the whole sum. */
function uWindows(gpu: Gpu, g: Shape): GemmDispatch[] | null {
  if (g.uPos !== 0) throw new Error(`${g.label}: U alone through windows serves one U for every q (uPos 0), got uPos ${g.uPos}`);
  const runsOfBlocks = runs(g.coPad / 16, (y0, y1) => windowOf(gpu, g.u, ...uSpan(g, y0, y1, 0, g.qs, 0, g.cin)));
  return runsOfBlocks?.map((r) => ({ y0: r.a, blocks: r.b - r.a, z0: 0, qs: g.qs, x0: 0, xEnd: g.lanes, c0: 0, kc: g.cin, u: r.value })) ?? null;
}

/**
 * 'uv': for each q, block of V's columns and part of the sum, runs of blocks whose U rows share
 * a window. The parts are as few as V's window allows (kc rows of vBlock / 4 vec4), of equal
 * length but the last.
 */
function uvWindows(gpu: Gpu, g: Shape): GemmDispatch[] | null {
  const cols = g.vBlock / 4;
  const row = g.tpad / 4;
  const per = cols / g.tg;
  const vBlocks = Math.ceil(row / cols);
  const blocks = g.coPad / 16;
  if (g.v.binding.buffer.size < WINDOW_BYTES || g.u.binding.buffer.size < WINDOW_BYTES) return null;
  // The most rows a window holds: of V's block, and of one block's U (uCi apart).
  const most = Math.min(Math.floor(WINDOW_VEC4 / cols), Math.floor((WINDOW_VEC4 - 4) / Math.max(1, g.uCi)) + 1);
  for (let parts = Math.ceil(g.cin / most); ; parts++) {
    const kc = Math.ceil(g.cin / parts);
    if (kc < Math.min(MIN_PART, g.cin)) return null;
    const out: GemmDispatch[] = [];
    let fits = true;
    for (let q = 0; q < g.qs && fits; q++) {
      for (let cb = 0; cb < vBlocks && fits; cb++) {
        const width = Math.min(cols, row - cb * cols);
        for (let c0 = 0; c0 < g.cin && fits; c0 += kc) {
          const c1 = Math.min(g.cin, c0 + kc);
          const first = q * g.cin * row + cb * g.cin * cols + c0 * width;
          const v = windowOf(gpu, g.v, first, first + (c1 - c0) * width);
          const us = v && runs(blocks, (y0, y1) => windowOf(gpu, g.u, ...uSpan(g, y0, y1, q, q + 1, c0, c1)));
          if (!v || !us) {
            fits = false;
            break;
          }
          for (const r of us) out.push({ y0: r.a, blocks: r.b - r.a, z0: q, qs: 1, x0: cb * per, xEnd: cb * per + width / g.tg, c0, kc: c1 - c0, u: r.value, v });
        }
      }
    }
    if (fits) return out;
  }
}

/**
 * The dispatches recordGemm makes for `g`: one ('storage', 'texels', or where no window fits, or where a window
 * would hold a single workgroup, which leaves all threads but one idle: 1x1, 1024 channels at
 * 16x16, 0.82x) or the windows' (see the file's header).
 */
export function gemmPlan(gpu: Gpu, g: Shape): GemmDispatch[] {
  const single: GemmDispatch = { y0: 0, blocks: g.coPad / 16, z0: 0, qs: g.qs, x0: 0, xEnd: g.lanes, c0: 0, kc: g.cin };
  const planned = g.reads === 'u' ? uWindows(gpu, g) : g.reads === 'uv' ? uvWindows(gpu, g) : null;
  const enough = planned?.every((d) => ceilDiv(d.xEnd - d.x0, WINDOW_WG) * d.blocks * d.qs >= MIN_WORKGROUPS);
  return planned && enough ? planned : [single];
}

/** Records the GEMM `g`: through texel mirrors or windows where asked and possible, else from storage. */
export function recordGemm(gpu: Gpu, g: Gemm): void {
  const e = g.epilogue;
  const params = {
    cin: g.cin,
    tpad: g.tpad,
    co_pad: g.coPad,
    u_block: g.uBlock,
    u_pos: g.uPos,
    has_bias: e?.bias ? 1 : 0,
    has_residual: e?.residual ? 1 : 0,
    act: e?.act ?? 0,
    u_ci: g.uCi,
    vblock: g.vBlock,
  };
  // Bindings the kernel does not read (no bias, no residual, a window not used) are filled with buffers already bound.
  const rest = [(e?.bias ?? g.v).binding, (e?.residual ?? g.v).binding];
  const window = (t: Tensor, w: Window) => ({ buffer: t.binding.buffer, offset: w.offset, size: WINDOW_BYTES });
  // Texel mirrors, each where it fits (the other operand then comes from storage).
  const texels = g.reads === 'texels';
  const vt = texels ? mirror(g.v, `${g.label}.Vt`) : null;
  const ownU = texels && g.uTexels === undefined;
  const ut = ownU ? mirror(g.u, `${g.label}.Ut`) : (g.uTexels ?? null);
  for (const d of gemmPlan(gpu, g)) {
    const wg = d.u ? WINDOW_WG : workgroupFor(g.lanes);
    gpu.dispatch({
      shader: 'winograd_gemm',
      overrides: { WG: wg, TG: g.tg, U_WINDOW: d.u ? 1 : 0, V_WINDOW: d.v ? 1 : 0, RESUME: d.c0 > 0 ? 1 : 0, V_TEXELS: vt ? 1 : 0, U_TEXELS: ut ? 1 : 0 },
      params: { ...params, y0: d.y0, z0: d.z0, u_win: (d.u?.start ?? 0) >>> 0, x0: d.x0, x_end: d.xEnd, c0: d.c0, kc: d.kc, v_win: (d.v?.start ?? 0) >>> 0 },
      buffers: [
        g.v.binding,
        g.u.binding,
        g.m.binding,
        ...rest,
        d.u ? window(g.u, d.u) : gpu.uniformPlaceholder,
        d.v ? window(g.v, d.v) : gpu.uniformPlaceholder,
        vt ?? gpu.texturePlaceholder,
        ut ?? gpu.texturePlaceholder,
      ],
      workgroups: [ceilDiv(d.xEnd - d.x0, wg), d.blocks, d.qs],
      label: g.label,
    });
  }
  vt?.release();
  if (ownU) ut?.release();
}

/** A texel mirror of all of t (src/gpu/texels.ts), or null where the adapter's textures cannot hold it. */
export function mirror(t: Tensor, label: string): Texels | null {
  const gpu = t.gpu;
  return gpu.texelPool.fits(t.size / 4) ? gpu.texelMirror(t.binding, t.size / 4, label) : null;
}
