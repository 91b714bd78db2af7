/**
 * torchvision's ResNet (BasicBlock or Bottleneck, reference section 3) as a trainable model:
 * parameters in a flat arena under the state-dict names, BatchNorm as a layer with train and eval
 * modes (conv-bn.ts), forward over a batch in chunks that each fit one storage binding, and
 * backward through the tape. Its state dict (parameters, running statistics and
 * num_batches_tracked) uses torchvision's names and order, so a saved model loads into
 * torchvision with strict=True, and `fold()` turns it into the inference ResNet (BatchNorm folded
 * into the convs, detect's speed).
 *
 *   stem:   z = maxpool(relu(bn1(conv1(x))))
 *   block:  z = relu(bn_last(conv_last(...relu(bn1(conv1(x)))...)) + identity),
 *           identity = downsample ? bn_d(conv_d(x)) : x
 *   head:   logits = fc(mean over H, W of z)
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { matmul, sumRows } from '../kernels/matmul.js';
import { globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward } from '../kernels/pool.js';
import { blockConvs, blockSpecs, featureChannels, resnetLayout, resnetName, type ResnetConfig } from '../models/resnet-config.js';
import { ResNet } from '../models/resnet.js';
import { Tensor } from '../tensor.js';
import { bytesSource, SafetensorsFile, serializeSafetensors, type TensorToWrite } from '../weights/safetensors.js';
import { ParamArena } from './arena.js';
import { ConvBn, type ConvBnSpec, type ForwardContext } from './conv-bn.js';
import { initialParameters, resnetParameters } from './init.js';
import { disposeBatch, type Batch } from './tape.js';

/** Where loadState reads a state dict from (a safetensors file: stateSource()). */
export interface StateSource {
  name: string;
  /** The tensor's shape, or null when it is absent. */
  shape(key: string): readonly number[] | null;
  read(key: string): Promise<Float32Array>;
  /** An integer scalar (num_batches_tracked), or null when absent. */
  count?(key: string): Promise<number | null>;
}

/**
 * Throws loadState's error when `source` lacks a key of `config`'s layout or has another shape;
 * reads nothing, so callers run it before they allocate a model (new TrainableResNet).
 * `extra`: more keys the source must hold with these shapes (the optimizer's moments).
 */
export function checkState(config: ResnetConfig, source: StateSource, extra: ReadonlyArray<readonly [string, readonly number[]]> = []): void {
  const problems: string[] = [];
  for (const [name, shape] of [...resnetLayout(config), ...extra]) {
    const got = source.shape(name);
    if (!got) problems.push(`${name} missing`);
    else if (got.join() !== shape.join()) problems.push(`${name} is [${got.slice(0, 6)}${got.length > 6 ? ',...' : ''}], not [${shape}]`);
  }
  if (problems.length) {
    throw new DnfError(`${source.name}: not a ${resnetName(config)} state dict: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` and ${problems.length - 3} more` : ''}`);
  }
}

/** A safetensors file as a state source; `prefix` is put before every key. */
export function stateSource(file: SafetensorsFile, prefix = ''): StateSource {
  return {
    name: file.source.name,
    shape: (k) => (file.has(prefix + k) ? file.info(prefix + k).shape : null),
    read: (k) => file.readF32(prefix + k),
    async count(k) {
      if (!file.has(prefix + k) || file.info(prefix + k).dtype !== 'I64') return null;
      const b = await file.read(prefix + k);
      return Number(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true));
    },
  };
}

interface Block {
  units: ConvBn[];
  downsample: ConvBn | null;
}

