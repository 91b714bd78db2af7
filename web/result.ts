/** One image's outcome on the page, as window.dnfResults holds it (scripts and the browser test read it). */
import type { RgbImage } from '../src/index.js';

export interface PageResult {
  name: string;
  /** The decoded pixels, before resizing. */
  input?: RgbImage;
  /** The float DNF [3, R, R], channel after channel. */
  dnf?: Float32Array;
  /** The 8-bit DNF (RGB interleaved, R x R): the PNG `dnf extract` writes. */
  dnfImage?: RgbImage;
  /** The classifier's logit and P(generated) = float32(sigmoid(logit)), when one is loaded. */
  logit?: number;
  prob?: number;
  /** Milliseconds from decoding to the last result read back. */
  ms?: number;
  /** Why this image has no result. */
  error?: string;
}
