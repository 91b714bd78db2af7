/**
 * The page: the user picks UNet weights (a file or a URL), a model config, optionally a DNF
 * classifier, and images; the engine (the same src/ code as the CLI) computes each image's DNF on
 * this browser's WebGPU adapter and, with a classifier, P(generated). Nothing leaves the browser.
 *
 * For scripts and the browser test: body[data-state] is 'starting', 'ready', 'loading', 'running',
 * 'done', 'failed' (the run stopped: see #error) or 'unavailable' (no WebGPU); window.dnfResults
 * holds the last run's results, one per image, in order.
 */
import {
  acquireBrowserGpu, browserEnvironment, chooseUnetConfig, classifierResize, classifyDnfImages, DdpmUnet, DEFAULT_ANTIALIAS, DnfError,
  dnfsWithValues, isUnetPreset, labelOf, loadClassifierFrom, loadUnetFrom, MAX_CONFIG_BYTES, openModelSource, parseUnetConfigText, ResNet, SafetensorsFile, unetPreset,
  type ClassifierInput, type Gpu, type RgbImage, type UnetConfig,
} from '../src/index.js';
import { renderCard } from './card.js';
import { decodeImageBlob as decodeImage } from '../src/index.js';
import { choiceKey, type OnProgress, type WeightsChoice } from './sources.js';

/** One image's outcome. */
export interface PageResult {
  name: string;
  /** The decoded pixels, before resizing. */
  input?: RgbImage;
  /** The float DNF [3, R, R], channel after channel. */
  dnf?: Float32Array;
  /** The 8-bit DNF (RGB interleaved, R x R): the PNG `dnf extract` writes. */
  dnfImage?: RgbImage;
  /** The classifier's logit and P(generated) = float32(sigmoid(logit)), when one is loaded. */
  logit?: number;
  prob?: number;
  /** Milliseconds from decoding to the last result read back. */
  ms?: number;
  /** Why this image has no result. */
  error?: string;
}

