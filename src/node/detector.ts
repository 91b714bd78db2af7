/**
 * createDetector in Node: the GPU from Dawn (src/node/acquire.ts; `backend` chooses), weights
 * from paths (read lazily through a file handle) as well as URLs, Blobs and bytes, and images as
 * paths or encoded bytes (decoded with sharp, src/image/decode-node.ts) or RgbImages. The same
 * pipeline as in browsers (src/pipeline/detector.ts).
 */
import { fileURLToPath } from 'node:url';
import { decodeImageBytes, decodeImageFile } from '../image/decode-node.js';
import { Detector, type DetectorOptions, type OpenInternals } from '../pipeline/detector.js';
import type { DetectorEnvironment } from '../pipeline/environment.js';
import { acquireGpu, releaseGpu } from './acquire.js';
import { openFileSource } from './files.js';

export interface NodeDetectorOptions extends DetectorOptions {
  /** The Dawn backend when the detector acquires its GPU (see `dnf doctor`; default DNF_BACKEND, else auto). */
  backend?: string;
}

/** A path, or a file: URL as a path. */
const localPath = (p: string) => (p.startsWith('file:') ? fileURLToPath(p) : p);

/** Node's environment for the pipeline; `backend` picks the Dawn backend. */
export function nodeEnvironment(backend?: string): DetectorEnvironment {
  return {
    acquireGpu: () => acquireGpu({ backend }),
    releaseGpu,
    openPath: async (path) => {
      const source = await openFileSource(localPath(path));
      return { source, close: () => source.close() };
    },
    decodeImage: async (_gpu, input, name) => {
      if (typeof input === 'string') return decodeImageFile(localPath(input));
      if (input instanceof Uint8Array) return decodeImageBytes(name, input);
      if (input instanceof ArrayBuffer) return decodeImageBytes(name, new Uint8Array(input));
      return decodeImageBytes(input instanceof File && input.name ? input.name : name, new Uint8Array(await input.arrayBuffer()));
    },
  };
}

/**
 *   const detector = await createDetector({ unet: 'weights/lsun_bedroom.safetensors', classifier: 'best.safetensors' });
 *   for (const r of await detector.detect(['a.png', 'b.jpg'])) console.log(r.label, r.prob);
 *   await detector.dispose();
 */
export function createDetector(opts: NodeDetectorOptions, internals?: OpenInternals): Promise<Detector> {
  const { backend, ...rest } = opts;
  return Detector.open(nodeEnvironment(backend), rest, internals);
}
