/**
 * The DNF classifier from any ByteSource (a file, a Blob, bytes, a URL read in ranges), one loader
 * for Node and the page. A safetensors file (what `dnf convert` or `dnf train` writes) or a PyTorch
 * checkpoint (.pth/.pt/.ckpt, zip or legacy, e.g. {'model': state_dict, 'optimizer': ...,
 * 'total_steps': n}) is converted in memory exactly as `dnf convert` would (state dict found,
 * num_batches_tracked dropped, 'module.' stripped, floats to F32; no pickle code runs). The
 * architecture is read from the keys (src/models/resnet-config.ts); the input size and
 * antialiasing from a safetensors file's metadata (src/classifier-metadata.ts: 256 and null for a
 * checkpoint or a file without them).
 */
import { classifierInput, DEFAULT_CLASSIFIER_INPUT, type ClassifierInput } from '../classifier-metadata.js';
import type { Gpu } from '../gpu/gpu.js';
import { ResNet } from '../models/resnet.js';
import { checkpointToTensors } from '../weights/convert.js';
import { bytesSource, SafetensorsFile, serializeSafetensors, type ByteSource } from '../weights/safetensors.js';
import { checkClassifier } from './classify.js';
import { DEFAULT_ANTIALIAS } from './preprocess.js';

export interface LoadedClassifier extends ClassifierInput {
  model: ResNet;
  /** 'safetensors', or the PyTorch format ('zip', 'legacy') converted in memory. */
  format: string;
}

/** How DNFs are resized for `classifier`: to its input size, with `given` antialiasing, else its recorded one, else the default. */
export function classifierResize(classifier: ClassifierInput, given?: boolean): { size: number; antialias: boolean } {
  return { size: classifier.inputSize, antialias: given ?? classifier.antialias ?? DEFAULT_ANTIALIAS };
}

/** A classifier file's state dict, converted in memory as `dnf convert` would. */
export interface ConvertedStateDict {
  /** The converted tensors, as an in-memory safetensors file named as the source. */
  file: SafetensorsFile;
  /** 'safetensors', or the PyTorch format ('zip', 'legacy'). */
  format: string;
  /** A safetensors input's own metadata (the conversion keeps tensors only); empty for PyTorch files. */
  metadata: Record<string, string>;
}

/** Reads a safetensors file or PyTorch checkpoint as a state dict; DnfErrors name the source. */
export async function readStateDictFrom(src: ByteSource): Promise<ConvertedStateDict> {
  const converted = await checkpointToTensors(src);
  const metadata = converted.format === 'safetensors' ? (await SafetensorsFile.open(src)).metadata : {};
  const file = await SafetensorsFile.open(bytesSource(src.name, serializeSafetensors(converted.tensors)));
  return { file, format: converted.format, metadata };
}

/** The classifier of a state dict read by readStateDictFrom, on `gpu`, checked (one logit); `name` for errors. */
export async function buildClassifier(gpu: Gpu, dict: ConvertedStateDict, name: string): Promise<LoadedClassifier> {
  const input: ClassifierInput = dict.format === 'safetensors' ? classifierInput(dict.metadata, name) : { ...DEFAULT_CLASSIFIER_INPUT };
  const model = await ResNet.fromSafetensors(gpu, dict.file);
  try {
    checkClassifier(model, name);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, format: dict.format, ...input };
}

/** Loads and checks the classifier (one logit) and its input settings; DnfErrors name the source and the fix. */
export async function loadClassifierFrom(gpu: Gpu, src: ByteSource): Promise<LoadedClassifier> {
  return buildClassifier(gpu, await readStateDictFrom(src), src.name);
}
