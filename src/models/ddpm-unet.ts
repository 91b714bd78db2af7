/**
 * The DDPM "simple" UNet (reference/dnf-pipeline.md section 2), built from a UnetConfig and a
 * VarBuilder whose keys are the PyTorch state-dict keys: temb.dense.{0,1}, conv_in,
 * down.{i}.{block,attn}.{j}, down.{i}.downsample, mid.{block_1,attn_1,block_2},
 * up.{i}.{block,attn}.{j}, up.{i}.upsample, norm_out, conv_out (up.0 is full resolution).
 *
 * forward(x, t) returns eps_theta(x, t). Activations are released as soon as they are dead (skip
 * connections when the up path pops them); GroupNorm+swish, conv+bias+residual and the temb MLP's
 * bias+swish are fused. Every per-image activation must fit one storage binding: `maxBatch` is the
 * largest batch that does, and `forwardBatched` splits larger batches into such chunks.
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import { concatChannels } from '../kernels/concat.js';
import { timestepEmbedding } from '../kernels/timestep.js';
import { AttnBlock } from '../nn/attn-block.js';
import { Conv2d } from '../nn/conv2d.js';
import { GroupNorm } from '../nn/group-norm.js';
import { Linear } from '../nn/linear.js';
import { Downsample, Upsample } from '../nn/resample.js';
import { ResnetBlock } from '../nn/resnet-block.js';
import { Tensor } from '../tensor.js';
import type { SafetensorsFile } from '../weights/safetensors.js';
import { VarBuilder } from '../weights/var-builder.js';
import { levelResolutions, type UnetConfig } from './unet-config.js';
import { forwardInChunks } from './forward-chunks.js';
import { checkUnetFields, unetDescription, unetLayout } from './unet-layout.js';

interface DownLevel {
  blocks: ResnetBlock[];
  attns: AttnBlock[];
  downsample: Downsample | null;
}

interface UpLevel {
  blocks: ResnetBlock[];
  attns: AttnBlock[];
  upsample: Upsample | null;
}

interface Modules {
  temb: [Linear, Linear];
  convIn: Conv2d;
  down: DownLevel[];
  mid: { block1: ResnetBlock; attn: AttnBlock; block2: ResnetBlock };
  /** Index i is level i (up.0 = full resolution); forward walks them from the last. */
  up: UpLevel[];
  normOut: GroupNorm;
  convOut: Conv2d;
}

export class DdpmUnet {
  private constructor(readonly gpu: Gpu, readonly config: UnetConfig, private readonly m: Modules) {}

  /**
   * Builds the model, reading each weight through `vb` (uploaded, then dropped on the CPU). Before
   * anything is read or allocated, the checkpoint's header must agree with `config`: field by field
   * (checkUnetFields) and then key by key (every key and shape of unetLayout, nothing else).
   * `configName` names the config in errors.
   */
  static async load(config: UnetConfig, vb: VarBuilder, configName?: string): Promise<DdpmUnet> {
    checkUnetFields(config, (k) => vb.shapeOf(k), vb.source, configName);
    vb.check(unetLayout(config), unetDescription(config));
    const owned: Array<{ dispose(): void }> = [];
    const keep = <T extends { dispose(): void }>(m: T): T => (owned.push(m), m);
    try {
      const { ch, ch_mult: mult, num_res_blocks: nrb, resamp_with_conv: withConv } = config;
      const tembCh = 4 * ch;
      const attnAt = new Set(config.attn_resolutions);
      const res = levelResolutions(config);
      const dense = vb.pp('temb').pp('dense');
      const temb: [Linear, Linear] = [keep(await Linear.load(dense.pp(0), ch, tembCh)), keep(await Linear.load(dense.pp(1), tembCh, tembCh))];
      const convIn = keep(await Conv2d.load(vb.pp('conv_in'), config.in_channels, ch, 3));

      const down: DownLevel[] = [];
      let blockIn = ch;
      for (let i = 0; i < mult.length; i++) {
        const lvb = vb.pp('down').pp(i);
        const level: DownLevel = { blocks: [], attns: [], downsample: null };
        for (let j = 0; j < nrb; j++) {
          level.blocks.push(keep(await ResnetBlock.load(lvb.pp('block').pp(j), blockIn, ch * mult[i], tembCh)));
          blockIn = ch * mult[i];
          if (attnAt.has(res[i])) level.attns.push(keep(await AttnBlock.load(lvb.pp('attn').pp(j), blockIn)));
        }
        if (i !== mult.length - 1) level.downsample = keep(await Downsample.load(lvb.pp('downsample'), blockIn, withConv));
        down.push(level);
      }

      const mvb = vb.pp('mid');
      const mid = {
        block1: keep(await ResnetBlock.load(mvb.pp('block_1'), blockIn, blockIn, tembCh)),
        attn: keep(await AttnBlock.load(mvb.pp('attn_1'), blockIn)),
        block2: keep(await ResnetBlock.load(mvb.pp('block_2'), blockIn, blockIn, tembCh)),
      };

      const up: UpLevel[] = [];
      for (let i = mult.length - 1; i >= 0; i--) {
        const lvb = vb.pp('up').pp(i);
        const level: UpLevel = { blocks: [], attns: [], upsample: null };
        for (let j = 0; j <= nrb; j++) {
          const skip = ch * (j === nrb ? (i === 0 ? 1 : mult[i - 1]) : mult[i]);
          level.blocks.push(keep(await ResnetBlock.load(lvb.pp('block').pp(j), blockIn + skip, ch * mult[i], tembCh)));
          blockIn = ch * mult[i];
          if (attnAt.has(res[i])) level.attns.push(keep(await AttnBlock.load(lvb.pp('attn').pp(j), blockIn)));
        }
        if (i !== 0) level.upsample = keep(await Upsample.load(lvb.pp('upsample'), blockIn, withConv));
        up[i] = level;
      }

      const normOut = keep(await GroupNorm.load(vb.pp('norm_out'), blockIn));
      const convOut = keep(await Conv2d.load(vb.pp('conv_out'), blockIn, config.out_ch, 3));
      vb.finish(unetDescription(config));
      return new DdpmUnet(vb.gpu, config, { temb, convIn, down, mid, up, normOut, convOut });
    } catch (e) {
      owned.forEach((m) => m.dispose());
      throw e;
    }
  }

