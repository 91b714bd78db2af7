/**
 * Node: the DNF classifier from a file. A safetensors file (what `dnf convert` or `dnf train`
 * writes) or a PyTorch checkpoint (.pth/.pt/.ckpt, zip or legacy, e.g. {'model': state_dict,
 * 'optimizer': ..., 'total_steps': n}) passed directly, which is converted in memory exactly as
 * `dnf convert` would (state dict found, num_batches_tracked dropped, 'module.' stripped, floats to
 * F32; no pickle code runs). The architecture is read from the keys (src/models/resnet-config.ts);
 * the input size and antialiasing from a safetensors file's metadata (src/classifier-metadata.ts:
 * 256 and null for a checkpoint or a file without them).
 */
import type { Gpu } from '../gpu/gpu.js';
import { checkClassifier } from '../classify.js';
import { classifierInput, DEFAULT_CLASSIFIER_INPUT, type ClassifierInput } from '../classifier-metadata.js';
import { ResNet } from '../models/resnet.js';
import { checkpointToTensors } from '../weights/convert.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../weights/safetensors.js';
import { openFileSource } from './files.js';

export interface LoadedClassifier extends ClassifierInput {
  model: ResNet;
  /** 'safetensors', or the PyTorch format ('zip', 'legacy') converted in memory. */
  format: string;
}

/** Loads and checks the classifier (one logit) and its input settings; DnfErrors name `path` and the fix. */
export async function loadClassifier(gpu: Gpu, path: string): Promise<LoadedClassifier> {
  const src = await openFileSource(path);
  let converted;
  let input: ClassifierInput = { ...DEFAULT_CLASSIFIER_INPUT };
  try {
    converted = await checkpointToTensors(src);
    // The conversion keeps tensors, not the metadata: read that from the file's header.
    if (converted.format === 'safetensors') input = classifierInput((await SafetensorsFile.open(src)).metadata, path);
  } finally {
    await src.close().catch(() => {});
  }
  const file = await SafetensorsFile.open(bytesSource(path, serializeSafetensors(converted.tensors)));
  const model = await ResNet.fromSafetensors(gpu, file);
  try {
    checkClassifier(model, path);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, format: converted.format, ...input };
}
