/**
 * The 3x3 stride-1 'same' convolution by Winograd's F(4x4, 3x3) or F(6x6, 3x3) (winograd.wgsl,
 * winograd_gemm.wgsl): 2.25 or 1.78 multiplies per output, input channel and kernel against 9.
 * (Described below for F(4x4, 3x3); F(6x6, 3x3) has 8x8 transformed tiles, 64 positions.)
 * Three passes per chunk of 4x4 output tiles: the input transform V = B^T d B, 36 products
 * M = U V over the input channels (one per transformed position, the register tile of conv2d), and
 * the output transform Y = A^T M A with conv2d's bias, activation and residual. U = G g G^T is
 * computed once per layer, on the GPU from conv2d's laid-out weights, the first time the layer
 * runs this way (so layers that never do keep no copy: U is 4x the weights).
 *
 * Chunks: V and M hold 36 values per tile and channel, so a 256x256 map with 256 channels needs
 * 151 MB for V; tiles are taken in chunks whose V and M stay within CHUNK_BYTES (and the binding
 * limit). Every output is computed by the same arithmetic whatever the chunking and the batch.
 *
 * Float error: the transforms add rounding (B^T's and A^T's entries reach 5 and 8); measured in
 * test/gpu/conv2d-winograd.test.ts against float64 and documented in the README's Speed section.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { Texels } from '../gpu/texels.js';
import { Tensor } from '../tensor.js';
import { conv2dPixelGroups, residualPerImage, type Conv2dOptions, type Conv2dWeights } from './conv2d.js';
import { laneMirror, type LaneReads } from '../gpu/lane-reads.js';
import { gemmReads, mirror, recordGemm, type GemmReads } from './gemm.js';
import { ceilDiv, grid1d, workgroupFor } from './grid.js';

const WG = 64;
/**
 * Output tile side m of F(m x m, 3x3): 4 (6x6 transformed tiles, 36 positions) or 6 (8x8, 64
 * positions: 1.78 multiplies per output against 2.25, and fewer transform loads and stores per
 * output, for somewhat more rounding; winograd.wgsl's *6 entries).
 */
export type WinogradTile = 4 | 6;
const positions = (m: WinogradTile) => (m + 2) * (m + 2);
/** Bytes for V (and for M) per chunk: larger chunks mean fewer dispatches, smaller ones stay in cache. */
const CHUNK_BYTES = 32 << 20;
const ACT = { none: 0, swish: 1, relu: 2 } as const;
/** Tiles per invocation of winograd_gemm.wgsl (4 * its TG), most first; chunks are multiples of the largest. */
const TILE_CHOICES = [64, 32, 16, 8] as const;
/**
 * Chunks of at least this many tiles run F(6x6)'s input transform four tiles per invocation,
 * V written as one vec4 per position (winograd.wgsl input6x4; the same bits): llvmpipe stores
 * storage lane by lane, a vec4 for about the price of an f32, but four tiles per invocation leave
 * a quarter of the invocations. The pass, per call on a 2-core Xeon (one value per store ->
 * vec4), 256x256 with 128 channels (1024-tile chunks): 52.1 -> 39.9 ms (AVX-512), 55.6 -> 42.0
 * (AVX2 code); 128x128 (484 tiles): 13.0 -> 13.9, 14.9 -> 12.7; 64x64 with 256 channels: 4.8 ->
 * 7.4, 6.9 -> 8.9; F(4x4, 3x3) at 32x32 with 256 channels, four tiles to an invocation too, 1.3 ->
 * 2.3, 1.6 -> 3.8 (so F(4x4) keeps one value per store).
 */
const VEC4_STORE_TILES = 1024;
const CHUNK_MULTIPLE = TILE_CHOICES[0];
/** Invocations per workgroup row that the tile choice keeps busy (llvmpipe's SIMD width with AVX2). */
const MIN_LANES = 8;

/** The largest register tile that leaves MIN_LANES invocations for `tiles` tiles (8 tiles at least). */
export function winogradTilesPerLane(tiles: number): number {
  return TILE_CHOICES.find((t) => Math.ceil(tiles / t) >= MIN_LANES) ?? TILE_CHOICES[TILE_CHOICES.length - 1];
}

/**
 * How the product's invocations divide a chunk of `tiles` tiles: 'tiles' (winograd_gemm.wgsl's
 * main: lanes over the tiles, 16 output channels each) while that keeps MIN_LANES invocations
 * busy, else 'channels' (lanes over the output channels, 4 each, for all the chunk's tiles).
 * Both give the same bits.
 */
