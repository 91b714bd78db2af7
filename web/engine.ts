/**
 * The page's engine calls: the UNet and the classifier loaded from the weights the user chose (a
 * file or a URL, read by the library's pipeline: src/pipeline/), kept between runs while the choice
 * stays the same (Slot), the model config read from the form, and one image's DNF and verdict
 * (runImage); for the Train view, the UNet's DNFs of source images (dnfImages) and the UNet flags
 * of the command that repeats its run in Node (unetFlags). The rest of the page is display.
 */
import {
  browserEnvironment, chooseUnetConfig, classifierResize, classifyDnfImages, DdpmUnet, DEFAULT_ANTIALIAS, DnfError, decodeImageBlob as decodeImage,
  dnfsWithValues, isUnetPreset, loadClassifierFrom, loadUnetFrom, MAX_CONFIG_BYTES, openModelSource, parseUnetConfigText, quantizedDnfs, ResNet, SafetensorsFile,
  unetPreset, type ClassifierInput, type Gpu, type RgbImage, type UnetConfig,
} from '../src/index.js';
import { byteProgress } from './progress.js';
import type { PageResult } from './result.js';
import type { WeightsChoice } from './sources.js';

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

/** The UNet config the form names: a preset, or the JSON file picked; null ('auto'): the weights' own. */
export async function readConfig(): Promise<UnetConfig | null> {
  const preset = ui.config.value;
  if (preset === 'auto') return null;
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

/** The weights of `choice` through the pipeline's reader (a URL in HTTP ranges when its server serves them), with the page's progress lines. */
function openWeights(choice: WeightsChoice, kind: 'unet' | 'classifier', what: string) {
  const lines = { download: byteProgress(`Downloading the ${what}`), read: byteProgress(`Loading the ${what}`) };
  return openModelSource(choice.kind === 'file' ? choice.file : choice.url, kind, browserEnvironment, (p) => lines[p.stage](p.done, p.total));
}

/** The UNet, read tensor by tensor; its config the one chosen (null: the one the weights record, else their shapes imply), checked against them in one line. */
export async function loadUnet(g: Gpu, choice: WeightsChoice, config: UnetConfig | null): Promise<DdpmUnet> {
  const { source } = await openWeights(choice, 'unet', 'UNet weights');
  const file = await SafetensorsFile.open(source);
  const given = config ? { config, name: configName() ?? 'the chosen config', fix: 'pick the matching model config' } : undefined;
  return loadUnetFrom(g, file, chooseUnetConfig(file, given));
}

/** The classifier from safetensors or a PyTorch checkpoint (converted in memory), by the loader the CLI uses. */
export async function loadClassifier(g: Gpu, choice: WeightsChoice): Promise<Classifier> {
  const { source } = await openWeights(choice, 'classifier', 'classifier');
  const { model, inputSize, antialias } = await loadClassifierFrom(g, source);
  return { model, inputSize, antialias, dispose: () => model.dispose() };
}

/** Decoding, the DNF as `dnf extract` computes it, its 8-bit form and the classifier's verdict on that. */
export async function runImage(g: Gpu, unet: DdpmUnet, classifier: Classifier | null, file: File): Promise<PageResult> {
  const t0 = performance.now();
  const input = await decodeImage(g, file, file.name);
  const { dnfs: [dnfImage], values: dnf } = await dnfsWithValues(unet, [input], { antialias: DEFAULT_ANTIALIAS });
  const verdict = classifier ? (await classifyDnfImages(classifier.model, [dnfImage], classifierResize(classifier)))[0] : undefined;
  return { name: file.name, input, dnf, dnfImage, logit: verdict?.logit, prob: verdict?.prob, ms: performance.now() - t0 };
}

/** The 8-bit DNFs of decoded images, as `dnf extract` writes them (and `dnf train --images` trains on). */
export function dnfImages(unet: DdpmUnet): (images: RgbImage[]) => Promise<RgbImage[]> {
  return (images) => quantizedDnfs(unet, images, { antialias: DEFAULT_ANTIALIAS });
}

/** A word for a shell command line, quoted when it holds anything but safe characters. */
const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`);

/** The CLI's UNet flags for the weights chosen and the form's config: a file by its name, a URL by its last part. */
export function unetFlags(choice: WeightsChoice): string {
  const weights = choice.kind === 'file' ? choice.file.name : decodeURIComponent(new URL(choice.url, location.href).pathname.split('/').pop() || 'UNET');
  const preset = ui.config.value;
  const config = preset === 'auto' ? null : isUnetPreset(preset) ? preset : ui.configFile.files?.[0]?.name ?? 'CONFIG.json';
  return `--unet ${shellWord(weights)}${config ? ` --model-config ${shellWord(config)}` : ''}`;
}
