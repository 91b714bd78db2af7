/**
 * createDetector in browsers: the GPU from navigator.gpu, weights from URLs (read in ranges),
 * Files, Blobs or bytes, and images as Files or Blobs (decoded by src/image/decode-browser.ts) or
 * RgbImages. The same pipeline as in Node (src/pipeline/detector.ts).
 */
import { DnfError } from '../errors.js';
import { acquireBrowserGpu } from '../gpu/acquire-browser.js';
import { decodeImageBlob } from '../image/decode-browser.js';
import { Detector, type DetectorOptions } from './detector.js';
import type { DetectorEnvironment } from './environment.js';

export const browserEnvironment: DetectorEnvironment = {
  acquireGpu: () => acquireBrowserGpu(),
  releaseGpu: async (gpu) => gpu.destroy(),
  baseUrl: typeof location === 'undefined' ? undefined : location.href,
  decodeImage: async (gpu, input, name) => {
    if (input instanceof Blob) return decodeImageBlob(gpu, input, name);
    if (input instanceof ArrayBuffer || input instanceof Uint8Array) return decodeImageBlob(gpu, new Blob([input as BlobPart]), name);
    throw new DnfError(`${name}: in a browser, give images as Files, Blobs, bytes or RgbImages (fetch a URL into a Blob first)`, 1);
  },
};

/**
 *   const detector = await createDetector({ unet: 'lsun_bedroom.safetensors', classifier: file });
 *   const [{ prob, label, dnf }] = await detector.detect([imageFile]);
 *   await detector.dispose();
 */
export function createDetector(opts: DetectorOptions): Promise<Detector> {
  return Detector.open(browserEnvironment, opts);
}
