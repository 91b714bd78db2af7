/**
 * The DNF classifier's verdict on DNF images (reference section 3), browser-safe: the quantised
 * DNF (8-bit RGB, exactly the PNG `dnf extract` writes) resized to 256x256 with torchvision's
 * bicubic Resize on the uint8 tensor (identity for 256x256 DNFs), scaled to [0, 1] (no mean/std
 * normalisation, no crop), through the ResNet; prob = sigmoid(logit) is the probability that the
 * image is generated.
 *
 * Probabilities are rounded to float32, as torch.sigmoid returns them, so that ties (saturated
 * probabilities of 0 or 1, for instance) fall where they fall in the reference's evaluation.
 */
import { DnfError } from '../errors.js';
import type { RgbImage } from '../image/pixels.js';
import { DEFAULT_ANTIALIAS, imagesToUnitTensor } from './preprocess.js';
import type { ResNet } from '../models/resnet.js';

/** Side of the classifier's input: DNFs of other sizes are resized to it. */
export const CLASSIFIER_SIZE = 256;
/** Images with prob > threshold are called generated (CNNDetection's `y_pred > 0.5`). */
export const DEFAULT_THRESHOLD = 0.5;

export type Label = 'real' | 'generated';

export interface Verdict {
  /** The fc output. */
  logit: number;
  /** float32(sigmoid(logit)): the probability that the image is generated. */
  prob: number;
}

export interface ClassifyOptions {
  /** Input side (default CLASSIFIER_SIZE). */
  size?: number;
  /** torch's antialiased bicubic when a DNF's size differs from the input, up or down (default DEFAULT_ANTIALIAS). */
  antialias?: boolean;
}

/** float32(1 / (1 + exp(-logit))), evaluated in double. */
export function sigmoid(logit: number): number {
  return Math.fround(1 / (1 + Math.exp(-logit)));
}

/** 'generated' when prob > threshold, else 'real'. */
export function labelOf(prob: number, threshold = DEFAULT_THRESHOLD): Label {
  return prob > threshold ? 'generated' : 'real';
}

/** Throws a DnfError unless `model` outputs the one logit of a DNF classifier. */
export function checkClassifier(model: ResNet, source: string): void {
  if (model.config.numClasses !== 1) {
    throw new DnfError(`${source}: the classifier's fc has ${model.config.numClasses} outputs; a DNF classifier has one (fc.weight [1, ${model.config.stages.at(-1)?.out}]): train one with a single logit`);
  }
}

/** The verdict on each DNF image, in order (batches larger than the GPU takes are split). */
export async function classifyDnfImages(model: ResNet, dnfs: RgbImage[], opts: ClassifyOptions = {}): Promise<Verdict[]> {
  const x = imagesToUnitTensor(model.gpu, dnfs, { size: opts.size ?? CLASSIFIER_SIZE, antialias: opts.antialias ?? DEFAULT_ANTIALIAS });
  let logits;
  try {
    logits = model.forwardBatched(x);
  } finally {
    x.dispose();
  }
  const values = await logits.read().finally(() => logits.dispose());
  const k = model.config.numClasses;
  return dnfs.map((_, i) => ({ logit: values[i * k], prob: sigmoid(values[i * k]) }));
}
