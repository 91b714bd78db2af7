/**
 * GroupNorm (PyTorch's nn.GroupNorm, affine) with f32 statistics and an optional fused swish.
 * Three dispatches (shaders/group_norm.wgsl): per-invocation partial statistics of each group,
 * a merge per group into (mean, rstd * gamma, beta) per channel, and the normalise pass.
 * `groupNormStats` runs the first two alone, for consumers that normalise as they load.
 */
import { laneMirror, type LaneReads } from '../gpu/lane-reads.js';
import { Tensor, numel } from '../tensor.js';
import { ceilDiv, grid1d } from './grid.js';

export interface GroupNormOptions {
  /** Number of groups (default 32); must divide the channel count. */
  groups?: number;
  /** Added to the variance (default 1e-6, the DDPM UNet's value). */
  eps?: number;
  /** Apply swish(y) = y * sigmoid(y) to the result. */
  swish?: boolean;
  /** Where to write the result (same element count as x, must not alias x). */
  out?: Tensor;
  /** How the statistics pass reads x (default gpu.laneReads, src/gpu/lane-reads.ts): the same bits either way. */
  reads?: LaneReads;
}

const WG = 256;
/** Tiles per group row the partials pass aims for, and the bounds on elements per invocation. */
const TARGET_TILES = 16;
const MIN_PER_INV = 16;
const MAX_PER_INV = 256;

/**
 * Work split of the partials pass for groups of m elements: at least MIN_PER_INV elements per
 * invocation (the partials written are at most a quarter of the bytes read), more for large groups
 * so each group keeps about TARGET_TILES workgroups; a multiple of 4 (whole vec4s).
 */
export function groupNormPlan(m: number): { perInv: number; tiles: number } {
  const perInv = 4 * Math.min(MAX_PER_INV / 4, Math.max(MIN_PER_INV / 4, ceilDiv(m, 4 * WG * TARGET_TILES)));
  return { perInv, tiles: ceilDiv(m, WG * perInv) };
}

/** Statistics of groupNorm per plane n * C + c: (mean, rstd * gamma[c], beta[c], 0), [N * C, 4]. */
export type GroupNormStats = Tensor;

function geometry(x: Tensor, groups: number) {
  if (x.shape.length < 2) throw new Error(`groupNorm needs [N, C, ...], got [${x.shape}]`);
  const [N, C] = x.shape;
  const S = numel(x.shape.slice(2));
  if (!Number.isInteger(groups) || groups < 1 || C % groups) throw new Error(`groupNorm: ${groups} groups do not divide ${C} channels`);
  // The shader reads and writes whole vec4s; pool buffers are padded to 16 bytes.
  if (x.buffer.size % 16) throw new Error('groupNorm: tensor buffers must be padded to 16 bytes');
  const cpg = C / groups;
  return { N, C, S, cpg, rows: N * groups, m: cpg * S, vec4: S % 4 === 0 };
}

/**
 * The statistics pass of groupNorm alone (partials and finalize): what a consumer that normalises
 * on load needs (conv2d by Winograd applies them in its input transform). The caller disposes it.
 */
