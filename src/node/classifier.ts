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

/** A classifier file's state dict, converted in memory as `dnf convert` would. */
export interface ConvertedStateDict {
  /** The converted tensors, as an in-memory safetensors file named `path`. */
  file: SafetensorsFile;
  /** 'safetensors', or the PyTorch format ('zip', 'legacy'). */
  format: string;
  /** A safetensors input's own metadata (the conversion keeps tensors only); empty for PyTorch files. */
  metadata: Record<string, string>;
}

/** Reads a safetensors file or PyTorch checkpoint as a state dict; DnfErrors name `path`. */
export async function readStateDict(path: string): Promise<ConvertedStateDict> {
  const src = await openFileSource(path);
  let converted;
  let metadata: Record<string, string> = {};
  try {
    converted = await checkpointToTensors(src);
    if (converted.format === 'safetensors') metadata = (await SafetensorsFile.open(src)).metadata;
  } finally {
    await src.close().catch(() => {});
  }
  const file = await SafetensorsFile.open(bytesSource(path, serializeSafetensors(converted.tensors)));
  return { file, format: converted.format, metadata };
}

/** Loads and checks the classifier (one logit) and its input settings; DnfErrors name `path` and the fix. */
export async function loadClassifier(gpu: Gpu, path: string): Promise<LoadedClassifier> {
  const { file, format, metadata } = await readStateDict(path);
  const input: ClassifierInput = format === 'safetensors' ? classifierInput(metadata, path) : { ...DEFAULT_CLASSIFIER_INPUT };
  const model = await ResNet.fromSafetensors(gpu, file);
  try {
    checkClassifier(model, path);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, format, ...input };
}
