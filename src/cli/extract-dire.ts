/**
 * `dnf extract --feature dire`: DIRE (src/diffusion/dire.ts) instead of a DNF, through the same
 * batch runner (resume, skip, atomic writes, bad inputs reported and passed over).
 * - png: the reference's 8-bit DIRE, uint8(clamp(|x - recon| * 255 / 2, 0, 255)), as lossless PNG.
 *   The reference writes it with cv2 under the input's name, so in the input's format (JPEG for
 *   JPEG inputs, which re-quantises the map); PNG keeps the bytes it computed.
 * - safetensors: the float map |x - recon| as tensor `dire` [3, R, R], before the 8-bit scaling.
 * --steps K sets the DDIM steps of both passes; 0 (the option's default) means the reference's 20.
 * --antialias / --no-antialias do not apply: DIRE's input is resized by Pillow's resampler
 * (src/pipeline/dire-preprocess.ts), as its reference does.
 */
import { basename } from 'node:path';
import { DIRE_STEPS } from '../diffusion/dire.js';
import { encodePng } from '../image/encode-node.js';
import type { RgbImage } from '../image/pixels.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import type { OutputClaims } from '../node/batch/claims.js';
import type { PlannedItem } from '../node/batch/plan.js';
import type { Prepared } from '../node/batch/runner.js';
import { writeFileAtomic, writeSafetensorsFile } from '../node/files.js';
import { direOfImages } from '../pipeline/dire-images.js';

/** The DDIM steps of a DIRE run: --steps, or the reference's 20 when it is 0 (not given). */
export const direSteps = (steps: number): number => steps || DIRE_STEPS;

/** processBatch for `extract --feature dire`: the DIRE of each image of a batch, written to its output. */
export function direWriter(unet: DdpmUnet, opts: { format: 'png' | 'safetensors'; steps: number }, unetPath: string, claims?: OutputClaims) {
  const size = unet.config.resolution;
  const steps = direSteps(opts.steps);
  return async (entries: Prepared<PlannedItem, RgbImage>[]): Promise<string[]> => {
    const { values, dires } = await direOfImages(unet, entries.map((e) => e.data), steps);
    const per = 3 * size * size;
    await Promise.all(entries.map(async (e, i) => {
      if (opts.format === 'png') {
        await writeFileAtomic(e.item.output, [await encodePng(dires[i])]);
      } else {
        await writeSafetensorsFile(
          e.item.output,
          [{ name: 'dire', dtype: 'F32', shape: [3, size, size], data: values.subarray(i * per, (i + 1) * per) }],
          { source: e.item.rel, unet: basename(unetPath), feature: 'dire', steps: String(steps) },
        );
      }
      await claims?.release(e.item.output);
    }));
    return entries.map((e) => e.item.output);
  };
}
