/** Node-only helpers: createDetector with paths and Dawn, GPU acquisition, files, image decoding/encoding with sharp, checkpoints. */
export { acquireGpu, releaseGpu, withGpu, BACKENDS, type BackendChoice, type NodeGpuOptions } from './acquire.js';
export { openFileSource, openSafetensors, writeFileAtomic, writeSafetensorsFile } from './files.js';
export { convertCheckpoint } from './convert.js';
export { decodeImageFile, decodeImageBytes } from '../image/decode-node.js';
export { encodePng } from '../image/encode-node.js';
export { createDetector, nodeEnvironment, type NodeDetectorOptions } from './detector.js';
export type { Detector, DetectorOptions, Detection, Classification, CallOptions } from '../pipeline/detector.js';
export type { ImageInput } from '../pipeline/environment.js';
export type { LoadProgress, ModelSource } from '../pipeline/sources.js';
