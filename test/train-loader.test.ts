/** The training loader: read-ahead within the byte budget, and training images bounded in size. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import type { TrainItem } from '../src/node/train/dataset.js';
import { decodeTrainImage, epochBatches, flipHorizontal, MAX_TRAIN_PIXELS } from '../src/node/train/loader.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dnf-loader-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const items = (n: number): TrainItem[] => Array.from({ length: n }, (_, i) => ({ path: `img${i}.png`, rel: `img${i}.png`, label: i % 2 }) as TrainItem);

/** Runs an epoch whose images each hold `bytes`; returns, per consumed batch, how many images had been decoded by then. */
async function decodedAtEachBatch(bytes: number, budget: number): Promise<number[]> {
  let decoded = 0;
  const side = Math.sqrt(bytes / 3);
  const decode = async () => {
    decoded++;
    return { width: side, height: side, data: new Uint8Array(bytes) };
  };
  const seen: number[] = [];
  const order = Uint32Array.from({ length: 24 }, (_, i) => i);
  for await (const b of epochBatches(items(24), order, new Uint8Array(24), 0, { batchSize: 4, ahead: 2, budget, decode })) {
    await new Promise((r) => setTimeout(r, 5)); // a training step: the read-ahead runs meanwhile
    seen.push(decoded);
    expect(b.images).toHaveLength(4);
  }
  return seen;
}

describe('epochBatches', () => {
  it('reads two batches ahead when they fit the budget, none when one batch fills it', async () => {
    // Six batches of four; the count of images decoded when each batch is consumed.
    expect(await decodedAtEachBatch(3 * 64 * 64, 1 << 30)).toEqual([12, 16, 20, 24, 24, 24]); // the batch and two ahead
    // One batch fills the budget: the first batches were asked for before any size was known,
    // then each batch is decoded only when its turn comes.
    expect(await decodedAtEachBatch(3 * 1024 * 1024, 4 * 3 * 1024 * 1024)).toEqual([12, 12, 12, 16, 20, 24]);
  });

  it('flips left to right', () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
    expect([...flipHorizontal(img).data]).toEqual([4, 5, 6, 1, 2, 3]);
  });
});

describe('decodeTrainImage', () => {
  it('refuses an image larger than any DNF from its header, naming the file and the fix, without decoding it', async () => {
    const big = join(root, 'big.png');
    await sharp({ create: { width: 8192, height: 4096, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(big);
    expect(8192 * 4096).toBeGreaterThan(MAX_TRAIN_PIXELS);
    const t0 = performance.now();
    const e = await decodeTrainImage(big).then(() => null, (err: unknown) => err);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e).toBeInstanceOf(DnfError);
    expect((e as DnfError).exitCode).toBe(1);
    expect((e as DnfError).message).toBe(`${big}: 8192x4096 is larger than a DNF image can be (at most ${MAX_TRAIN_PIXELS} pixels); train on what \`dnf extract\` writes, or pass --images to compute the DNFs of source images`);
    const ok = join(root, 'ok.png');
    await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(ok);
    expect(await decodeTrainImage(ok)).toMatchObject({ width: 16, height: 12 });
  });
});