  /** load() from a safetensors file (read tensor by tensor). */
  static fromSafetensors(gpu: Gpu, config: UnetConfig, file: SafetensorsFile, configName?: string): Promise<DdpmUnet> {
    return DdpmUnet.load(config, VarBuilder.fromSafetensors(gpu, file), configName);
  }

  /** x [N, in_channels, R, R] (R = config.resolution), t: one timestep per image -> eps [N, out_ch, R, R]. */
  forward(x: Tensor, t: readonly number[]): Tensor {
    const { config: c, m } = this;
    const [n] = x.shape;
    const want = [n, c.in_channels, c.resolution, c.resolution];
    if (x.shape.join() !== want.join()) throw new Error(`DdpmUnet: input [${x.shape}] is not [${want}]`);
    if (t.length !== n) throw new Error(`DdpmUnet: ${t.length} timesteps for ${n} images`);

    // Every ResnetBlock reads swish(temb) only: dense.1 applies the swish in its output write.
    const emb = timestepEmbedding(this.gpu, t, c.ch);
    const hidden = m.temb[0].forward(emb, 'swish');
    emb.dispose();
    const temb = m.temb[1].forward(hidden, 'swish');
    hidden.dispose();

    const hs: Tensor[] = [m.convIn.forward(x)];
    for (const level of m.down) {
      level.blocks.forEach((block, j) => {
        let h = block.forward(hs[hs.length - 1], temb);
        if (level.attns.length) h = replace(h, level.attns[j].forward(h));
        hs.push(h);
      });
      if (level.downsample) hs.push(level.downsample.forward(hs[hs.length - 1]));
    }

    let h = m.mid.block1.forward(hs[hs.length - 1], temb);
    h = replace(h, m.mid.attn.forward(h));
    h = replace(h, m.mid.block2.forward(h, temb));

    for (let i = m.up.length - 1; i >= 0; i--) {
      const level = m.up[i];
      level.blocks.forEach((block, j) => {
        const skip = hs.pop()!;
        const cat = concatChannels(h, skip); // torch.cat([h, hs.pop()], dim=1)
        h.dispose();
        skip.dispose();
        h = block.forward(cat, temb);
        cat.dispose();
        if (level.attns.length) h = replace(h, level.attns[j].forward(h));
      });
      if (level.upsample) h = replace(h, level.upsample.forward(h));
    }
    temb.dispose();

    const eps = m.convOut.forward(h, { norm: { layer: m.normOut, swish: true } });
    h.dispose();
    return eps;
  }

  /** The batch to run when the user names none (see defaultBatch). */
  get defaultBatch(): number {
    return defaultBatch(this.config, this.gpu);
  }

  /** The largest batch forward() runs on this GPU (0 when one image exceeds its binding limit). */
  get maxBatch(): number {
    return maxBatch(this.config, this.gpu);
  }

