/**
 * BatchNorm2d in train mode (PyTorch's nn.BatchNorm2d: biased variance for normalising, the
 * unbiased one for the running variance), forward and backward, f32. A training batch arrives as
 * chunks xs[i] = [n_i, C, H, W] because one activation can exceed a storage binding; statistics
 * and gradient sums are over all chunks, as one BatchNorm over the whole batch.
 *
 * Dispatches of shaders/batch_norm.wgsl: per-chunk partials into one [C, slots] buffer (each
 * chunk its own slots of every channel's region), one merge per channel, then the per-chunk
 * elementwise pass. Statistics are two-pass per invocation (mean, then squared deviations) on
 * values shifted by a sample of their channel, merged exactly (Chan et al.). Per-channel passes
 * run a workgroup per (tile, channel), so many channels with small planes and few channels with
 * large planes both spread over the adapter.
 */
import type { BindingResource, Gpu } from '../gpu/gpu.js';
import { Tensor, VIEW_ALIGN } from '../tensor.js';
import { ceilDiv, grid1d } from './grid.js';

export interface BatchNormStats {
  /** [C] batch (or running) mean. */
  mean: Tensor;
  /** [C] 1 / sqrt(var + eps). */
  invstd: Tensor;
  dispose(): void;
}

export interface BatchNormTrainOptions {
  /** Added to the variance (default 1e-5, PyTorch's). */
  eps?: number;
  /** Running statistics [C], updated in place: r = (1 - momentum) * r + momentum * batch statistic. */
  running?: { mean: Tensor; var: Tensor; momentum?: number };
}

export interface BatchNormApplyOptions {
  /** Added before the activation (torchvision's relu(bn(conv(x)) + identity)); same shape as x. */
  residual?: Tensor;
  relu?: boolean;
  /** Where to write the result (shape of x; must not alias an input). */
  out?: Tensor;
}

export interface BatchNormGrads {
  /** [C] d weight and d bias, written (or added to, with accumulate). */
  weight: Tensor;
  bias: Tensor;
  accumulate?: boolean;
}

const WG = 256;
/** Tiles per channel and chunk the per-channel passes aim for, and the bounds on values per invocation. */
const TARGET_TILES = 16;
const MIN_PER_INV = 16;
const MAX_PER_INV = 256;

/**
 * Work split of the per-channel passes for m values of a channel in a chunk: at least MIN_PER_INV
 * values per invocation (the partials written are at most a quarter of the bytes read), more for
 * large channels so each keeps about TARGET_TILES workgroups; a multiple of 4 (whole vec4s).
 */
export function batchNormPlan(m: number): { perInv: number; tiles: number } {
  const perInv = 4 * Math.min(MAX_PER_INV / 4, Math.max(MIN_PER_INV / 4, ceilDiv(m, 4 * WG * TARGET_TILES)));
  return { perInv, tiles: ceilDiv(m, WG * perInv) };
}

interface ChunkPlan {
  x: Tensor;
  /** Values of one channel in this chunk. */
  m: number;
  perInv: number;
  tiles: number;
  /** First slot of this chunk in every channel's region of the partials. */
  partAt: number;
}

interface BatchPlan {
  c: number;
  s: number;
  /** Values per channel over all chunks. */
  count: number;
  /** H * W % 4 == 0: the vec4 entries. */
  vec4: boolean;
  chunks: ChunkPlan[];
  slots: number;
}

const shapeOf = (xs: Tensor[]) => xs.map((x) => `[${x.shape}]`).join(', ');

/** Checks the chunks (4-D, same C, H, W) and splits every chunk's channels into tiles. */
function planBatch(op: string, xs: Tensor[]): BatchPlan {
  if (!xs.length || xs.some((x) => x.shape.length !== 4)) throw new Error(`${op} needs chunks [n, C, H, W], got ${xs.length ? shapeOf(xs) : 'none'}`);
  const [, c, h, w] = xs[0].shape;
  if (xs.some((x) => x.shape[1] !== c || x.shape[2] !== h || x.shape[3] !== w)) throw new Error(`${op}: chunks ${shapeOf(xs)} differ in C, H or W`);
  const s = h * w;
  let slots = 0;
  const chunks = xs.map((x) => {
    const m = x.shape[0] * s;
    const { perInv, tiles } = batchNormPlan(m);
    const chunk = { x, m, perInv, tiles, partAt: slots };
    slots += tiles * WG;
    vec4Binding(op, x, 'input');
    return chunk;
  });
  return { c, s, count: chunks.reduce((a, k) => a + k.m, 0), vec4: s % 4 === 0, chunks, slots };
}

