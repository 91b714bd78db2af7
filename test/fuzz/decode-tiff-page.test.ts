/**
 * The page's TIFF decoder (src/image/tiff.ts, on the `tiff` package) on byte mutations of the
 * TIFF goldens (RGB, RGBA, gray, palette, 1-bit, CMYK; none, LZW with and without predictor,
 * deflate) and of the Node fuzzer's seeds (PackBits, JPEG, tiled). Each case: a DnfError naming
 * the file in one line, or a valid image.
 */
import { beforeAll, it } from 'vitest';
import { decodeTiff } from '../../src/image/tiff.js';
import { fuzzDecoder, mutatedSeeds, tiffPageSeeds, tiffSeeds } from './image-inputs.js';

let seeds: Uint8Array[];
beforeAll(async () => {
  seeds = [...tiffPageSeeds(), ...(await tiffSeeds())];
});

it('decodeTiff on mutated TIFFs', async () => {
  await fuzzDecoder('decode-tiff-page', mutatedSeeds(seeds), 'tif', 1000, 5000, decodeTiff);
});
