/**
 * Batches of decoded training images from files, for `dnf train`: src/train/batches.ts's
 * epochBatches with Node's decoder and memory budget.
 *
 * Decoding runs in sharp's (libvips') worker threads, off the JavaScript thread, so the images of
 * the batches read ahead decode while the GPU trains on the current one.
 *
 * Memory: an image larger than MAX_TRAIN_PIXELS is refused from its header before it is decoded
 * (DNF images are the UNet's size, 256 or 512 pixels square), and batches are read ahead only
 * while the decoded bytes held stay within decodedImageBudget().
 */
import { DnfError } from '../../errors.js';
import { decodeImageFile } from '../../image/decode-node.js';
import type { RgbImage } from '../../image/pixels.js';
import { epochBatches as batchesOf, type LoadedBatch } from '../../train/batches.js';
import { decodedImageBudget, imageDimensions } from '../batch/memory.js';
import type { TrainItem } from './dataset.js';

export { flipHorizontal, type LoadedBatch } from '../../train/batches.js';

/** Largest training image, in pixels: 4096 x 4096 (48 MiB decoded), 64 times a 512 x 512 DNF. */
export const MAX_TRAIN_PIXELS = 4096 * 4096;

/** Decodes a training image, refusing one larger than MAX_TRAIN_PIXELS from its header first. */
export async function decodeTrainImage(path: string): Promise<RgbImage> {
  const { width: w, height: h } = (await imageDimensions(path)) ?? { width: 0, height: 0 };
  if (w * h > MAX_TRAIN_PIXELS) {
    throw new DnfError(`${path}: ${w}x${h} is larger than a DNF image can be (at most ${MAX_TRAIN_PIXELS} pixels); train on what \`dnf extract\` writes, or pass --images to compute the DNFs of source images`, 1);
  }
  return decodeImageFile(path);
}

export interface LoaderOptions {
  batchSize: number;
  /** Batches decoded ahead of the one being trained on (default 2), while they fit the budget. */
  ahead?: number;
  /** Bytes of decoded batches to hold ahead (default: decodedImageBudget()). */
  budget?: number;
  decode?: (path: string) => Promise<RgbImage>;
}

/**
 * The batches of one epoch from batch `start` on: `order` lists item indices in the epoch's
 * order, `flips[i]` whether the image at position i is flipped.
 */
export function epochBatches(items: readonly TrainItem[], order: Uint32Array, flips: Uint8Array, start: number, opts: LoaderOptions): AsyncGenerator<LoadedBatch> {
  const decode = opts.decode ?? decodeTrainImage;
  return batchesOf(items, order, flips, start, { batchSize: opts.batchSize, ahead: opts.ahead, budget: opts.budget ?? decodedImageBudget(), decode: (item) => decode(item.path) });
}
