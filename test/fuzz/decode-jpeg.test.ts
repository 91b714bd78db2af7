/**
 * The Node image decoder on hostile JPEGs: the marker segments of valid small JPEGs (gray, 4:2:0,
 * 4:4:4, progressive, CMYK, EXIF) dropped, duplicated, reordered, corrupted, cut or renamed, SOF
 * sizes and component counts made hostile, bytes inserted into the scan, plus byte mutations.
 * Each case: a DnfError naming the file in one line, or a valid image.
 */
import { beforeAll, it } from 'vitest';
import { fuzzDecoder, jpegFiles, jpegSeeds } from './image-inputs.js';

let seeds: Uint8Array[];
beforeAll(async () => {
  seeds = await jpegSeeds();
});

it('decodeImageBytes on JPEG marker streams', async () => {
  await fuzzDecoder('decode-jpeg', jpegFiles(seeds), 'jpg', 1500, 5000);
});