export function groupNormStats(x: Tensor, gamma: Tensor, beta: Tensor, opts: Pick<GroupNormOptions, 'groups' | 'eps' | 'reads'> = {}): GroupNormStats {
  const gpu = x.gpu;
  const eps = opts.eps ?? 1e-6;
  const g = geometry(x, opts.groups ?? 32);
  if (gamma.size !== g.C || beta.size !== g.C) throw new Error(`groupNorm: gamma and beta need ${g.C} values, got ${gamma.size} and ${beta.size}`);
  const stats = Tensor.empty(gpu, [g.N * g.C, 4], 'group_norm.stats');
  if (x.size === 0) return stats;
  const { perInv, tiles } = groupNormPlan(g.m);
  const part = Tensor.empty(gpu, [g.rows * tiles * WG, 4], 'group_norm.partials');
  // normalize's output binding is not used by these two passes (writable bindings must not alias).
  const unused = Tensor.empty(gpu, [4], 'group_norm.unused');
  // partials' vec4 of x from an rgba32float mirror where the adapter reads them faster so (partials_any reads storage).
  const xt = g.vec4 ? laneMirror(x, opts.reads ?? gpu.laneReads, 'group_norm.Xt', 'rgba32float') : null;
  const buffers = [x.binding, gamma.binding, beta.binding, part.binding, stats.binding, unused.binding, xt ?? gpu.texturePlaceholder];
  const rowGrid = grid1d(g.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
  const [ry, rz] = rowGrid.workgroups;
  const params = { m: g.m, rows: g.rows, per_inv: perInv, tiles, s: g.S, c: g.C, cpg: g.cpg, total: x.size, eps, swish: 0, grid_y: rowGrid.row };
  const run = (entry: string, workgroups: [number, number, number]) =>
    gpu.dispatch({ shader: 'group_norm', entry, overrides: entry === 'partials' ? { WG, X_TEXELS: xt ? 1 : 0 } : { WG }, params, buffers, workgroups, label: `group_norm.${entry}` });
  // Rows are spread over y and z.
  run(g.vec4 ? 'partials' : 'partials_any', [tiles, ry, rz]);
  run('finalize', [1, ry, rz]);
  // Queue order keeps the recycled buffer safe: later users run after these dispatches.
  part.dispose();
  unused.dispose();
  xt?.release();
  return stats;
}

/**
 * x [N, C, ...spatial] (e.g. [N, C, H, W] or [N, C, L]); gamma, beta [C].
 * y = (x - mean_g) / sqrt(var_g + eps) * gamma[c] + beta[c] with biased variance over each group
 * of C / groups channels, then swish if asked.
 */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, opts: GroupNormOptions = {}): Tensor {
  const gpu = x.gpu;
  const g = geometry(x, opts.groups ?? 32);
  if (gamma.size !== g.C || beta.size !== g.C) throw new Error(`groupNorm: gamma and beta need ${g.C} values, got ${gamma.size} and ${beta.size}`);
  const out = opts.out ?? Tensor.empty(gpu, x.shape, 'group_norm');
  if (out.size !== x.size) throw new Error(`groupNorm: output [${out.shape}] does not match [${x.shape}]`);
  if ([x, gamma, beta].some((t) => t.buffer === out.buffer)) throw new Error('groupNorm: the output must not alias an input');
  if (out.buffer.size % 16) throw new Error('groupNorm: tensor buffers must be padded to 16 bytes');
  if (x.size === 0) return out;
  const stats = groupNormStats(x, gamma, beta, opts);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const params = { m: g.m, rows: g.rows, per_inv: 0, tiles: 0, s: g.S, c: g.C, cpg: g.cpg, total: x.size, eps: 0, swish: opts.swish ? 1 : 0 };
  // normalize reads no partials (writable bindings must not alias).
  const unused = Tensor.empty(gpu, [4], 'group_norm.unused');
  const buffers = [x.binding, gamma.binding, beta.binding, unused.binding, stats.binding, out.binding, gpu.texturePlaceholder];
  if (g.vec4) {
    // Planes are spread over y and z.
    const planeGrid = grid1d(g.N * g.C, 1, maxDim);
    gpu.dispatch({ shader: 'group_norm', entry: 'normalize', overrides: { WG }, params: { ...params, grid_y: planeGrid.row }, buffers, workgroups: [ceilDiv(g.S / 4, WG), ...planeGrid.workgroups], label: 'group_norm.normalize' });
  } else {
    const flat = grid1d(ceilDiv(x.size, 4), WG, maxDim);
    gpu.dispatch({ shader: 'group_norm', entry: 'normalize_any', overrides: { WG }, params: { ...params, grid_y: flat.workgroups[0] }, buffers, workgroups: [...flat.workgroups, 1], label: 'group_norm.normalize_any' });
  }
  stats.dispose();
  unused.dispose();
  return out;
}