export function winogradLanes(tiles: number): WinogradLanes {
  return Math.ceil(tiles / winogradTilesPerLane(tiles)) >= MIN_LANES ? 'tiles' : 'channels';
}
export type WinogradLanes = 'tiles' | 'channels';

/** Groups of 4 tiles per invocation of winograd_gemm.wgsl's `channels` entry (its TC): 1 .. MAX_TC. */
const MAX_TC = 8;
function channelColumns(tiles: number): number {
  return Math.min(MAX_TC, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(tiles / 4)))));
}

/** Smallest map side (height and width) run by Winograd on CPU adapters with WINOGRAD_MIN_CHANNELS; see winogradPays. */
export const WINOGRAD_MIN_SIDE = 32;
/** Fewest input and output channels run by Winograd on CPU adapters on maps of WINOGRAD_MIN_SIDE; see winogradPays. */
export const WINOGRAD_MIN_CHANNELS = 32;
/** Smaller maps down to this side run by Winograd on CPU adapters with WINOGRAD_SMALL_MAP_CHANNELS; see winogradPays. */
export const WINOGRAD_SMALL_MAP_SIDE = 4;
export const WINOGRAD_SMALL_MAP_CHANNELS = 256;

/**
 * Whether a 3x3 stride-1 'same' layer over h x w maps runs by Winograd (the Gpu's `conv3x3`
 * choice; 'auto': where measured faster). 'auto' takes it on CPU adapters (the register-tiled
 * PV 4 kernels) for maps of at least WINOGRAD_MIN_SIDE with WINOGRAD_MIN_CHANNELS in and out,
 * and for smaller maps (down to WINOGRAD_SMALL_MAP_SIDE) with WINOGRAD_SMALL_MAP_CHANNELS in
 * and out. Measured on llvmpipe per CPU second (bench/conv2d, batch 1, 2-core Xeon with AVX-512):
 * 256x256 128 -> 128 channels 2.6x faster than the direct kernel, 128x128 128: 2.8x, 64x64 256:
 * 3.3x, 32x32 256: 2.8x (the product's lanes over the tiles); on smaller maps the lanes run over
 * the output channels (winogradLanes), so they need many: 16x16 512: 1.95x, 8x8 512: 2.2x,
 * 8x8 256: 2.0x, 4x4 256: 1.6x, but 16x16 128: 1.07x and 8x8 128: 1.13x, not worth U. With few
 * channels the transforms dominate (32x32: 64 channels 1.3x, 16 channels 0.7x; 64x64, 32
 * channels: 1.5x); the UNet's layers have 128 and more, but 3 in conv_in and conv_out. U is 4x
 * the weights, and the smallest maps hold the largest layers (512 channels at 16x16 and 8x8 in
 * the LSUN UNet). GPUs keep the direct kernel until measured there (bench/gpu.sh runs the UNet
 * both ways). Independent of the batch, so results do not change with it.
 */
export function winogradPays(gpu: Gpu, h: number, w: number, cin: number, cout: number): boolean {
  if (gpu.conv3x3 === 'direct') return false;
  if (gpu.conv3x3 === 'winograd') return true;
  if (conv2dPixelGroups(gpu) !== 4) return false;
  const side = Math.min(h, w);
  const channels = Math.min(cin, cout);
  return side >= WINOGRAD_MIN_SIDE ? channels >= WINOGRAD_MIN_CHANNELS : side >= WINOGRAD_SMALL_MAP_SIDE && channels >= WINOGRAD_SMALL_MAP_CHANNELS;
}

/** Smallest map side run by F(6x6, 3x3) rather than F(4x4, 3x3); see winogradTile. */
export const WINOGRAD6_MIN_SIDE = 64;

/**
 * The output tile for h x w maps: F(6x6, 3x3) from WINOGRAD6_MIN_SIDE, where its partial tiles
 * waste little (64: 66 rows computed, 256: 258), F(4x4, 3x3) below (32 would compute 36 rows, 8
 * would compute 12). Measured on llvmpipe: see the README's Speed section.
 */
export function winogradTile(h: number, w: number): WinogradTile {
  return Math.min(h, w) >= WINOGRAD6_MIN_SIDE ? 6 : 4;
}

