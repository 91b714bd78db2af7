/**
 * The Node image decoder on byte mutations of small WebPs (lossy, lossy with alpha, lossless,
 * near-lossless). Each case: a DnfError naming the file in one line, or a valid image.
 */
import { beforeAll, it } from 'vitest';
import { decodeImageBytes } from '../../src/image/decode-node.js';
import { fuzzReader, fuzzRuns } from './harness.js';
import { mutatedSeeds, validImage, webpSeeds } from './image-inputs.js';

let seeds: Uint8Array[];
beforeAll(async () => {
  seeds = await webpSeeds();
});

it('decodeImageBytes on mutated WebPs', async () => {
  await fuzzReader('decode-webp', mutatedSeeds(seeds), (bytes) => decodeImageBytes('fuzz.webp', bytes), {
    runs: fuzzRuns(1000), fileName: 'fuzz.webp', maxMs: 5000, maxHeapBytes: 64 << 20, validate: validImage,
  });
});