/** The conv-BN units of the stem and of every block, in forward order. */
function units(config: ResnetConfig): { stem: ConvBnSpec; blocks: Array<{ units: ConvBnSpec[]; downsample: ConvBnSpec | null }> } {
  const stem: ConvBnSpec = { conv: 'conv1', bn: 'bn1', cin: config.inChannels, cout: config.stem, k: 7, stride: 2 };
  const blocks = blockSpecs(config).map((b) => {
    const list: ConvBnSpec[] = [];
    let downsample: ConvBnSpec | null = null;
    for (const [name, cin, cout, k, stride] of blockConvs(config, b)) {
      if (name === 'downsample') downsample = { conv: `${b.prefix}.downsample.0`, bn: `${b.prefix}.downsample.1`, cin, cout, k, stride };
      else list.push({ conv: `${b.prefix}.${name}`, bn: `${b.prefix}.bn${name.slice(4)}`, cin, cout, k, stride });
    }
    return { units: list, downsample };
  });
  return { stem, blocks };
}

export class TrainableResNet {
  readonly arena: ParamArena;
  private readonly stem: ConvBn;
  private readonly blocks: Block[];
  /** BatchNorm's num_batches_tracked: the train-mode forwards so far (the same for every BN). */
  batchesTracked = 0;

  constructor(readonly gpu: Gpu, readonly config: ResnetConfig) {
    this.arena = new ParamArena(gpu, resnetParameters(config));
    const u = units(config);
    this.stem = new ConvBn(u.stem, this.arena);
    this.blocks = u.blocks.map((b) => ({ units: b.units.map((s) => new ConvBn(s, this.arena)), downsample: b.downsample ? new ConvBn(b.downsample, this.arena) : null }));
  }

  /** 'ResNet50' etc. */
  get name(): string {
    return resnetName(this.config);
  }

  /** A model initialised as the reference's train.py does (see initialParameters), from `seed`. */
  static create(gpu: Gpu, config: ResnetConfig, seed: number): TrainableResNet {
    const model = new TrainableResNet(gpu, config);
    model.setParameters(initialParameters(config, seed));
    return model;
  }

  private *convBns(): Generator<ConvBn> {
    yield this.stem;
    for (const b of this.blocks) {
      yield* b.units;
      if (b.downsample) yield b.downsample;
    }
  }

  /** Writes parameter values (any subset, PyTorch layout) and re-lays out the conv weights. */
  setParameters(values: Map<string, Float32Array>): void {
    for (const [name, v] of values) this.arena.set(name, v);
    this.refresh();
  }

  /** After the arena's parameters changed (an optimizer step): the kernels' weight layouts follow. */
  refresh(): void {
    for (const u of this.convBns()) u.refresh();
  }

  /**
   * The logits of a batch given in chunks, as a batch of one chunk: [[N, numClasses]] (the head
   * runs on the whole batch at once). In train mode (ctx.tape set) BatchNorm uses batch
   * statistics over all chunks and updates its running statistics, and every op records its
   * backward on the tape; the caller owns the logits tensor.
   */
  forward(x: Batch, ctx: ForwardContext): Batch {
    const { tape, scope } = ctx;
    if (tape) this.batchesTracked++;
    const s = this.stem.forward(x, ctx, { relu: true, inputGrad: false });
    let h: Batch = s.map((c) => maxPool2d(c));
    if (tape && scope) {
      scope.keep(h);
      const [sh, sw] = s[0].shape.slice(2);
      const pooled = h;
      tape.record(() => {
        const g = tape.takeGrad(pooled);
        tape.addGrad(s, g.map((gi, i) => maxPool2dBackward(gi, s[i])));
        disposeBatch(g);
      });
    } else {
      disposeBatch(s);
    }
    for (const b of this.blocks) {
      const identity = b.downsample ? b.downsample.forward(h, ctx, { relu: false }) : h;
      let t = h;
      b.units.forEach((u, i) => {
        const last = i === b.units.length - 1;
        const next = u.forward(t, ctx, { relu: true, residual: last ? identity : undefined });
        if (!tape && t !== h) disposeBatch(t);
        t = next;
      });
      if (!tape) {
        if (identity !== h) disposeBatch(identity);
        disposeBatch(h);
      }
      h = t;
    }
    return this.head(h, ctx);
  }