/**
 * U = G g G^T of a 3x3 layer's laid-out weights, [36][Cin][blocks][16]: recorded on the GPU; the
 * caller keeps it as long as the weights do not change (nn/Conv2d computes it on first use).
 */
export function winogradWeights(w: Conv2dWeights, m: WinogradTile = 4): Tensor {
  if (w.k !== 3) throw new Error(`conv2d (Winograd): F(${m}x${m}, 3x3) needs a 3x3 kernel, got ${w.k}x${w.k}`);
  if (m !== 4 && m !== 6) throw new Error(`conv2d (Winograd): output tiles of 4 or 6, got ${m}`);
  const gpu = w.weight.gpu;
  const blocks = w.weight.shape[0];
  const u = Tensor.empty(gpu, [positions(m), w.cin, blocks, 16], 'winograd.U');
  const g = grid1d(blocks * w.cin * 16, WG, gpu.limits.maxComputeWorkgroupsPerDimension);
  const unused = unusedBinding(gpu);
  gpu.dispatch({
    shader: 'winograd',
    entry: m === 4 ? 'weights' : 'weights6',
    overrides: { WG },
    params: { ...noTiles, cin: w.cin, cout: w.cout, co_pad: blocks * 16, row: g.row },
    buffers: [w.weight.binding, w.weight.binding, w.weight.binding, u.binding, w.weight.binding, gpu.texturePlaceholder, unused.binding],
    workgroups: g.workgroups,
    label: 'winograd.weights',
  });
  unused.dispose();
  return u;
}

/**
 * A layer's U kept across calls: in a buffer, or, where the GEMMs read U from a texel mirror (CPU
 * adapters, gemmReads), in a mirror of its own alone, made once rather than copied at every call
 * (the buffer goes back to the pool: the same memory, 2 GB for the LSUN UNet's layers).
 */
export interface KeptWinogradWeights {
  readonly tile: WinogradTile;
  /** U's elements: positions(tile) * Cin * blocks * 16. */
  readonly size: number;
  readonly storage: Tensor | null;
  readonly texels: Texels | null;
  dispose(): void;
}

/** winogradWeights(w, m), kept as the GEMMs read it on this adapter (`reads`, default gemmReads). */
export function keepWinogradWeights(w: Conv2dWeights, m: WinogradTile = 4, reads: GemmReads = gemmReads(w.weight.gpu)): KeptWinogradWeights {
  const u = winogradWeights(w, m);
  const gpu = u.gpu;
  if (reads !== 'texels' || !gpu.texelPool.fits(u.size / 4)) return { tile: m, size: u.size, storage: u, texels: null, dispose: () => u.dispose() };
  const texels = gpu.texelHold(u.binding, u.size / 4, 'winograd.Ut');
  // The copy is recorded before any later use of the buffer.
  u.dispose();
  return { tile: m, size: u.size, storage: null, texels, dispose: () => texels.release() };
}

const noTiles = { h: 0, w: 0, tiles_y: 0, tiles_x: 0, t0: 0, tc: 0, tpad: 0, has_bias: 0, has_residual: 0, act: 0, norm: 0 };

/** Tiles per chunk: V and M within CHUNK_BYTES and the binding limit, a multiple of CHUNK_MULTIPLE. */
export function winogradChunkTiles(gpu: Gpu, cin: number, coPad: number, tiles: number, chunkBytes = CHUNK_BYTES, m: WinogradTile = 4): number {
  const perTile = positions(m) * 4 * Math.max(cin, coPad);
  const least = CHUNK_MULTIPLE;
  if (least * perTile > gpu.maxBinding) throw new Error(`conv2d (Winograd): ${Math.max(cin, coPad)} channels need more than a ${gpu.maxBinding}-byte binding for ${least} tiles`);
  const fit = Math.max(least, Math.floor(Math.min(chunkBytes, gpu.maxBinding) / perTile / least) * least);
  return Math.min(fit, ceilDiv(tiles, least) * least);
}

/** conv2d's options: `norm` is applied in the input transform, the residual in the output transform. */
export type WinogradOptions = Conv2dOptions;

/**
 * x [N, Cin, H, W] -> [N, Cout, H, W], as conv2d with k 3, stride 1, padding 'same'; the residual
 * may also be [N, Cout, 1, 1] (added to every pixel of its image and channel).
 */
