/**
 * GroupNorm (PyTorch's nn.GroupNorm, affine) with f32 statistics and an optional fused swish.
 * Three dispatches (shaders/group_norm.wgsl): per-invocation partial statistics of each group,
 * a merge per group into (mean, rstd * gamma, beta) per channel, and the normalise pass.
 */
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

/**
 * x [N, C, ...spatial] (e.g. [N, C, H, W] or [N, C, L]); gamma, beta [C].
 * y = (x - mean_g) / sqrt(var_g + eps) * gamma[c] + beta[c] with biased variance over each group
 * of C / groups channels, then swish if asked.
 */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, opts: GroupNormOptions = {}): Tensor {
  const gpu = x.gpu;
  const groups = opts.groups ?? 32;
  const eps = opts.eps ?? 1e-6;
  if (x.shape.length < 2) throw new Error(`groupNorm needs [N, C, ...], got [${x.shape}]`);
  const [N, C] = x.shape;
  const S = numel(x.shape.slice(2));
  if (!Number.isInteger(groups) || groups < 1 || C % groups) throw new Error(`groupNorm: ${groups} groups do not divide ${C} channels`);
  if (gamma.size !== C || beta.size !== C) throw new Error(`groupNorm: gamma and beta need ${C} values, got ${gamma.size} and ${beta.size}`);
  const out = opts.out ?? Tensor.empty(gpu, x.shape, 'group_norm');
  if (out.size !== x.size) throw new Error(`groupNorm: output [${out.shape}] does not match [${x.shape}]`);
  if ([x, gamma, beta].some((t) => t.buffer === out.buffer)) throw new Error('groupNorm: the output must not alias an input');
  // The shader reads and writes whole vec4s; pool buffers are padded to 16 bytes.
  if (x.buffer.size % 16 || out.buffer.size % 16) throw new Error('groupNorm: tensor buffers must be padded to 16 bytes');
  if (x.size === 0) return out;

  const cpg = C / groups;
  const rows = N * groups;
  const m = cpg * S;
  const vec4 = S % 4 === 0;
  const { perInv, tiles } = groupNormPlan(m);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const part = Tensor.empty(gpu, [rows * tiles * WG, 4], 'group_norm.partials');
  const stats = Tensor.empty(gpu, [N * C, 4], 'group_norm.stats');
  const buffers = [x.binding, gamma.binding, beta.binding, part.binding, stats.binding, out.binding];
  const base = { m, rows, per_inv: perInv, tiles, s: S, c: C, cpg, total: x.size, eps, swish: opts.swish ? 1 : 0 };
  const run = (entry: string, grid_y: number, workgroups: [number, number, number]) =>
    gpu.dispatch({ shader: 'group_norm', entry, overrides: { WG }, params: { ...base, grid_y }, buffers, workgroups, label: `group_norm.${entry}` });

  // Rows (partials, finalize) and planes (normalize) are spread over y and z.
  const rowGrid = grid1d(rows, 1, maxDim);
  const [ry, rz] = rowGrid.workgroups;
  run(vec4 ? 'partials' : 'partials_any', rowGrid.row, [tiles, ry, rz]);
  run('finalize', rowGrid.row, [1, ry, rz]);
  if (vec4) {
    const planeGrid = grid1d(N * C, 1, maxDim);
    run('normalize', planeGrid.row, [ceilDiv(S / 4, WG), ...planeGrid.workgroups]);
  } else {
    const flat = grid1d(ceilDiv(x.size, 4), WG, maxDim);
    run('normalize_any', flat.workgroups[0], [...flat.workgroups, 1]);
  }
  // Queue order keeps the recycled buffers safe: later users run after these dispatches.
  part.dispose();
  stats.dispose();
  return out;
}
