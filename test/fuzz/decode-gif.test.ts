/**
 * The GIF decoder (src/image/gif.ts, through decodeImageBytes) on byte mutations of PIL-written
 * GIFs (palettes global and local, transparency, interlacing, animation, frames smaller than or
 * past the logical screen), with the screen or the first frame's size set to hostile values.
 * Each case: a DnfError naming the file in one line, or a valid image.
 */
import fc from 'fast-check';
import { it } from 'vitest';
import { declaredSize, fuzzDecoder, gifDims, gifSeeds, mutatedSeeds } from './image-inputs.js';

const gifs = fc
  .tuple(mutatedSeeds(gifSeeds()), fc.option(fc.tuple(declaredSize, fc.boolean()), { freq: 3 }))
  .map(([b, dims]) => (dims ? gifDims(b, dims[0], dims[1]) : b));

// A hostile screen size can be a valid canvas of up to MAX_PIXELS (PIL fills it too): about 1 s
// for 169M pixels on an idle core, several under load, hence the wider time bound.
it('decodeImageBytes on mutated GIFs', async () => {
  await fuzzDecoder('decode-gif', gifs, 'gif', 2000, 10_000);
});