export function conv2dWinograd(x: Tensor, w: Conv2dWeights, u: Tensor | KeptWinogradWeights, opts: WinogradOptions = {}, tuning: { chunkBytes?: number; tilesPerLane?: number; lanes?: WinogradLanes; reads?: GemmReads; laneReads?: LaneReads; vec4Stores?: boolean } = {}): Tensor {
  const gpu = x.gpu;
  if ((opts.stride ?? 1) !== 1 || (opts.padding ?? 'same') !== 'same') throw new Error('conv2d (Winograd): F(4x4, 3x3) serves stride 1, padding \'same\' only');
  if (x.shape.length !== 4 || x.shape[1] !== w.cin || w.k !== 3) throw new Error(`conv2d (Winograd): input [${x.shape}] does not match weights [${w.cout}, ${w.cin}, ${w.k}, ${w.k}]`);
  const [n, cin, h, wd] = x.shape;
  const blocks = w.weight.shape[0];
  const coPad = blocks * 16;
  const kept = u instanceof Tensor ? null : u;
  const given = u instanceof Tensor ? u : null;
  const tile: WinogradTile = kept ? kept.tile : given!.shape[0] === positions(6) ? 6 : 4;
  const POS = positions(tile);
  if ((given && given.shape.length !== 4) || u.size !== blocks * POS * cin * 16) {
    throw new Error(`conv2d (Winograd): transformed weights [${given ? given.shape : `${u.size} values`}] are not those of [${w.cout}, ${w.cin}, 3, 3]`);
  }
  // U from storage (the tensor, or the kept buffer) and/or from its mirror (the kept one, or one made for this call).
  const uStorage = kept ? kept.storage : given;
  const outShape = [n, w.cout, h, wd];
  const out = opts.out ?? Tensor.empty(gpu, outShape, 'conv2d');
  if (out.shape.join() !== outShape.join()) throw new Error(`conv2d (Winograd): output [${out.shape}] is not [${outShape}]`);
  const res = opts.residual;
  const perImage = residualPerImage(res, outShape);
  if (res && !perImage && res.shape.join() !== outShape.join()) throw new Error(`conv2d (Winograd): residual [${res.shape}] is neither [${outShape}] nor [${n}, ${w.cout}, 1, 1]`);
  const norm = opts.norm;
  if (norm && norm.stats.size !== n * cin * 4) throw new Error(`conv2d (Winograd): GroupNorm statistics [${norm.stats.shape}] are not those of [${x.shape}]`);
  if (out.buffer === x.buffer || out.buffer === res?.buffer) throw new Error('conv2d (Winograd): the output must not alias the input or the residual');
  if (!out.size) return out;
  const tilesY = ceilDiv(h, tile);
  const tilesX = ceilDiv(wd, tile);
  const tiles = n * tilesY * tilesX;
  const chunk = winogradChunkTiles(gpu, cin, coPad, tiles, tuning.chunkBytes, tile);
  // One tile for every chunk (the first is the largest), so that every output is computed alike.
  const first = Math.min(chunk, tiles);
  const lanesOver = tuning.lanes ?? (tuning.tilesPerLane ? 'tiles' : winogradLanes(first));
  const reads = tuning.reads ?? (kept ? (kept.texels ? 'texels' : 'storage') : gemmReads(gpu));
  if (reads === 'storage' && !uStorage) throw new Error('conv2d (Winograd): these transformed weights are kept as a texel mirror only; read them as texels');
  const perLane = tuning.tilesPerLane ?? winogradTilesPerLane(first);
  if (!(TILE_CHOICES as readonly number[]).includes(perLane)) throw new Error(`conv2d (Winograd): tilesPerLane must be one of ${TILE_CHOICES.join(', ')}, got ${perLane}`);
  const tc4 = channelColumns(first);
  // tpad: the chunk's tiles rounded up to the tiles one invocation (or, for 'channels', one workgroup column) computes.
  const tileStep = lanesOver === 'tiles' ? perLane : 4 * tc4;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (cin > maxWg || w.cout > maxWg) throw new Error(`conv2d (Winograd): ${Math.max(cin, w.cout)} channels exceed ${maxWg} workgroups per dimension`);
  const common = {
    cin,
    cout: w.cout,
    h,
    w: wd,
    tiles_y: tilesY,
    tiles_x: tilesX,
    co_pad: coPad,
    has_bias: w.bias ? 1 : 0,
    has_residual: perImage ? 2 : res ? 1 : 0,
    norm: norm ? (norm.swish ? 2 : 1) : 0,
    act: ACT[opts.act ?? 'none'],
    row: 0,
  };
  // U's texel mirror, once for every chunk (null: U from storage).
  const ut = reads !== 'texels' ? null : kept ? kept.texels : mirror(uStorage!, 'winograd.Ut');
  // x (input transform) and M (output transform) from r32float mirrors where the adapter reads such inputs faster so (src/gpu/lane-reads.ts).
  const laneReads = tuning.laneReads ?? gpu.laneReads;
  const xt = laneMirror(x, laneReads, 'winograd.Xt');
  // F(6x6)'s input transform writes V as vec4 of four tiles (input6x4) on large chunks (VEC4_STORE_TILES); tileStep is always a multiple of 4.
  const vec4Stores = tile === 6 && (tuning.vec4Stores ?? first >= VEC4_STORE_TILES) && tileStep % 4 === 0;
  // The writable binding an entry does not write (dst or dst4): a buffer of its own, as writable bindings must not alias.
  const unused = unusedBinding(gpu);
  for (let t0 = 0; t0 < tiles; t0 += chunk) {
    const tc = Math.min(chunk, tiles - t0);
    const tpad = ceilDiv(tc, tileStep) * tileStep;
    const params = { ...common, t0, tc, tpad };
    const v = Tensor.empty(gpu, [POS, cin, tpad], 'winograd.V');
    const m = Tensor.empty(gpu, [POS, coPad, tpad], 'winograd.M');
    gpu.dispatch({
      shader: 'winograd',
      entry: tile === 4 ? 'input' : vec4Stores ? 'input6x4' : 'input6',
      overrides: { WG, S_TEXELS: xt ? 1 : 0 },
      params,
      buffers: [x.binding, x.binding, x.binding, (vec4Stores ? unused : v).binding, (norm?.stats ?? x).binding, xt ?? gpu.texturePlaceholder, (vec4Stores ? v : unused).binding],
      workgroups: [ceilDiv(vec4Stores ? ceilDiv(tc, 4) : tc, WG), cin],
      label: 'winograd.input',
    });
    if (lanesOver === 'tiles') {
      const lanes = tpad / perLane;
      recordGemm(gpu, { v, u: uStorage, m, cin, tpad, coPad, qs: POS, uBlock: 4, uPos: cin * blocks * 4, uCi: blocks * 4, tg: perLane / 4, lanes, reads, uTexels: ut, label: 'winograd.gemm' });
    } else {
      const lanes = coPad / 4;
      const gemmWg = workgroupFor(lanes);
      const vt = reads === 'texels' ? mirror(v, 'winograd.Vt') : null;
      gpu.dispatch({
        shader: 'winograd_gemm',
        entry: 'channels',
        overrides: { WG: gemmWg, TC: tc4, V_TEXELS: vt ? 1 : 0, U_TEXELS: ut ? 1 : 0 },
        workgroups: [ceilDiv(lanes, gemmWg), tpad / (4 * tc4), POS],
        params: { cin, tpad, co_pad: coPad, u_block: 4, u_pos: cin * blocks * 4, has_bias: 0, has_residual: 0, act: 0, u_ci: blocks * 4 },
        // M is stored as it is (no epilogue): the bias and residual bindings are filled with buffers already bound.
        buffers: [v.binding, (uStorage ?? v).binding, m.binding, v.binding, v.binding, vt ?? gpu.texturePlaceholder, ut ?? gpu.texturePlaceholder],
        label: 'winograd.gemm',
      });
      vt?.release();
    }
    const mt = laneMirror(m, laneReads, 'winograd.Mt');
    gpu.dispatch({
      shader: 'winograd',
      entry: tile === 4 ? 'output' : 'output6',
      overrides: { WG, S_TEXELS: mt ? 1 : 0 },
      params,
      buffers: [m.binding, (w.bias ?? m).binding, (res ?? m).binding, out.binding, m.binding, mt ?? gpu.texturePlaceholder, unused.binding],
      workgroups: [ceilDiv(tc, WG), w.cout],
      label: 'winograd.output',
    });
    mt?.release();
    v.dispose();
    m.dispose();
  }
  if (!kept) ut?.release();
  xt?.release();
  unused.dispose();
  return out;
}

/** A small buffer for winograd.wgsl's writable binding (dst or dst4) that an entry does not write. */
function unusedBinding(gpu: Gpu): Tensor {
  return Tensor.empty(gpu, [4], 'winograd.unused');
}
