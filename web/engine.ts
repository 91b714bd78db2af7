/**
 * The page's engine calls: the UNet and the classifier loaded from the weights the user chose (a
 * file or a URL), kept between runs while the choice stays the same (Slot), the model config read
 * from the form, and one image's DNF and verdict (runImage). The rest of the page is display.
 */
import {
  bytesSource, checkClassifier, checkpointToTensors, classifierInput, classifyDnfImages, DdpmUnet, DEFAULT_ANTIALIAS,
  DEFAULT_CLASSIFIER_INPUT, DnfError, decodeImageBlob as decodeImage,
  dnfOfImages, isUnetPreset, MAX_CONFIG_BYTES, parseUnetConfigText, quantizeDnf, ResNet, SafetensorsFile, serializeSafetensors, unetPreset,
  type ClassifierInput, type Gpu, type RgbImage, type UnetConfig,
} from '../src/index.js';
import { byteProgress } from './progress.js';
import type { PageResult } from './result.js';
import { counted, openChoice, type WeightsChoice } from './sources.js';

/** The form fields the model config is read from. */
const ui = {
  config: document.getElementById('config') as HTMLSelectElement,
  configFile: document.getElementById('config-file') as HTMLInputElement,
};

/** A model kept between runs while its weights (and config) stay the same. */
export class Slot<T extends { dispose(): void }> {
  private held: { key: string; model: T } | null = null;

  async get(key: string, load: () => Promise<T>): Promise<T> {
    if (this.held?.key === key) return this.held.model;
    this.clear();
    const model = await load();
    this.held = { key, model };
    return model;
  }

  clear(): void {
    this.held?.model.dispose();
    this.held = null;
  }
}

/** The classifier with the input size and antialiasing its safetensors metadata names, as the CLI reads them. */
export interface Classifier extends ClassifierInput {
  model: ResNet;
  dispose(): void;
}

/** The UNet config the form names: a preset, or the JSON file picked. */
export async function readConfig(): Promise<UnetConfig> {
  const preset = ui.config.value;
  if (isUnetPreset(preset)) return unetPreset(preset);
  const file = ui.configFile.files?.[0];
  if (!file) throw new DnfError('Pick the model config JSON file, or choose a preset.');
  if (file.size > MAX_CONFIG_BYTES) throw new DnfError(`${file.name}: ${file.size} bytes, too long for a UNet config; pick the model config JSON file, or choose a preset`);
  return parseUnetConfigText(await file.text(), file.name);
}

/** Where the config comes from, for errors: 'preset cifar10-32' or the file's name. */
export function configName(): string | undefined {
  const preset = ui.config.value;
  return isUnetPreset(preset) ? `preset ${preset}` : ui.configFile.files?.[0]?.name;
}

/** The UNet, read tensor by tensor from the safetensors file. */
export async function loadUnet(g: Gpu, choice: WeightsChoice, config: UnetConfig): Promise<DdpmUnet> {
  const source = await openChoice(choice, byteProgress('Downloading the UNet weights'));
  const file = await SafetensorsFile.open(counted(source, byteProgress('Loading the UNet weights')));
  return DdpmUnet.fromSafetensors(g, config, file, configName());
}

/** The classifier from safetensors or a PyTorch checkpoint (converted in memory, as the CLI does). */
export async function loadClassifier(g: Gpu, choice: WeightsChoice): Promise<Classifier> {
  const source = await openChoice(choice, byteProgress('Downloading the classifier'));
  const converted = await checkpointToTensors(counted(source, byteProgress('Loading the classifier')));
  // The conversion keeps tensors, not the metadata: read that from the file's header.
  const input = converted.format === 'safetensors' ? classifierInput((await SafetensorsFile.open(source)).metadata, source.name) : DEFAULT_CLASSIFIER_INPUT;
  const model = await ResNet.fromSafetensors(g, await SafetensorsFile.open(bytesSource(source.name, serializeSafetensors(converted.tensors))));
  try {
    checkClassifier(model, source.name);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, inputSize: input.inputSize, antialias: input.antialias, dispose: () => model.dispose() };
}

/** Decoding, the DNF as `dnf extract` computes it, its 8-bit form and the classifier's verdict on that. */
export async function runImage(g: Gpu, unet: DdpmUnet, classifier: Classifier | null, file: File): Promise<PageResult> {
  const t0 = performance.now();
  const input = await decodeImage(g, file, file.name);
  const eps = dnfOfImages(unet, [input], { antialias: DEFAULT_ANTIALIAS });
  let dnf: Float32Array;
  let dnfImage: RgbImage;
  try {
    const q = quantizeDnf(eps);
    [dnfImage] = await q.read().finally(() => q.dispose());
    dnf = await eps.read();
  } finally {
    eps.dispose();
  }
  const verdict = classifier ? (await classifyDnfImages(classifier.model, [dnfImage], { size: classifier.inputSize, antialias: classifier.antialias ?? DEFAULT_ANTIALIAS }))[0] : undefined;
  return { name: file.name, input, dnf, dnfImage, logit: verdict?.logit, prob: verdict?.prob, ms: performance.now() - t0 };
}
