/**
 * The Node image decoder on byte mutations of small WebPs (lossy, lossy with alpha, lossless,
 * near-lossless). Each case: a DnfError naming the file in one line, or a valid image.
 */
import { beforeAll, it } from 'vitest';
import { fuzzDecoder, mutatedSeeds, webpSeeds } from './image-inputs.js';

let seeds: Uint8Array[];
beforeAll(async () => {
  seeds = await webpSeeds();
});

it('decodeImageBytes on mutated WebPs', async () => {
  await fuzzDecoder('decode-webp', mutatedSeeds(seeds), 'webp', 1000, 5000);
});
