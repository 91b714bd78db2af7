/**
 * What a classifier's safetensors metadata says about its input, browser-safe; read by `dnf detect`,
 * `dnf eval` and the web page (src/pipeline/classifier.ts), written by `dnf train`. All safetensors
 * metadata values are strings:
 * - `dnf.image_size`: the square input side in pixels the classifier was trained at ("64"); a
 *   positive integer up to MAX_CLASSIFIER_SIZE. Absent: CLASSIFIER_SIZE (256).
 * - `dnf.antialias`: "true" | "false", the bicubic resize's antialiasing in training. Absent: null
 *   (the caller's own setting applies).
 * - `dnf.arch` ("resnet18") and `dnf.training` (a JSON summary): informational, not read here.
 * A PyTorch checkpoint has no such metadata: CLASSIFIER_SIZE and null.
 */
import { CLASSIFIER_SIZE } from './pipeline/classify.js';
import { DnfError } from './errors.js';
import { printable } from './weights/pickle.js';

/** The metadata keys (safetensors "__metadata__"). */
export const CLASSIFIER_METADATA_KEYS = {
  imageSize: 'dnf.image_size',
  antialias: 'dnf.antialias',
  arch: 'dnf.arch',
  training: 'dnf.training',
} as const;

/** The largest input side a classifier's metadata may name. */
export const MAX_CLASSIFIER_SIZE = 4096;

export interface ClassifierInput {
  /** The square input side DNFs are resized to. */
  inputSize: number;
  /** The resize's antialiasing the classifier was trained with; null: not recorded. */
  antialias: boolean | null;
}

/** The input of a classifier without metadata (a PyTorch checkpoint, or a file from `dnf convert`). */
export const DEFAULT_CLASSIFIER_INPUT: Readonly<ClassifierInput> = { inputSize: CLASSIFIER_SIZE, antialias: null };

/** Reads and checks the input settings in `metadata`; a bad value is a DnfError naming `source`. */
export function classifierInput(metadata: Readonly<Record<string, string>>, source: string): ClassifierInput {
  const { imageSize: sizeKey, antialias: aaKey } = CLASSIFIER_METADATA_KEYS;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(metadata, k);
  const shown = (v: string) => JSON.stringify(printable(v));
  let inputSize = CLASSIFIER_SIZE;
  if (has(sizeKey)) {
    const v = metadata[sizeKey];
    inputSize = /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
    if (!(inputSize >= 1 && inputSize <= MAX_CLASSIFIER_SIZE)) {
      throw new DnfError(`${source}: its metadata ${sizeKey} is ${shown(v)}, not a whole number of pixels from 1 to ${MAX_CLASSIFIER_SIZE}; fix the entry, or remove it for the default ${CLASSIFIER_SIZE}`);
    }
  }
  let antialias: boolean | null = null;
  if (has(aaKey)) {
    const v = metadata[aaKey];
    if (v !== 'true' && v !== 'false') {
      throw new DnfError(`${source}: its metadata ${aaKey} is ${shown(v)}, not "true" or "false"; fix the entry, or remove it for the default resize`);
    }
    antialias = v === 'true';
  }
  return { inputSize, antialias };
}
