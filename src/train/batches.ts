/**
 * The batches of one epoch of training or validation images, decoded ahead while the GPU trains on
 * the current batch, for any source of images (files in Node, Files picked in a page): the caller
 * gives `decode(item)`.
 *
 * The loader keeps the decodes of the next `ahead` batches in flight, so the GPU waits for data
 * only when decoding a batch takes longer than a training step; the loop measures that wait.
 *
 * An image that cannot be decoded is left out of its batch (which is then smaller) and reported
 * with its message; the same image fails the same way in every epoch and after a resume, so the
 * batches stay deterministic. Flips (RandomHorizontalFlip) are applied to the decoded pixels.
 *
 * Memory: batches have a fixed count (the run must be reproducible step for step), so what is
 * bounded is the rest: batches are read ahead only while the decoded bytes held stay within
 * `budget`.
 */
import type { RgbImage } from '../image/pixels.js';
import type { BinaryLabel } from '../metrics.js';

/** One labelled image of a training or validation set. */
export interface TrainItem {
  /** Where it is read from (a file path in Node, the picked file's path in a page): named in messages. */
  path: string;
  /** Relative to the set's root, `0_real/...` or `1_fake/...` for a flat layout. */
  rel: string;
  subset: string;
  label: BinaryLabel;
}

export interface LoadedBatch<T extends TrainItem = TrainItem> {
  /** Index of the batch in its epoch. */
  index: number;
  items: T[];
  images: RgbImage[];
  /** 0 real, 1 generated, per image. */
  labels: Float32Array;
  /** Images of this batch that could not be decoded. */
  failed: Array<{ item: T; message: string }>;
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

export interface BatchOptions<T extends TrainItem> {
  batchSize: number;
  decode: (item: T) => Promise<RgbImage>;
  /** Batches decoded ahead of the one being trained on (default 2), while they fit the budget. */
  ahead?: number;
  /** Bytes of decoded batches to hold ahead (default: unbounded). */
  budget?: number;
}

const batchBytes = (b: LoadedBatch<TrainItem>) => b.images.reduce((n, img) => n + img.data.byteLength, 0);

async function loadBatch<T extends TrainItem>(items: readonly T[], positions: Uint32Array, flips: Uint8Array, index: number, decode: (item: T) => Promise<RgbImage>): Promise<LoadedBatch<T>> {
  const decoded = await Promise.all([...positions].map(async (p) => {
    const item = items[p];
    try {
      const img = await decode(item);
      return { item, img };
    } catch (e) {
      return { item, message: e instanceof Error ? e.message : String(e) };
    }
  }));
  const ok: Array<{ item: T; img: RgbImage; flip: boolean }> = [];
  const failed: LoadedBatch<T>['failed'] = [];
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
export async function* epochBatches<T extends TrainItem>(items: readonly T[], order: Uint32Array, flips: Uint8Array, start: number, opts: BatchOptions<T>): AsyncGenerator<LoadedBatch<T>> {
  const { batchSize, decode } = opts;
  const budget = opts.budget ?? Infinity;
  const count = Math.ceil(order.length / batchSize);
  const pending = new Map<number, Promise<LoadedBatch<T>>>();
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