/** t's binding, which the shader reads as vec4s: it must hold every vec4 that holds an element. */
function vec4Binding(op: string, t: Tensor, what: string): BindingResource {
  const b = t.binding;
  if (b.size < ceilDiv(t.size, 4) * 16) throw new Error(`${op}: ${what} [${t.shape}] is a view whose buffer ends before its last vec4`);
  return b;
}

function checkChannels(op: string, c: number, named: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(named)) {
    if (t.size !== c) throw new Error(`${op}: ${name} [${t.shape}] does not hold ${c} channel values`);
  }
}

/** WebGPU forbids binding one buffer read-only and writable in one dispatch (and the op would read what it writes). */
function checkDisjoint(op: string, reads: Tensor[], writes: Tensor[]): void {
  const read = new Set(reads.map((t) => t.buffer));
  if (writes.some((t) => read.has(t.buffer))) throw new Error(`${op}: an output must not share a buffer with an input`);
}

interface Slots {
  x: BindingResource;
  y: BindingResource;
  weight: BindingResource;
  bias: BindingResource;
  mean: BindingResource;
  invstd: BindingResource;
  part: BindingResource;
  out: BindingResource;
}

const PARAM_DEFAULTS = {
  m: 0,
  total: 0,
  per_inv: 4,
  part_at: 0,
  slots: 1,
  grid_y: 1,
  count: 1,
  eps: 0,
  momentum: 0,
  residual: 0,
  relu: 0,
  which: 0,
  accumulate: 0,
};

type Params = Partial<typeof PARAM_DEFAULTS> & { c: number; s: number };

function run(gpu: Gpu, entry: string, params: Params, slots: Slots, workgroups: [number, number, number]): void {
  gpu.dispatch({
    shader: 'batch_norm',
    entry,
    overrides: { WG },
    params: { ...PARAM_DEFAULTS, ...params },
    buffers: [slots.x, slots.y, slots.weight, slots.bias, slots.mean, slots.invstd, slots.part, slots.out],
    workgroups,
    label: `batch_norm.${entry}`,
  });
}

/** Entries that run over vec4s of the flat chunk; the others run a workgroup per (tile, channel). */
const FLAT_ENTRIES = new Set(['apply_any', 'dx_any']);

/** One pass over a chunk. */
function runChunk(gpu: Gpu, entry: string, plan: BatchPlan, chunk: ChunkPlan, params: Params, slots: Slots): void {
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const base = { ...params, m: chunk.m, total: chunk.x.size, per_inv: chunk.perInv, part_at: chunk.partAt };
  if (!FLAT_ENTRIES.has(entry)) {
    const g = grid1d(plan.c, 1, maxDim);
    run(gpu, entry, { ...base, grid_y: g.row }, slots, [chunk.tiles, ...g.workgroups]);
  } else {
    const g = grid1d(ceilDiv(chunk.x.size, 4), WG, maxDim);
    run(gpu, entry, { ...base, grid_y: g.workgroups[0] }, slots, [...g.workgroups, 1]);
  }
}

/**
 * Two disjoint 16-byte ranges for writable slots that a dispatch does not use: WebGPU forbids
 * overlapping writable bindings of one buffer in a dispatch. Released by the caller after recording.
 */
function unusedSlots(gpu: Gpu): { tensor: Tensor; a: BindingResource; b: BindingResource } {
  const tensor = Tensor.empty(gpu, [(2 * VIEW_ALIGN) / 4], 'batch_norm.unused');
  return { tensor, a: { buffer: tensor.buffer, offset: 0, size: 16 }, b: { buffer: tensor.buffer, offset: VIEW_ALIGN, size: 16 } };
}

