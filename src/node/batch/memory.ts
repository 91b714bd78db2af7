/**
 * What batch jobs may hold in memory: decoded images are the one cost that follows the inputs
 * rather than the model (a 520 KB PNG can decode to 537 MB), so batches are sized by their bytes
 * (see runBatches) against a budget, and each item's bytes are read off its file's header before
 * it is decoded.
 */
import { open, stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { bmpDimensions } from '../../image/bmp.js';
import { isBmp } from '../../image/formats.js';

const MiB = 1 << 20;

/**
 * Bytes of decoded images to hold at once: an eighth of the machine's memory, between 256 MiB and
 * 1 GiB (one batch in flight and one being decoded share it). The GPU side needs no share: images
 * go up in slabs of at most 64 MiB whatever their size. DNF_MEMORY_BUDGET (bytes) overrides it.
 */
export function decodedImageBudget(): number {
  const env = Number(process.env.DNF_MEMORY_BUDGET);
  if (Number.isSafeInteger(env) && env > 0) return env;
  return Math.min(1024 * MiB, Math.max(256 * MiB, Math.floor(totalmem() / 8)));
}

/** An image file's size in pixels from its header (the first page of a multi-page file); null when it cannot be read. */
export async function imageDimensions(path: string): Promise<{ width: number; height: number } | null> {
  try {
    const head = await readHead(path, 26);
    if (isBmp(head)) return bmpDimensions(head); // sharp has no BMP reader (src/image/bmp.ts decodes them)
    const { width = 0, height = 0 } = await sharp(path, { limitInputPixels: false, pages: 1 }).metadata();
    return { width, height };
  } catch {
    return null;
  }
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const b = new Uint8Array(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * The bytes decoding `path` will hold: the file read into memory plus its RGB pixels (from the
 * header). A file whose header cannot be read costs its size: its decoding fails early.
 */
export async function decodedImageCost(path: string): Promise<number> {
  const [size, dims] = await Promise.all([stat(path).then((s) => s.size, () => 0), imageDimensions(path)]);
  return size + (dims ? dims.width * dims.height * 3 : 0);
}

/**
 * What a batch job over image files needs to keep decoded images within the budget (the `cost`,
 * `memoryBudget` and `released` of runBatches), given where each item's file is.
 */
export function decodedImageLimits<T>(pathOf: (item: T) => string) {
  return { cost: (item: T) => decodedImageCost(pathOf(item)), memoryBudget: decodedImageBudget(), released: releaseDecoded };
}

/** Batches that held at least this much are collected at once when they are dropped. */
const COLLECT_FROM_BYTES = 64 * MiB;
let collectGarbage: (() => void) | null = null;

/**
 * Frees a dropped batch's decoded images now when they were large. Their pixels live outside
 * V8's heap, and V8 collects them only when its own heap asks for it: without this, the previous
 * huge image is still held while the next one is decoded (measured: 1.3 GB instead of 0.8 GB with
 * two 13377x13377 images in a row). A full collection takes ~10-20 ms, against seconds per batch.
 */
export function releaseDecoded(bytes: number): void {
  if (bytes < COLLECT_FROM_BYTES) return;
  if (!collectGarbage) {
    setFlagsFromString('--expose-gc');
    collectGarbage = runInNewContext('gc') as () => void;
  }
  collectGarbage();
}
