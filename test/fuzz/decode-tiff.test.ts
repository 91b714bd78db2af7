/**
 * The Node image decoder on byte mutations of small TIFFs (LZW with predictor, deflate, PackBits,
 * JPEG-compressed, tiled, 1-bit, CMYK, 16-bit gray). Each case: a DnfError naming the file in one
 * line, or a valid image.
 */
import { beforeAll, it } from 'vitest';
import { decodeImageBytes } from '../../src/image/decode-node.js';
import { fuzzReader, fuzzRuns } from './harness.js';
import { mutatedSeeds, tiffSeeds, validImage } from './image-inputs.js';

let seeds: Uint8Array[];
beforeAll(async () => {
  seeds = await tiffSeeds();
});

it('decodeImageBytes on mutated TIFFs', async () => {
  await fuzzReader('decode-tiff', mutatedSeeds(seeds), (bytes) => decodeImageBytes('fuzz.tif', bytes), {
    runs: fuzzRuns(1000), fileName: 'fuzz.tif', maxMs: 5000, maxHeapBytes: 64 << 20, validate: validImage,
  });
});