/** One workgroup per channel. */
function runFinalize(gpu: Gpu, entry: string, plan: BatchPlan, params: Params, slots: Slots): void {
  const g = grid1d(plan.c, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
  run(gpu, entry, { ...params, slots: plan.slots, count: plan.count, grid_y: g.row }, slots, [1, ...g.workgroups]);
}

/** The [C, slots] partials of a batch (every chunk writes all of its slots). */
function partials(gpu: Gpu, op: string, plan: BatchPlan): Tensor {
  const bytes = plan.c * plan.slots * 16;
  if (bytes > gpu.maxBinding) throw new Error(`${op}: ${plan.c} channels of ${plan.count} values need ${bytes} bytes of partials, more than one binding (${gpu.maxBinding})`);
  return Tensor.empty(gpu, [plan.c * plan.slots, 4], 'batch_norm.partials');
}

function stats(mean: Tensor, invstd: Tensor): BatchNormStats {
  return {
    mean,
    invstd,
    dispose() {
      mean.dispose();
      invstd.dispose();
    },
  };
}

/**
 * Batch statistics over all chunks xs[i] = [n_i, C, H, W]: mean and 1 / sqrt(biased var + eps)
 * per channel. With `running`, updates its mean and var in place (momentum default 0.1) with the
 * mean and the unbiased variance, as PyTorch's train-mode forward does.
 */
export function batchNormTrainStats(xs: Tensor[], opts: BatchNormTrainOptions = {}): BatchNormStats {
  const op = 'batchNormTrainStats';
  const plan = planBatch(op, xs);
  const { c, s } = plan;
  if (plan.count <= 1) throw new Error(`${op}: expected more than 1 value per channel when training, got input ${shapeOf(xs)}`);
  const eps = opts.eps ?? 1e-5;
  const running = opts.running;
  const momentum = running?.momentum ?? 0.1;
  if (running) {
    checkChannels(op, c, { 'running mean': running.mean, 'running var': running.var });
    checkDisjoint(op, xs, [running.mean, running.var]);
  }
  const gpu = xs[0].gpu;
  const mean = Tensor.empty(gpu, [c], 'batch_norm.mean');
  const invstd = Tensor.empty(gpu, [c], 'batch_norm.invstd');
  const part = partials(gpu, op, plan);
  const unused = unusedSlots(gpu);
  const x0 = xs[0].binding;
  const slots: Slots = { x: x0, y: x0, weight: x0, bias: x0, mean: mean.binding, invstd: invstd.binding, part: part.binding, out: unused.a };
  const first = plan.chunks.find((k) => k.m > 0)!;
  run(gpu, 'stat_shift', { c, s }, { ...slots, x: first.x.binding }, [ceilDiv(c, WG), 1, 1]);
  const entry = plan.vec4 ? 'stat_partials' : 'stat_partials_any';
  for (const chunk of plan.chunks) {
    const xb = chunk.x.binding;
    runChunk(gpu, entry, plan, chunk, { c, s, slots: plan.slots }, { ...slots, x: xb, y: xb, weight: xb, bias: xb });
  }
  runFinalize(gpu, 'stat_finalize', plan, { c, s, eps }, slots);
  if (running) {
    for (const [which, t] of [running.mean, running.var].entries()) {
      const out = vec4Binding(op, t, which ? 'running var' : 'running mean');
      run(gpu, 'running', { c, s, slots: plan.slots, count: plan.count, momentum, which }, { ...slots, out }, [ceilDiv(c, 4 * WG), 1, 1]);
    }
  }
  // Queue order keeps the recycled buffers safe: later users run after these dispatches.
  part.dispose();
  unused.tensor.dispose();
  return stats(mean, invstd);
}

/** Eval-mode statistics: the running mean and 1 / sqrt(running var + eps), in new tensors. */
export function batchNormEvalStats(runningMean: Tensor, runningVar: Tensor, eps = 1e-5): BatchNormStats {
  const c = runningMean.size;
  checkChannels('batchNormEvalStats', c, { 'running var': runningVar });
  const gpu = runningMean.gpu;
  const mean = Tensor.empty(gpu, [c], 'batch_norm.mean');
  const invstd = Tensor.empty(gpu, [c], 'batch_norm.invstd');
  const rm = runningMean.binding;
  const unused = unusedSlots(gpu);
  const slots: Slots = { x: rm, y: rm, weight: rm, bias: runningVar.binding, mean: mean.binding, invstd: invstd.binding, part: unused.a, out: unused.b };
  run(gpu, 'eval_stats', { c, s: 1, eps }, slots, [ceilDiv(c, WG), 1, 1]);
  unused.tensor.dispose();
  return stats(mean, invstd);
}

/**
 * One chunk x [n, C, H, W] -> act(weight * (x - mean) * invstd + bias + residual), act ReLU (relu)
 * or none; weight, bias and the statistics are [C].
 */
export function batchNormApply(x: Tensor, st: BatchNormStats, weight: Tensor, bias: Tensor, opts: BatchNormApplyOptions = {}): Tensor {
  const op = 'batchNormApply';
  const plan = planBatch(op, [x]);
  const { c, s } = plan;
  checkChannels(op, c, { weight, bias, mean: st.mean, invstd: st.invstd });
  const res = opts.residual;
  if (res && res.shape.join() !== x.shape.join()) throw new Error(`${op}: residual [${res.shape}] is not [${x.shape}]`);
  const out = opts.out ?? Tensor.empty(x.gpu, x.shape, 'batch_norm');
  if (out.shape.join() !== x.shape.join()) throw new Error(`${op}: output [${out.shape}] is not [${x.shape}]`);
  const reads = [x, weight, bias, ...(res ? [res] : [])];
  checkDisjoint(op, reads, [out, st.mean, st.invstd]);
  if (!x.size) return out;
  const xb = x.binding;
  const unused = unusedSlots(x.gpu);
  const slots: Slots = {
    x: xb,
    y: res ? vec4Binding(op, res, 'residual') : xb,
    weight: weight.binding,
    bias: bias.binding,
    mean: st.mean.binding,
    invstd: st.invstd.binding,
    part: unused.a,
    out: vec4Binding(op, out, 'output'),
  };
  runChunk(x.gpu, plan.vec4 ? 'apply' : 'apply_any', plan, plan.chunks[0], { c, s, residual: res ? 1 : 0, relu: opts.relu ? 1 : 0 }, slots);
  unused.tensor.dispose();
  return out;
}

/**
 * Backward of the train-mode BatchNorm over all chunks: dys[i] is the gradient w.r.t. its output
 * (already masked by a following ReLU), xs[i] its saved input (same chunking), st the statistics of
 * the forward. Writes (or adds to) d weight = sum(dy * xhat) and d bias = sum(dy), and returns
 * dx per chunk, dx = weight * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)) with
 * xhat = (x - mean) * invstd recomputed from x.
 */
export function batchNormBackward(dys: Tensor[], xs: Tensor[], st: BatchNormStats, weight: Tensor, grads: BatchNormGrads): Tensor[] {
  const op = 'batchNormBackward';
  const plan = planBatch(op, xs);
  const { c, s } = plan;
  if (dys.length !== xs.length || dys.some((d, i) => d.shape.join() !== xs[i].shape.join())) {
    throw new Error(`${op}: gradients ${shapeOf(dys)} do not match inputs ${shapeOf(xs)}`);
  }
  checkChannels(op, c, { weight, mean: st.mean, invstd: st.invstd, 'd weight': grads.weight, 'd bias': grads.bias });
  checkDisjoint(op, [...xs, ...dys, weight], [grads.weight, grads.bias, st.mean, st.invstd]);
  const gpu = xs[0].gpu;
  const part = partials(gpu, op, plan);
  const unused = unusedSlots(gpu);
  const wb = weight.binding;
  const common = { weight: wb, bias: wb, mean: st.mean.binding, invstd: st.invstd.binding, part: part.binding };
  const chunkSlots = (i: number, out: BindingResource): Slots => ({ ...common, x: xs[i].binding, y: vec4Binding(op, dys[i], 'gradient'), out });
  const params = { c, s, slots: plan.slots, count: plan.count };

  plan.chunks.forEach((chunk, i) => runChunk(gpu, plan.vec4 ? 'grad_partials' : 'grad_partials_any', plan, chunk, params, chunkSlots(i, unused.a)));
  runFinalize(gpu, 'grad_finalize', plan, params, chunkSlots(0, unused.a));
  for (const [which, t] of [grads.weight, grads.bias].entries()) {
    const out = vec4Binding(op, t, which ? 'd bias' : 'd weight');
    run(gpu, 'grads', { ...params, which, accumulate: grads.accumulate ? 1 : 0 }, chunkSlots(0, out), [ceilDiv(c, 4 * WG), 1, 1]);
  }
  const dxs = plan.chunks.map((chunk, i) => {
    const dx = Tensor.empty(gpu, chunk.x.shape, 'batch_norm.dx');
    if (dx.size) runChunk(gpu, plan.vec4 ? 'dx' : 'dx_any', plan, chunk, params, chunkSlots(i, dx.binding));
    return dx;
  });
  part.dispose();
  unused.tensor.dispose();
  return dxs;
}

/** ReLU's backward from its saved output (PyTorch's threshold_backward): dy where out > 0, else 0. */
export function reluBackward(dy: Tensor, out: Tensor): Tensor {
  if (dy.shape.join() !== out.shape.join()) throw new Error(`reluBackward: gradient [${dy.shape}] does not match output [${out.shape}]`);
  const dx = Tensor.empty(dy.gpu, dy.shape, 'relu_grad');
  if (!dy.size) return dx;
  const g = grid1d(ceilDiv(dy.size, 4), WG, dy.gpu.limits.maxComputeWorkgroupsPerDimension);
  dy.gpu.dispatch({
    shader: 'relu_grad',
    overrides: { WG },
    params: { n: dy.size, row: g.workgroups[0] * WG },
    buffers: [vec4Binding('reluBackward', dy, 'gradient'), vec4Binding('reluBackward', out, 'output'), dx.binding],
    workgroups: g.workgroups,
    label: 'relu_grad',
  });
  return dx;
}
