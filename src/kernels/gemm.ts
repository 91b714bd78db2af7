/**
 * How winograd_gemm.wgsl's main entry is dispatched: the batched GEMM
 *   M[q][co][t] = sum over ci of U[block(co)][q][ci][co % 16] V[q][ci][t]
 * of its two users (the Winograd product, src/kernels/conv2d-winograd.ts; the 1x1 GEMM,
 * src/kernels/conv1x1-gemm.ts), U's vec4 for (block, q, ci) at block * uBlock + q * uPos + ci * 4.
 *
 * Either one dispatch over every block and q, U read from its storage binding, or (`uWindow`, the
 * CPU adapters' way) several, each reading U through a 64 KiB uniform window of U's buffer that
 * holds every U vector the dispatch reads: Mesa 22.3's llvmpipe loads a storage buffer inside a
 * loop one invocation at a time (a branch per lane and component), even where every invocation
 * reads the same address, and a uniform buffer's as one gather. Measured on llvmpipe (2-core
 * EPYC, 256 input channels, 4096 tiles, 16 output blocks, 32 tiles per invocation): 134 ms with U
 * in storage, 83 ms through windows (1.6x); SwiftShader 284 -> 220 ms. A dispatch takes the blocks
 * and q whose U slices (cin vec4 each) lie within one window: consecutive q of one block for the
 * Winograd product (U [blocks][positions][cin][16]), consecutive blocks for all q at once for the
 * 1x1 GEMM (one U for every image). Each output is the same sum either way: the same bits.
 * Layers whose slice alone exceeds a window (over 1024 input channels), or whose windows would
 * hold one workgroup each, keep the storage binding. UNet-256 forward, same process, alternated
 * runs: 73.7 / 78.3 CPU s with windows against 78.2 / 80.8 without.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../tensor.js';
import { ceilDiv, workgroupFor } from './grid.js';

/** Bytes of winograd_gemm.wgsl's uniform window Uw (array<vec4<f32>, 4096>; the WebGPU default limit). */
export const U_WINDOW_BYTES = 65536;

/**
 * Invocations per workgroup of a windowed dispatch: one SIMD vector of llvmpipe with AVX2, so that
 * a window's few blocks and q still make workgroups for every thread.
 */
const WINDOW_WG = 8;
/** Fewest workgroups per windowed dispatch: below, U stays in its storage binding. */
const MIN_WORKGROUPS = 2;

export interface GemmEpilogue {
  bias?: Tensor;
  residual?: Tensor;
  /** 0: none, 1: swish, 2: relu (winograd_gemm.wgsl's act). */
  act: number;
}

export interface Gemm {
  v: Tensor;
  u: Tensor;
  m: Tensor;
  /** The sum's length. */
  cin: number;
  /** Columns per row of V and M. */
  tpad: number;
  /** Output channels per q of M (blocks * 16). */
  coPad: number;
  /** The GEMMs (workgroup_id.z). */
  qs: number;
  /** U's vec4 strides between blocks and between q (0: one U for every q). */
  uBlock: number;
  uPos: number;
  /** Groups of 4 columns per invocation (TG), invocations over a row. */
  tg: number;
  lanes: number;
  epilogue?: GemmEpilogue;
  /** Read U through uniform windows (see the file's header). */
  uWindow: boolean;
  label: string;
}

interface Window {
  y0: number;
  blocks: number;
  z0: number;
  qs: number;
  /** Byte offset of the window in U's buffer. */
  offset: number;
  /** Vec4 index in U's binding where the window starts (may be below 0). */
  start: number;
}

/**
 * The windows covering every (block, q) of `g`, or null where one slice does not fit (U's buffer
 * under 64 KiB, or more than 1024 input channels).
 */
