/**
 * The BMP decoder (src/image/bmp.ts, through Node's decodeImageBytes) on byte mutations of the
 * BMP goldens (OS/2 and V3-V5 headers, 1 to 32 bits, bit fields, RLE4/RLE8, top-down), with the
 * declared size set to hostile values. Each case: a DnfError naming the file in one line, or a
 * valid image.
 */
import fc from 'fast-check';
import { it } from 'vitest';
import { bmpDims, bmpSeeds, declaredSize, fuzzDecoder, mutatedSeeds } from './image-inputs.js';

const bmps = fc
  .tuple(mutatedSeeds(bmpSeeds()), fc.option(fc.tuple(declaredSize, fc.boolean()), { freq: 3 }))
  .map(([b, dims]) => (dims ? bmpDims(b, dims[0], dims[1]) : b));

// A hostile size with RLE deltas can be a valid image of up to MAX_PIXELS (PIL fills it too),
// hence the time bound of the GIF fuzzer.
it('decodeImageBytes on mutated BMPs', async () => {
  await fuzzDecoder('decode-bmp', bmps, 'bmp', 2000, 10_000);
});
