/**
 * The Node image decoder on byte mutations of small TIFFs (LZW with predictor, deflate, PackBits,
 * JPEG-compressed, tiled, 1-bit, CMYK, 16-bit gray). Each case: a DnfError naming the file in one
 * line, or a valid image.
 */
import { beforeAll, it } from 'vitest';
import { fuzzDecoder, mutatedSeeds, tiffSeeds } from './image-inputs.js';

let seeds: Uint8Array[];
beforeAll(async () => {
  seeds = await tiffSeeds();
});

it('decodeImageBytes on mutated TIFFs', async () => {
  await fuzzDecoder('decode-tiff', mutatedSeeds(seeds), 'tif', 1000, 5000);
});