export function gemmWindows(gpu: Gpu, g: Pick<Gemm, 'u' | 'cin' | 'coPad' | 'qs' | 'uBlock' | 'uPos'>): Window[] | null {
  const { buffer, offset: base } = g.u.binding;
  const align = Math.max(16, gpu.limits.minUniformBufferOffsetAlignment);
  const last = Math.floor((buffer.size - U_WINDOW_BYTES) / align) * align;
  if (last < 0) return null;
  const blocks = g.coPad / 16;
  const slice = g.cin * 4;
  // The window for blocks [y0, y1) and q [z0, z1), or null when their slices span more than one.
  const place = (y0: number, y1: number, z0: number, z1: number): Window | null => {
    const first = base + 16 * (y0 * g.uBlock + z0 * g.uPos);
    const end = base + 16 * ((y1 - 1) * g.uBlock + (z1 - 1) * g.uPos + slice);
    const offset = Math.min(Math.floor(first / align) * align, last);
    if (end > offset + U_WINDOW_BYTES) return null;
    return { y0, blocks: y1 - y0, z0, qs: z1 - z0, offset, start: (offset - base) / 16 };
  };
  if (g.uPos === 0) {
    // One U for every q: runs of blocks, all q.
    return runs(blocks, (y0, y1) => place(y0, y1, 0, g.qs));
  }
  // Runs of q within a block.
  const windows: Window[] = [];
  for (let y = 0; y < blocks; y++) {
    const row = runs(g.qs, (z0, z1) => place(y, y + 1, z0, z1));
    if (!row) return null;
    windows.push(...row);
  }
  return windows;
}

/** Greedy runs [a, b) over 0 .. n, each as long as `fit` allows; null when a single item does not fit. */
function runs(n: number, fit: (a: number, b: number) => Window | null): Window[] | null {
  const out: Window[] = [];
  for (let a = 0; a < n; ) {
    let b = a + 1;
    let best = fit(a, b);
    if (!best) return null;
    for (let next; b < n && (next = fit(a, b + 1)); b++) best = next;
    out.push(best);
    a = b;
  }
  return out;
}

/**
 * The windows recordGemm dispatches `g` through, or null for one dispatch with U in storage: where
 * not asked, where gemmWindows finds none, or where a window would hold a single workgroup, which
 * leaves all threads but one idle (1x1, 1024 channels at 16x16: 0.82x).
 */
export function gemmPlan(gpu: Gpu, g: Pick<Gemm, 'u' | 'cin' | 'coPad' | 'qs' | 'uBlock' | 'uPos' | 'lanes' | 'uWindow'>): Window[] | null {
  const planned = g.uWindow ? gemmWindows(gpu, g) : null;
  return planned?.every((w) => ceilDiv(g.lanes, WINDOW_WG) * w.blocks * w.qs >= MIN_WORKGROUPS) ? planned : null;
}

/** Records the GEMM `g`: through windows where asked and possible, else one dispatch. */
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
  };
  // Bindings the kernel does not read (no bias, no residual, U's other binding) are filled with buffers already bound.
  const rest = [(e?.bias ?? g.v).binding, (e?.residual ?? g.v).binding];
  const windows = gemmPlan(gpu, g);
  if (!windows) {
    const wg = workgroupFor(g.lanes);
    gpu.dispatch({
      shader: 'winograd_gemm',
      overrides: { WG: wg, TG: g.tg },
      params: { ...params, y0: 0, z0: 0, u_win: 0 },
      buffers: [g.v.binding, g.u.binding, g.m.binding, ...rest, gpu.uniformPlaceholder],
      workgroups: [ceilDiv(g.lanes, wg), g.coPad / 16, g.qs],
      label: g.label,
    });
    return;
  }
  const buffer = g.u.binding.buffer;
  for (const w of windows) {
    gpu.dispatch({
      shader: 'winograd_gemm',
      overrides: { WG: WINDOW_WG, TG: g.tg, U_WINDOW: 1 },
      params: { ...params, y0: w.y0, z0: w.z0, u_win: w.start >>> 0 },
      buffers: [g.v.binding, g.v.binding, g.m.binding, ...rest, { buffer, offset: w.offset, size: U_WINDOW_BYTES }],
      workgroups: [ceilDiv(g.lanes, WINDOW_WG), w.blocks, w.qs],
      label: g.label,
    });
  }
}
