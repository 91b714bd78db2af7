/**
 * Batches of decoded training images, read ahead while the GPU trains on the current batch.
 *
 * Decoding runs in sharp's (libvips') worker threads, off the JavaScript thread: the loader keeps
 * the decodes of the next `ahead` batches in flight, so the GPU waits for data only when decoding
 * a batch takes longer than a training step. The consumer measures that wait (TrainLoop logs it
 * per step as data_wait_ms).
 *
 * A file that cannot be decoded is left out of its batch (which is then smaller) and reported
 * with its message; the same file fails the same way in every epoch and after a resume, so the
 * batches stay deterministic. Flips (RandomHorizontalFlip) are applied to the decoded pixels.
 *
 * Memory: batches have a fixed count (the run must be reproducible step for step), so what is
 * bounded is the rest. An image larger than MAX_TRAIN_PIXELS is refused from its header before it
 * is decoded (DNF images are the UNet's size, 256 or 512 pixels square), and batches are read
 * ahead only while the decoded bytes held stay within the byte budget.
 */
import { DnfError } from '../../errors.js';
import { decodeImageFile } from '../../image/decode-node.js';
import type { RgbImage } from '../../image/pixels.js';
import { decodedImageBudget, imageDimensions } from '../batch/memory.js';
import type { TrainItem } from './dataset.js';

export interface LoadedBatch {
  /** Index of the batch in its epoch. */
  index: number;
  items: TrainItem[];
  images: RgbImage[];
  /** 0 real, 1 generated, per image. */
  labels: Float32Array;
  /** Files of this batch that could not be decoded. */
  failed: Array<{ item: TrainItem; message: string }>;
}

/** The image mirrored left to right. */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0; x < w; x++) {
      const s = row + x * 3;
      const d = row + (w - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: w, height: h, data: out };
}

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

const batchBytes = (b: LoadedBatch) => b.images.reduce((n, img) => n + img.data.byteLength, 0);

async function loadBatch(items: readonly TrainItem[], positions: Uint32Array, flips: Uint8Array, index: number, decode: (path: string) => Promise<RgbImage>): Promise<LoadedBatch> {
  const decoded = await Promise.all([...positions].map(async (p) => {
    const item = items[p];
    try {
      const img = await decode(item.path);
      return { item, img };
    } catch (e) {
      return { item, message: e instanceof Error ? e.message : String(e) };
    }
  }));
  const ok: Array<{ item: TrainItem; img: RgbImage; flip: boolean }> = [];
  const failed: LoadedBatch['failed'] = [];
  decoded.forEach((d, k) => {
    if ('img' in d && d.img) ok.push({ item: d.item, img: d.img, flip: flips[k] === 1 });
    else failed.push({ item: d.item, message: (d as { message: string }).message });
  });
  return {
    index,
    items: ok.map((o) => o.item),
    images: ok.map((o) => (o.flip ? flipHorizontal(o.img) : o.img)),
    labels: Float32Array.from(ok, (o) => o.item.label),
    failed,
  };
}

/**
 * The batches of one epoch from batch `start` on: `order` lists item indices in the epoch's
 * order, `flips[i]` whether the image at position i is flipped.
 */
export async function* epochBatches(items: readonly TrainItem[], order: Uint32Array, flips: Uint8Array, start: number, opts: LoaderOptions): AsyncGenerator<LoadedBatch> {
  const { batchSize } = opts;
  const budget = opts.budget ?? decodedImageBudget();
  const decode = opts.decode ?? decodeTrainImage;
  const count = Math.ceil(order.length / batchSize);
  const pending = new Map<number, Promise<LoadedBatch>>();
  // Read-ahead shrinks when batches are large: the last batch's bytes stand for the next ones'.
  let ahead = Math.max(0, opts.ahead ?? 2);
  const maxAhead = ahead;
  const request = (b: number) => {
    if (b >= count || pending.has(b)) return;
    const lo = b * batchSize;
    const hi = Math.min(order.length, lo + batchSize);
    pending.set(b, loadBatch(items, order.subarray(lo, hi), flips.subarray(lo, hi), b, decode));
  };
  for (let b = start; b < count; b++) {
    for (let k = b; k <= b + ahead; k++) request(k);
    const batch = await pending.get(b)!;
    pending.delete(b);
    const bytes = batchBytes(batch);
    ahead = bytes > 0 ? Math.min(maxAhead, Math.max(0, Math.floor(budget / bytes) - 1)) : maxAhead;
    yield batch;
  }
}
