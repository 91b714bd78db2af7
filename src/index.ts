/**
 * dnf-webgpu's public API, safe in browsers (Node-only helpers: `dnf-webgpu/node`, whose
 * createDetector also takes file paths).
 *
 *   const detector = await createDetector({ unet: 'lsun_bedroom.safetensors', classifier: file });
 *   const [{ prob, label, dnf }] = await detector.detect([imageFile]);
 *
 * The parts, for other pipelines:
 *   const gpu = await acquireBrowserGpu();                       // or acquireGpu() from /node
 *   const unet = await DdpmUnet.fromSafetensors(gpu, unetPreset('lsun-bedroom-256'), file);
 *   const x = imagesToTensor(gpu, [rgb]);                        // [N, 3, 256, 256] in [-1, 1]
 *   const eps = computeDnf(unet, x);                             // DNF = eps(x, t = 0)
 *   const png = await quantizeDnf(eps).read();                   // the released 8-bit DNF
 */
export { DnfError } from './errors.js';
export { Gpu, type AdapterSummary, type Dispatch, type FeatureLevel, type GpuOptions } from './gpu/gpu.js';
export { acquireBrowserGpu } from './gpu/acquire-browser.js';
export { requestGpu } from './gpu/device.js';
export { formatProfile, type KernelTime } from './gpu/profiler.js';
export { Tensor, numel, type Shape } from './tensor.js';
export * as kernels from './kernels/index.js';
export { selfTest, type SelfTest } from './selftest.js';

export { SafetensorsFile, bytesSource, blobSource, encodeSafetensors, serializeSafetensors, type ByteSource } from './weights/safetensors.js';
export { readTorchCheckpoint, TorchCheckpoint } from './weights/torch-checkpoint.js';
export { checkpointToTensors, extractStateDict } from './weights/convert.js';
export { VarBuilder } from './weights/var-builder.js';
export { WEIGHTS, DEFAULT_WEIGHTS, weightsEntry, type WeightsEntry } from './weights/registry.js';

export { DdpmUnet, maxBatch } from './models/ddpm-unet.js';
export { UNET_PRESETS, UNET_LIMITS, MAX_CONFIG_BYTES, unetPreset, parseUnetConfig, parseUnetConfigText, unetConfigFromMetadata, isUnetPreset, type UnetConfig, type UnetPreset } from './models/unet-config.js';
export { unetLayout, checkUnetFields } from './models/unet-layout.js';
export { computeDnf, DNF_FEATURES, type DnfFeature, type DnfOptions } from './diffusion/dnf.js';
export { invert, sample, type InvertOptions, type SampleOptions } from './diffusion/ddim.js';
export { alphasCumprod, ddimSchedule, ddimTimesteps, linearBetas } from './diffusion/schedule.js';
export { computeDire, DIRE_STEPS, quantizeDire, reconstruct as direReconstruct } from './diffusion/dire.js';
export { direCrop, direInput } from './pipeline/dire-preprocess.js';
export { direOfImages, type DireImages } from './pipeline/dire-images.js';

export { imagesToTensor, imagesToUnitTensor, DEFAULT_ANTIALIAS, DNF_SIZE } from './pipeline/preprocess.js';
export { quantizeDnf, QuantizedImages } from './kernels/quantize.js';
export type { RgbImage } from './image/pixels.js';
export { MAX_PIXELS } from './image/pixels.js';
export { decodeGif } from './image/gif.js';
export { decodeImageBlob } from './image/decode-browser.js';
export { withoutExif } from './image/exif.js';
export { decodeBmp } from './image/bmp.js';
export { decodeTiff } from './image/tiff.js';
export { IMAGE_FORMATS, IMAGE_EXTENSIONS, formatOf, formatNames, imageAccept, isBmp, isGif, isTiff, type ImageFormat } from './image/formats.js';
export { perturbImage, centerCrop } from './image/perturb.js';
export { parseSpec, formatSpec, parseSweep, cacheName, type PerturbSpec, type PerturbStep, type SweepEntry } from './image/perturb-spec.js';
export { jpegRoundTrip } from './image/jpeg-roundtrip.js';
export { readJpegHeader, jpegQuality } from './image/jpeg-header.js';
export { ijgTables, estimateQuality, type QualityEstimate } from './image/jpeg-tables.js';

export { ResNet } from './models/resnet.js';
export { resnetConfigFromKeys, resnetLayout, resnetName, resnetPreset, RESNET_ARCHS, type ResnetArch, type ResnetConfig } from './models/resnet-config.js';
export { classifyDnfImages, checkClassifier, sigmoid, labelOf, CLASSIFIER_SIZE, DEFAULT_THRESHOLD, type Label, type Verdict } from './pipeline/classify.js';
export { classifierInput, CLASSIFIER_METADATA_KEYS, DEFAULT_CLASSIFIER_INPUT, MAX_CLASSIFIER_SIZE, type ClassifierInput } from './classifier-metadata.js';
export { accuracy, averagePrecision, detectionMetrics, meanMetrics, type DetectionMetrics } from './metrics.js';
export { oracleAccuracy, prCurve, ranking, rocAuc, rocCurve, tprAtFpr, type Ranking } from './metrics-roc.js';
export { expectedCalibrationError } from './metrics-calibration.js';
export { evalMetrics, meanEvalMetrics, type EvalMetrics } from './metrics-eval.js';
export { dnfOfImages, quantizedDnfs, type DnfImageOptions } from './pipeline/dnf-images.js';

export { TrainableResNet, stateSource, type StateSource } from './train/resnet.js';
export { Trainer, REFERENCE_ADAM, type AdamConfig, type TrainBatch, type StepOptions } from './train/trainer.js';
export { trainLoop, validate, type TrainData, type LoopHooks, type LoopOptions, type LoopReport, type StopReason } from './train/loop.js';
export { epochBatches, flipHorizontal, type TrainItem, type LoadedBatch } from './train/batches.js';
export { imageFolderOrder, setFingerprint } from './train/train-set.js';
export { bestSafetensors, bestMetadata, freshState, type RunConfig, type TrainState, type BestRecord, type ValScores } from './train/run-state.js';
export { initialParameters, resnetParameters } from './train/init.js';
export { trainingMemory, savedActivations, type TrainingMemory } from './train/memory.js';
export { ParamArena } from './train/arena.js';
export { Tape, Scope, type Batch } from './train/tape.js';
export { Rng, type RngState } from './train/random.js';
export { encodeTorchCheckpoint, serializeTorchCheckpoint, stateDictObject, type TorchTensorToWrite, type PickleValue, type TorchWriteOptions } from './weights/torch-writer.js';

export { createDetector } from './pipeline/browser.js';
export { Detector, DEFAULT_MAX_BATCH, type DetectorOptions, type Detection, type Classification, type CallOptions } from './pipeline/detector.js';
export type { DetectorEnvironment, ImageInput } from './pipeline/environment.js';
export { openModelSource, counted, type ModelSource, type ModelKind, type LoadProgress } from './pipeline/sources.js';
export { openUrlSource, type UrlSource, type UrlSourceOptions } from './pipeline/http-source.js';
export { chooseUnetConfig, loadUnetFrom, type UnetChoice } from './pipeline/unet.js';
export { inferUnetConfig, type InferredUnetConfig } from './models/unet-infer.js';
export { loadClassifierFrom, readStateDictFrom, type LoadedClassifier } from './pipeline/classifier.js';
export { browserEnvironment } from './pipeline/browser.js';
export { dnfsWithValues } from './pipeline/dnf-images.js';
export { buildClassifier, classifierResize } from './pipeline/classifier.js';