  /** forward() over any batch size: chunks of at most maxBatch images, results gathered in one tensor. */
  forwardBatched(x: Tensor, t: readonly number[]): Tensor {
    const [n] = x.shape;
    const per = this.maxBatch;
    if (per < 1) {
      throw new DnfError(`one ${this.config.resolution}x${this.config.resolution} image needs ${largestActivation(this.config) * 4} bytes in one GPU buffer, more than this adapter's limit of ${this.gpu.maxBinding}; use a GPU with larger storage bindings`);
    }
    if (n <= per) return this.forward(x, t);
    if (t.length !== n) throw new Error(`DdpmUnet: ${t.length} timesteps for ${n} images`);
    const { out_ch: co, resolution: r } = this.config;
    return forwardInChunks(this.gpu, x, per, [co, r, r], 'eps', (chunk, s) => this.forward(chunk, t.slice(s, s + chunk.shape[0])));
  }

  dispose(): void {
    const { temb, convIn, down, mid, up, normOut, convOut } = this.m;
    const levels = [...down, ...up];
    for (const mod of [...temb, convIn, mid.block1, mid.attn, mid.block2, normOut, convOut]) mod.dispose();
    for (const l of levels) [...l.blocks, ...l.attns].forEach((mod) => mod.dispose());
    for (const l of down) l.downsample?.dispose();
    for (const l of up) l.upsample?.dispose();
  }
}

/** Disposes `old` and returns `next` (for h = f(h) chains). */
function replace(old: Tensor, next: Tensor): Tensor {
  old.dispose();
  return next;
}

/**
 * Elements of the largest single tensor one image creates in forward(): the up path's concat
 * ([h, skip] channels at a level's resolution), block activations, upsampled maps, and at
 * attention levels the [L, L] score matrix (L = r*r) an attention kernel may hold.
 */
export function largestActivation(config: UnetConfig): number {
  const { ch, ch_mult: mult, num_res_blocks: nrb, in_channels, out_ch } = config;
  const res = levelResolutions(config);
  const attnAt = new Set(config.attn_resolutions);
  let max = Math.max(in_channels, out_ch, ch) * res[0] ** 2;
  const see = (channels: number, r: number) => (max = Math.max(max, channels * r * r));
  let c = ch;
  mult.forEach((f, i) => {
    see(c, res[i]);
    c = ch * f;
    see(c, res[i]);
    if (attnAt.has(res[i])) max = Math.max(max, res[i] ** 4);
  });
  for (let i = mult.length - 1; i >= 0; i--) {
    for (let j = 0; j <= nrb; j++) {
      see(c + ch * (j === nrb ? (i === 0 ? 1 : mult[i - 1]) : mult[i]), res[i]);
      c = ch * mult[i];
    }
    if (i > 0) see(c, res[i - 1]);
  }
  return max;
}

/** Most images per batch when nothing else limits it. */
export const MAX_DEFAULT_BATCH = 16;
/**
 * What a batch's activations may take on an adapter whose memory is the process's own (a CPU
 * adapter). Per image the forward holds about 5.5 times its largest activation at its peak
 * (measured: the LSUN-bedroom UNet on llvmpipe, max RSS 1.21 GB at batch 1 and 1.58 GB at batch 2,
 * i.e. ~370 MB per image, where its largest activation, the 256-channel concatenation at 256x256,
 * is 64 MiB); ACTIVATION_COPIES keeps a margin over that.
 */
const HOST_ACTIVATION_BUDGET = 512 << 20;
const ACTIVATION_COPIES = 6;

/**
 * The batch to run when the user names none: what one binding holds, at most MAX_DEFAULT_BATCH,
 * and on a CPU adapter what HOST_ACTIVATION_BUDGET holds (at least 1): a batch of 16 on
 * SwiftShader's 1 GiB bindings would take ~6 GB of RAM, where a 256x256 image alone already gives
 * each of the large convolutions thousands of workgroups to spread over the cores.
 */
export function defaultBatch(config: UnetConfig, gpu: Pick<Gpu, 'maxBinding' | 'memoryIsHost'>): number {
  let n = Math.min(MAX_DEFAULT_BATCH, maxBatch(config, gpu));
  if (gpu.memoryIsHost) n = Math.min(n, Math.floor(HOST_ACTIVATION_BUDGET / (ACTIVATION_COPIES * 4 * largestActivation(config))));
  return Math.max(1, n);
}

/** The largest batch whose every activation fits one storage binding of `gpu`. */
export function maxBatch(config: UnetConfig, gpu: Pick<Gpu, 'maxBinding'>): number {
  return Math.floor(gpu.maxBinding / (4 * largestActivation(config)));
}
