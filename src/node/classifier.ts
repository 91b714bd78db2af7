/**
 * Node: the DNF classifier from a file. A safetensors file (what `dnf convert` writes) or a PyTorch
 * checkpoint (.pth/.pt/.ckpt, zip or legacy, e.g. {'model': state_dict, 'optimizer': ...,
 * 'total_steps': n}) passed directly, which is converted in memory exactly as `dnf convert` would
 * (state dict found, num_batches_tracked dropped, 'module.' stripped, floats to F32; no pickle
 * code runs). The architecture is read from the keys (src/models/resnet-config.ts).
 */
import type { Gpu } from '../gpu/gpu.js';
import { checkClassifier } from '../classify.js';
import { ResNet } from '../models/resnet.js';
import { checkpointToTensors } from '../weights/convert.js';
import { bytesSource, SafetensorsFile, serializeSafetensors } from '../weights/safetensors.js';
import { openFileSource } from './files.js';

export interface LoadedClassifier {
  model: ResNet;
  /** 'safetensors', or the PyTorch format ('zip', 'legacy') converted in memory. */
  format: string;
}

/** Loads and checks the classifier (one logit); DnfErrors name `path` and the fix. */
export async function loadClassifier(gpu: Gpu, path: string): Promise<LoadedClassifier> {
  const src = await openFileSource(path);
  let converted;
  try {
    converted = await checkpointToTensors(src);
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
  return { model, format: converted.format };
}
