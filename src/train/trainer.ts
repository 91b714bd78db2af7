/**
 * One optimisation step of the reference's training (train.py, CNNDetection's trainer) on the GPU:
 *   logits = model(x) in train mode;  loss = BCEWithLogits(logits, y) (mean over the batch);
 *   loss.backward();  Adam step (torch.optim.Adam, one dispatch per arena segment).
 * The batch is split into chunks that fit one storage binding (memory.ts) without changing the
 * semantics: BatchNorm's statistics, the loss and the gradients are those of the whole batch, as
 * PyTorch computes them at that batch size.
 */
import type { RgbImage } from '../image/pixels.js';
import { imagesToUnitTensor } from '../pipeline/preprocess.js';
import { adamStep } from '../kernels/adam.js';
import { bceWithLogits } from '../kernels/loss.js';
import { Tensor } from '../tensor.js';
import type { TrainableResNet } from './resnet.js';
import { trainingMemory } from './memory.js';
import { disposeBatch, Scope, Tape, type Batch } from './tape.js';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** The reference's optimiser: Adam lr 1e-4, betas (0.9, 0.999), eps 1e-8, no weight decay. */
export const REFERENCE_ADAM: AdamConfig = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** A batch on the CPU: images [N, C, H, W] (float, as ToTensor gives them) and labels [N] (0 real, 1 generated). */
export interface TrainBatch {
  x: Float32Array;
  shape: readonly [number, number, number, number];
  y: Float32Array;
}

/**
 * A batch of decoded 8-bit images (0 real, 1 generated), made into the classifier's input on the
 * GPU exactly as `dnf detect` makes it (src/pipeline/preprocess.ts imagesToUnitTensor: bicubic Resize
 * to size x size on the uint8 image, identity when it already has that size, then / 255).
 */
export interface ImageBatch {
  images: readonly RgbImage[];
  y: Float32Array;
  size: number;
  antialias: boolean;
}

export interface StepOptions {
  /** Images per chunk (default: the most that fit one storage binding). */
  chunkImages?: number;
}

export class Trainer {
  /** Adam steps taken (torch.optim.Adam's `step`). */
  step = 0;

  constructor(readonly model: TrainableResNet, public adam: AdamConfig = REFERENCE_ADAM) {
    if (model.config.numClasses !== 1) throw new Error(`training needs a classifier with one logit, ${model.name} has ${model.config.numClasses}`);
  }

  /** Images per chunk for h x w inputs on this GPU. */
  chunkImages(h: number, w: number): number {
    const per = trainingMemory(this.model.config, h, w, 1, this.model.gpu.maxBinding).chunkImages;
    if (per < 1) throw new Error(`one ${w}x${h} image needs more than this adapter's ${this.model.gpu.maxBinding}-byte storage binding in ${this.model.name}; use smaller images`);
    return per;
  }

  /** Uploads the images in chunks of at most `per`. */
  private chunks(b: Pick<TrainBatch, 'x' | 'shape'>, per: number): Batch {
    const [n, c, h, w] = b.shape;
    if (b.x.length !== n * c * h * w) throw new Error(`training batch: ${b.x.length} values do not fill [${b.shape}]`);
    const image = c * h * w;
    const out: Batch = [];
    for (let s = 0; s < n; s += per) {
      const m = Math.min(per, n - s);
      out.push(Tensor.from(this.model.gpu, b.x.subarray(s * image, (s + m) * image), [m, c, h, w], 'train.x'));
    }
    return out;
  }

  /** Resizes and uploads decoded images in chunks of at most `per`. */
  private imageChunks(b: ImageBatch, per: number): Batch {
    const out: Batch = [];
    try {
      for (let s = 0; s < b.images.length; s += per) {
        out.push(imagesToUnitTensor(this.model.gpu, b.images.slice(s, s + per), { size: b.size, antialias: b.antialias }));
      }
    } catch (e) {
      disposeBatch(out);
      throw e;
    }
    return out;
  }

  /**
   * Forward in train mode, loss and backward: the gradients of the batch's mean loss are in the
   * arena's grad buffers afterwards (and the running statistics updated). Resolves to the loss.
   */
  async lossAndGradients(b: TrainBatch, opts: StepOptions = {}): Promise<number> {
    const [n, , h, w] = b.shape;
    if (b.y.length !== n) throw new Error(`training batch: ${b.y.length} labels for ${n} images`);
    return this.backward(this.chunks(b, opts.chunkImages ?? this.chunkImages(h, w)), b.y);
  }

  /** lossAndGradients of decoded images (resized on the GPU as detect does). */
  async lossAndGradientsOfImages(b: ImageBatch, opts: StepOptions = {}): Promise<number> {
    if (b.y.length !== b.images.length) throw new Error(`training batch: ${b.y.length} labels for ${b.images.length} images`);
    if (!b.images.length) throw new Error('training batch: no images');
    return this.backward(this.imageChunks(b, opts.chunkImages ?? this.chunkImages(b.size, b.size)), b.y);
  }

  private async backward(chunks: Batch, y: Float32Array): Promise<number> {
    const scope = new Scope();
    const tape = new Tape();
    const x = scope.keep(chunks);
    const out = scope.keep(this.model.forward(x, { tape, scope }));
    const target = scope.keep(Tensor.from(this.model.gpu, y, [y.length, 1], 'train.y'));
    const { loss, grad } = bceWithLogits(out[0], target);
    tape.backward(out, [grad]);
    scope.dispose();
    const value = (await loss.read())[0];
    loss.dispose();
    return value;
  }

  /** One Adam step from the gradients in the arena (one dispatch per arena segment). */
  applyGradients(): void {
    this.step++;
    const { lr, beta1, beta2, eps, weightDecay } = this.adam;
    for (const s of this.model.arena.segments) adamStep(s.param, s.grad, s.m, s.v, { step: this.step, lr, beta1, beta2, eps, weightDecay });
    this.model.refresh();
  }

  /** lossAndGradients, then applyGradients: one training step. Resolves to the batch's loss. */
  async trainStep(b: TrainBatch, opts: StepOptions = {}): Promise<number> {
    const loss = await this.lossAndGradients(b, opts);
    this.applyGradients();
    return loss;
  }

  /** Eval-mode logits (running statistics) of images [N, C, H, W]. */
  async logits(b: Pick<TrainBatch, 'x' | 'shape'>, opts: StepOptions = {}): Promise<Float32Array> {
    const [, , h, w] = b.shape;
    const x = this.chunks(b, opts.chunkImages ?? this.chunkImages(h, w));
    const [logits] = this.model.forward(x, { tape: null, scope: null });
    disposeBatch(x);
    const v = await logits.read();
    logits.dispose();
    return v;
  }
}
