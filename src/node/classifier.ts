/**
 * Node: the DNF classifier from a file path (src/pipeline/classifier.ts reads any ByteSource; this
 * opens the file and closes it after reading).
 */
import type { Gpu } from '../gpu/gpu.js';
import { loadClassifierFrom, readStateDictFrom, type ConvertedStateDict, type LoadedClassifier } from '../pipeline/classifier.js';
import { openFileSource } from './files.js';

export type { ConvertedStateDict, LoadedClassifier };

/** Reads a safetensors file or PyTorch checkpoint as a state dict; DnfErrors name `path`. */
export async function readStateDict(path: string): Promise<ConvertedStateDict> {
  const src = await openFileSource(path);
  try {
    return await readStateDictFrom(src);
  } finally {
    await src.close().catch(() => {});
  }
}

/** Loads and checks the classifier (one logit) and its input settings; DnfErrors name `path` and the fix. */
export async function loadClassifier(gpu: Gpu, path: string): Promise<LoadedClassifier> {
  const src = await openFileSource(path);
  try {
    return await loadClassifierFrom(gpu, src);
  } finally {
    await src.close().catch(() => {});
  }
}