  /** logits = fc(global average pool(z)), over the whole batch at once (features are small). */
  private head(z: Batch, ctx: ForwardContext): Batch {
    const { tape, scope } = ctx;
    const c = featureChannels(this.config);
    const n = z.reduce((a, t) => a + t.shape[0], 0);
    const feats = Tensor.empty(this.gpu, [n, c], 'resnet.features');
    let row = 0;
    for (const t of z) {
      const p = globalAvgPool(t);
      this.gpu.copy(p.buffer, p.offset, feats.buffer, feats.offset + row * c * 4, p.byteLength);
      row += t.shape[0];
      p.dispose();
    }
    const w = this.arena.view('fc.weight');
    const logits = matmul(feats, w, { transB: true, bias: this.arena.view('fc.bias') });
    if (!tape || !scope) {
      feats.dispose();
      disposeBatch(z);
      return [logits];
    }
    scope.keep(feats);
    const [h, wd] = z[0].shape.slice(2);
    const out: Batch = [logits];
    tape.record(() => {
      const [g] = tape.takeGrad(out); // [N, classes]
      matmul(g, feats, { transA: true, out: this.arena.view('fc.weight', 'grad') });
      sumRows(g, this.arena.view('fc.bias', 'grad'));
      const dfeat = matmul(g, w);
      g.dispose();
      let at = 0;
      tape.addGrad(z, z.map((t) => {
        const m = t.shape[0];
        const part = Tensor.empty(this.gpu, [m, c], 'resnet.dfeatures');
        this.gpu.copy(dfeat.buffer, dfeat.offset + at * c * 4, part.buffer, part.offset, m * c * 4);
        at += m;
        const dz = globalAvgPoolBackward(part, h, wd);
        part.dispose();
        return dz;
      }));
      dfeat.dispose();
    });
    return out;
  }

  /**
   * The state dict in torchvision's order and names: parameters and running statistics as F32,
   * num_batches_tracked as an I64 scalar after each BatchNorm's running_var.
   */
  async stateDict(): Promise<TensorToWrite[]> {
    const params = await this.arena.readAll('param');
    const running = new Map<string, Float32Array>();
    for (const u of this.convBns()) {
      running.set(`${u.spec.bn}.running_mean`, await u.runningMean.read());
      running.set(`${u.spec.bn}.running_var`, await u.runningVar.read());
    }
    const out: TensorToWrite[] = [];
    for (const [name, shape] of resnetLayout(this.config)) {
      out.push({ name, dtype: 'F32', shape, data: (params.get(name) ?? running.get(name))! });
      if (name.endsWith('.running_var')) {
        out.push({ name: name.replace(/running_var$/, 'num_batches_tracked'), dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(this.batchesTracked)]) });
      }
    }
    return out;
  }

  /**
   * Loads a state dict (torchvision names) into this model: every parameter and running statistic
   * must be there with its shape; num_batches_tracked is read where `read` offers it.
   */
  async loadState(source: StateSource): Promise<void> {
    checkState(this.config, source);
    const values = new Map<string, Float32Array>();
    for (const [name] of resnetLayout(this.config)) values.set(name, await source.read(name));
    for (const u of this.convBns()) {
      for (const [stat, t] of [['running_mean', u.runningMean], ['running_var', u.runningVar]] as const) {
        const key = `${u.spec.bn}.${stat}`;
        this.gpu.write(t.buffer, t.offset, values.get(key)!);
        values.delete(key);
      }
    }
    this.setParameters(values);
    this.batchesTracked = (await source.count?.('bn1.num_batches_tracked')) ?? 0;
  }

  /** The inference ResNet of the current weights and running statistics (BatchNorm folded). */
  async fold(): Promise<ResNet> {
    const floats = (await this.stateDict()).filter((t) => t.dtype === 'F32');
    const file = await SafetensorsFile.open(bytesSource(`${this.name} (in memory)`, serializeSafetensors(floats)));
    return ResNet.fromSafetensors(this.gpu, file);
  }

  dispose(): void {
    for (const u of this.convBns()) u.dispose();
    this.arena.destroy();
  }
}
