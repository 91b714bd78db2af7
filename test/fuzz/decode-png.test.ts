/**
 * The Node image decoder on hostile PNGs: chunk streams of valid small PNGs (every bit depth and
 * colour type, interlaced or not, with PLTE, tRNS and ancillary chunks) whose chunks are dropped,
 * duplicated, reordered, corrupted, cut, given wrong lengths or CRCs (or CRCs fixed after the
 * change), whose IHDR declares hostile sizes (1x200000, 100000x100000, 2^31-1 wide, zero), or whose
 * bytes are mutated afterwards. Each case: a DnfError naming the file in one line, or a valid image.
 */
import { it } from 'vitest';
import { fuzzDecoder, pngFiles } from './image-inputs.js';

it('decodeImageBytes on PNG chunk streams', async () => {
  await fuzzDecoder('decode-png', pngFiles, 'png', 1500, 5000);
});
