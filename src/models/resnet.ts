/**
 * torchvision's ResNet (reference section 3; architecture from resnet-config.ts) in eval mode:
 * every BatchNorm is folded into its conv at load (src/nn/batch-norm.ts), so a block is convs
 * with fused bias, the residual add fused into its last conv, and each ReLU fused into its conv's
 * output write. forward() returns the fc logits; sigmoid(logit) is the DNF classifier's
 * probability that an image is generated (src/pipeline/classify.ts).
 *
 * Every per-image activation must fit one storage binding: `maxBatch(h, w)` is the largest batch
 * that does, and `forwardBatched` splits larger batches into such chunks (src/models/forward-chunks.ts).
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { conv2d, type Conv2dWeights } from '../kernels/conv2d.js';
import { globalAvgPool, maxPool2d } from '../kernels/pool.js';
import { loadConvBn } from '../nn/batch-norm.js';
import { Linear } from '../nn/linear.js';
import { Tensor } from '../tensor.js';
import type { SafetensorsFile } from '../weights/safetensors.js';
import { VarBuilder } from '../weights/var-builder.js';
import { forwardInChunks } from './forward-chunks.js';
import { blockConvs, blockSpecs, featureChannels, resnetConfigFromKeys, resnetCost, resnetLayout, resnetName, type BlockSpec, type ResnetConfig } from './resnet-config.js';

interface FoldedConv {
  w: Conv2dWeights;
  stride: 1 | 2;
}

/** A BasicBlock or Bottleneck: relu(convs(x) + identity), identity = downsample(x) or x. */
class ResidualBlock {
  private constructor(private readonly convs: FoldedConv[], private readonly downsample: FoldedConv | null) {}

  static async load(vb: VarBuilder, config: ResnetConfig, spec: BlockSpec, keep: <T extends { dispose(): void }>(m: T) => T): Promise<ResidualBlock> {
    const convs: FoldedConv[] = [];
    let downsample: FoldedConv | null = null;
    for (const [name, cin, cout, k, stride] of blockConvs(config, spec)) {
      if (name === 'downsample') {
        const ds = vb.pp('downsample');
        downsample = { w: keep(await loadConvBn(ds.pp(0), ds.pp(1), cin, cout, k)), stride };
      } else {
        convs.push({ w: keep(await loadConvBn(vb.pp(name), vb.pp(`bn${name.slice(4)}`), cin, cout, k)), stride });
      }
    }
    return new ResidualBlock(convs, downsample);
  }

  /** x is left to the caller. */
  forward(x: Tensor): Tensor {
    const identity = this.downsample ? conv2d(x, this.downsample.w, { stride: this.downsample.stride }) : x;
    let h = x;
    this.convs.forEach((c, i) => {
      const last = i === this.convs.length - 1;
      const next = conv2d(h, c.w, { stride: c.stride, residual: last ? identity : undefined, act: 'relu' });
      if (h !== x) h.dispose();
      h = next;
    });
    if (identity !== x) identity.dispose();
    return h;
  }

  dispose(): void {
    this.convs.forEach((c) => c.w.dispose());
    this.downsample?.w.dispose();
  }
}

export class ResNet {
  private constructor(
    readonly gpu: Gpu,
    readonly config: ResnetConfig,
    private readonly stem: Conv2dWeights,
    private readonly blocks: ResidualBlock[],
    private readonly fc: Linear,
  ) {}

  /** 'ResNet50', or a description of a non-standard variant. */
  get name(): string {
    return resnetName(this.config);
  }

  /**
   * Builds the model, reading each weight through `vb` (folded, uploaded, dropped on the CPU),
   * once vb.check() has found exactly the model's keys and shapes in the checkpoint's header.
   */
  static async load(config: ResnetConfig, vb: VarBuilder): Promise<ResNet> {
    vb.check(resnetLayout(config), resnetName(config)); // from the header, before anything is allocated
    const owned: Array<{ dispose(): void }> = [];
    const keep = <T extends { dispose(): void }>(m: T): T => (owned.push(m), m);
    try {
      const stem = keep(await loadConvBn(vb.pp('conv1'), vb.pp('bn1'), config.inChannels, config.stem, 7));
      const blocks: ResidualBlock[] = [];
      for (const spec of blockSpecs(config)) {
        const prefix = spec.prefix.split('.');
        blocks.push(await ResidualBlock.load(vb.pp(prefix[0]).pp(prefix[1]), config, spec, keep));
      }
      const fc = keep(await Linear.load(vb.pp('fc'), featureChannels(config), config.numClasses));
      vb.finish(resnetName(config));
      return new ResNet(vb.gpu, config, stem, blocks, fc);
    } catch (e) {
      owned.forEach((m) => m.dispose());
      throw e;
    }
  }

  /** The architecture read from the file's keys, then load(). */
  static fromSafetensors(gpu: Gpu, file: SafetensorsFile): Promise<ResNet> {
    return ResNet.load(resnetConfigFromKeys(file, file.source.name), VarBuilder.fromSafetensors(gpu, file));
  }

  /** x [N, inChannels, H, W] -> logits [N, numClasses]. */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== this.config.inChannels) {
      throw new Error(`ResNet: input [${x.shape}] is not [N, ${this.config.inChannels}, H, W]`);
    }
    const s = conv2d(x, this.stem, { stride: 2, act: 'relu' });
    let h = maxPool2d(s);
    s.dispose();
    for (const block of this.blocks) {
      const next = block.forward(h);
      h.dispose();
      h = next;
    }
    const pooled = globalAvgPool(h);
    h.dispose();
    const logits = this.fc.forward(pooled);
    pooled.dispose();
    return logits;
  }

  /** Multiply-adds per image at h x w. */
  macs(h: number, w: number): number {
    return resnetCost(this.config, h, w).macs;
  }

  /** The largest batch forward() runs at h x w on this GPU (0 when one image exceeds its binding limit). */
  maxBatch(h: number, w: number): number {
    return Math.floor(this.gpu.maxBinding / (4 * resnetCost(this.config, h, w).largest));
  }

  /** forward() over any batch size: chunks of at most maxBatch images, logits gathered in one tensor. */
  forwardBatched(x: Tensor): Tensor {
    const [n, , h, w] = x.shape;
    const per = this.maxBatch(h, w);
    if (per < 1) {
      throw new DnfError(`one ${w}x${h} image needs ${resnetCost(this.config, h, w).largest * 4} bytes in one GPU buffer, more than this adapter's limit of ${this.gpu.maxBinding}; use smaller images or a GPU with larger storage bindings`);
    }
    if (n <= per) return this.forward(x);
    return forwardInChunks(this.gpu, x, per, [this.config.numClasses], 'resnet.logits', (chunk) => this.forward(chunk));
  }

  dispose(): void {
    this.stem.dispose();
    this.blocks.forEach((b) => b.dispose());
    this.fc.dispose();
  }
}
