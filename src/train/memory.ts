/**
 * What a training step of a ResNet holds on the GPU, counted from the architecture (the same walk
 * as the forward pass of resnet.ts), so that a batch can be planned before it runs:
 * - saved activations: every tensor the forward pass keeps for backward, for the whole batch:
 *   the stem's conv output y and BN+ReLU output z, the max pool's output, each conv-BN unit's y and
 *   z, and the pooled features. This is the bulk, and it grows with the batch;
 * - the backward pass's transient tensors: while one unit runs backward, the gradient of its
 *   output, the ReLU-masked gradient, the BN input gradient, the conv input gradient and the
 *   pending gradient of the block's input (the residual branch): at most 5 activations of the
 *   largest size;
 * - the parameters: the arena's four buffers (parameters, gradients, two Adam moments) plus the
 *   two re-laid-out copies of every conv weight (forward and input-gradient kernels).
 * Chunks: the batch runs in chunks of `chunkImages` images, the most whose largest single
 * activation fits one storage binding; BatchNorm still sees the whole batch.
 */
import { blockConvs, blockSpecs, featureChannels, resnetCost, type ResnetConfig } from '../models/resnet-config.js';
import { resnetParameters } from './init.js';
import { numel } from '../tensor.js';

export interface TrainingMemory {
  /** Saved activation bytes per image. */
  activationsPerImage: number;
  /** Saved activation bytes of the whole batch. */
  activations: number;
  /** Bound on the backward pass's transient bytes (5 of the largest activation, whole batch). */
  backward: number;
  /** Arena (x4) and the two conv weight layouts (x2) of the parameters. */
  parameters: number;
  total: number;
  /** Images per chunk: the largest single activation of a chunk fits one binding. */
  chunkImages: number;
  /** Bytes of the largest single activation of one image. */
  largestPerImage: number;
}

const half = (n: number) => Math.floor((n - 1) / 2) + 1;

/** Elements of the activations the forward pass keeps, per image at h x w. */
export function savedActivations(c: ResnetConfig, h: number, w: number): number {
  let [y, x] = [half(h), half(w)];
  let total = 2 * c.stem * y * x; // stem conv output and BN + ReLU output
  [y, x] = [half(y), half(x)];
  total += c.stem * y * x; // max pool output
  for (const b of blockSpecs(c)) {
    const [yo, xo] = b.stride === 2 ? [half(y), half(x)] : [y, x];
    for (const [name, , cout] of blockConvs(c, b)) {
      const px = c.block === 'bottleneck' && name === 'conv1' ? y * x : yo * xo;
      total += 2 * cout * px;
    }
    [y, x] = [yo, xo];
  }
  return total + featureChannels(c);
}

export function trainingMemory(c: ResnetConfig, h: number, w: number, batch: number, maxBinding: number): TrainingMemory {
  const activationsPerImage = 4 * savedActivations(c, h, w);
  const largestPerImage = 4 * resnetCost(c, h, w).largest;
  const params = resnetParameters(c).reduce((a, [, s]) => a + numel(s), 0) * 4;
  const activations = activationsPerImage * batch;
  const backward = 5 * largestPerImage * batch;
  const parameters = 6 * params;
  return {
    activationsPerImage,
    activations,
    backward,
    parameters,
    total: activations + backward + parameters,
    chunkImages: Math.floor(maxBinding / largestPerImage),
    largestPerImage,
  };
}
