/** Node-only helpers: Dawn GPU acquisition, files, image decoding/encoding with sharp, checkpoints. */
export { acquireGpu, releaseGpu, withGpu, BACKENDS, type BackendChoice, type NodeGpuOptions } from './acquire.js';
export { openFileSource, openSafetensors, writeFileAtomic, writeSafetensorsFile } from './files.js';
export { convertCheckpoint } from './convert.js';
export { decodeImageFile, decodeImageBytes } from '../image/decode-node.js';
export { encodePng } from '../image/encode-node.js';
export { createDetector, nodeEnvironment, type NodeDetectorOptions } from './detector.js';