declare global {
  interface Window {
    dnfResults: PageResult[];
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  adapter: $('adapter'),
  error: $('error'),
  form: $<HTMLFormElement>('setup'),
  unetFile: $<HTMLInputElement>('unet-file'),
  unetUrl: $<HTMLInputElement>('unet-url'),
  config: $<HTMLSelectElement>('config'),
  configFileLabel: $('config-file-label'),
  configFile: $<HTMLInputElement>('config-file'),
  classifierFile: $<HTMLInputElement>('classifier-file'),
  classifierUrl: $<HTMLInputElement>('classifier-url'),
  drop: $('drop'),
  images: $<HTMLInputElement>('images'),
  queue: $('queue'),
  run: $<HTMLButtonElement>('run'),
  progress: $('progress'),
  bar: $<HTMLProgressElement>('bar'),
  progressText: $('progress-text'),
  results: $('results'),
};

/** A model kept between runs while its weights (and config) stay the same. */
class Slot<T extends { dispose(): void }> {
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

let gpu: Gpu | null = null;
const unetSlot = new Slot<DdpmUnet>();
/** The classifier with the input size and antialiasing its safetensors metadata names, as the CLI reads them. */
interface Classifier extends ClassifierInput {
  model: ResNet;
  dispose(): void;
}
const classifierSlot = new Slot<Classifier>();
let queued: File[] = [];
let busy = false;
window.dnfResults = [];

type State = 'starting' | 'ready' | 'loading' | 'running' | 'done' | 'failed' | 'unavailable';
const setState = (s: State) => (document.body.dataset.state = s);

/** A user-facing sentence for any failure: DnfErrors are written for users already. */
function sentence(e: unknown): string {
  if (e instanceof DnfError) return e.message;
  return `Something went wrong: ${e instanceof Error ? e.message : String(e)}`;
}

function showError(text: string | null): void {
  ui.error.textContent = text ?? '';
  ui.error.hidden = text === null;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Shows a progress line; without a total the bar is indeterminate. */
function showProgress(text: string, done = 0, total = 0): void {
  ui.progress.hidden = false;
  ui.progressText.textContent = text;
  if (total > 0) {
    ui.bar.max = total;
    ui.bar.value = done;
  } else {
    ui.bar.removeAttribute('value');
  }
}

/** Reports bytes as "<what>: 12.3 MB of 455.2 MB". */
const byteProgress = (what: string): OnProgress => (done, total) => showProgress(`${what}: ${mb(done)}${total ? ` of ${mb(total)}` : ''}`, done, total);

/** The picked file, else the URL typed, else nothing. */
function choiceOf(file: HTMLInputElement, url: HTMLInputElement): WeightsChoice | null {
  const f = file.files?.[0];
  if (f) return { kind: 'file', file: f };
  const u = url.value.trim();
  return u ? { kind: 'url', url: u } : null;
}

function refreshControls(): void {
  ui.configFileLabel.hidden = ui.config.value !== 'json';
  ui.run.disabled = busy || !gpu || !choiceOf(ui.unetFile, ui.unetUrl) || queued.length === 0;
  ui.queue.textContent = queued.length ? `${queued.length} image${queued.length > 1 ? 's' : ''}: ${queued.map((f) => f.name).join(', ')}` : 'No images yet.';
}

/** The chosen config; null ('auto'): the one the weights record, else the one their tensor shapes imply. */
async function readConfig(): Promise<UnetConfig | null> {
  const preset = ui.config.value;
  if (preset === 'auto') return null;
  if (isUnetPreset(preset)) return unetPreset(preset);
  const file = ui.configFile.files?.[0];
  if (!file) throw new DnfError('Pick the model config JSON file, or choose a preset.');
  if (file.size > MAX_CONFIG_BYTES) throw new DnfError(`${file.name}: ${file.size} bytes, too long for a UNet config; pick the model config JSON file, or choose a preset`);
  return parseUnetConfigText(await file.text(), file.name);
}

/** Where the config comes from, for errors: 'preset cifar10-32' or the file's name. */
function configName(): string | undefined {
  const preset = ui.config.value;
  return isUnetPreset(preset) ? `preset ${preset}` : ui.configFile.files?.[0]?.name;
}

/** The weights of `choice` through the pipeline's reader (a URL in ranges), with the page's progress lines. */
function openWeights(choice: WeightsChoice, kind: 'unet' | 'classifier', what: string) {
  const lines = { download: byteProgress(`Downloading the ${what}`), read: byteProgress(`Loading the ${what}`) };
  return openModelSource(choice.kind === 'file' ? choice.file : choice.url, kind, browserEnvironment, (p) => lines[p.stage](p.done, p.total));
}

/** The UNet, read tensor by tensor; its config the one chosen (null: the one the weights record, else their shapes imply), checked against them. */
async function loadUnet(g: Gpu, choice: WeightsChoice, config: UnetConfig | null): Promise<DdpmUnet> {
  const { source } = await openWeights(choice, 'unet', 'UNet weights');
  const file = await SafetensorsFile.open(source);
  const name = configName() ?? 'the chosen config';
  return loadUnetFrom(g, file, chooseUnetConfig(file, config ? { config, name, fix: 'pick the matching model config' } : undefined));
}

/** The classifier from safetensors or a PyTorch checkpoint (converted in memory), as the CLI loads it. */
async function loadClassifier(g: Gpu, choice: WeightsChoice): Promise<Classifier> {
  const { source } = await openWeights(choice, 'classifier', 'classifier');
  const { model, inputSize, antialias } = await loadClassifierFrom(g, source);
  return { model, inputSize, antialias, dispose: () => model.dispose() };
}

/** Decoding, the DNF as `dnf extract` computes it, its 8-bit form and the classifier's verdict on that. */
async function runImage(g: Gpu, unet: DdpmUnet, classifier: Classifier | null, file: File): Promise<PageResult> {
  const t0 = performance.now();
  const input = await decodeImage(g, file, file.name);
  const { dnfs: [dnfImage], values: dnf } = await dnfsWithValues(unet, [input], { antialias: DEFAULT_ANTIALIAS });
  const verdict = classifier ? (await classifyDnfImages(classifier.model, [dnfImage], classifierResize(classifier)))[0] : undefined;
  return { name: file.name, input, dnf, dnfImage, logit: verdict?.logit, prob: verdict?.prob, ms: performance.now() - t0 };
}

async function run(g: Gpu, unetChoice: WeightsChoice, classifierChoice: WeightsChoice | null): Promise<void> {
  const files = queued;
  window.dnfResults = [];
  ui.results.replaceChildren();
  showError(null);
  setState('loading');
  const config = await readConfig();
  const unet = await unetSlot.get(`${choiceKey(unetChoice)} ${JSON.stringify(config)}`, () => loadUnet(g, unetChoice, config));
  if (!classifierChoice) classifierSlot.clear();
  const classifier = classifierChoice ? await classifierSlot.get(choiceKey(classifierChoice), () => loadClassifier(g, classifierChoice)) : null;
  setState('running');
  for (const [i, file] of files.entries()) {
    showProgress(`Image ${i + 1} of ${files.length}: ${file.name}`, i, files.length);
    let r: PageResult;
    try {
      r = await runImage(g, unet, classifier, file);
    } catch (e) {
      r = { name: file.name, error: sentence(e) };
    }
    window.dnfResults.push(r);
    ui.results.append(renderCard({ name: file.name, input: r.input, dnf: r.dnfImage, prob: r.prob, label: r.prob === undefined ? undefined : labelOf(r.prob), ms: r.ms, error: r.error }));
  }
  const failed = window.dnfResults.filter((r) => r.error).length;
  showProgress(`Done: ${files.length - failed} of ${files.length} image${files.length > 1 ? 's' : ''}${failed ? `, ${failed} could not be read` : ''}.`, 1, 1);
}

/** The images of the next run: the last files picked or dropped (a file that is no image gets its message). */
function setImages(list: FileList | null | undefined): void {
  queued = Array.from(list ?? []);
  refreshControls();
}

/** A file picked clears the URL beside it and the other way round: one source per model. */
function pairInputs(file: HTMLInputElement, url: HTMLInputElement): void {
  file.addEventListener('change', () => {
    if (file.files?.length) url.value = '';
    refreshControls();
  });
  url.addEventListener('input', () => {
    if (url.value) file.value = '';
    refreshControls();
  });
}

function wire(): void {
  pairInputs(ui.unetFile, ui.unetUrl);
  pairInputs(ui.classifierFile, ui.classifierUrl);
  ui.config.addEventListener('change', refreshControls);
  ui.images.addEventListener('change', () => setImages(ui.images.files));
  // Files dropped anywhere on the page (not only on the drop zone) are taken, not opened.
  document.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    ui.drop.classList.add('over');
  });
  document.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    ui.drop.classList.remove('over');
    setImages(ev.dataTransfer?.files);
  });
  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const unetChoice = choiceOf(ui.unetFile, ui.unetUrl);
    if (!gpu || !unetChoice || busy) return;
    busy = true;
    refreshControls();
    run(gpu, unetChoice, choiceOf(ui.classifierFile, ui.classifierUrl))
      .then(() => setState('done'))
      .catch((e) => {
        ui.progress.hidden = true;
        showError(sentence(e));
        setState('failed');
      })
      .finally(() => {
        busy = false;
        refreshControls();
      });
  });
}

async function start(): Promise<void> {
  wire();
  refreshControls();
  try {
    if (!isSecureContext) throw new DnfError('WebGPU only works on secure pages: open this page from localhost or over https.');
    gpu = await acquireBrowserGpu();
  } catch (e) {
    ui.adapter.textContent = 'No GPU.';
    showError(sentence(e));
    setState('unavailable');
    return;
  }
  const a = gpu.adapter;
  ui.adapter.textContent = `GPU: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ')} (WebGPU ${gpu.featureLevel}${a.isFallbackAdapter ? ', software fallback' : ''})`;
  refreshControls();
  setState('ready');
}

void start();
