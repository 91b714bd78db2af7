/**
 * The page: the user picks UNet weights (a file or a URL), a model config, optionally a DNF
 * classifier, and images; the engine (the same src/ code as the CLI) computes each image's DNF on
 * this browser's WebGPU adapter and, with a classifier, P(generated). Nothing leaves the browser.
 * Two views behind a tab bar: Detect (this file, results in results-view.ts) and Train
 * (train-view.ts, mounted the first time its tab is shown).
 *
 * For scripts and the browser test: body[data-state] is 'starting', 'ready' (also after a run was
 * cancelled: #progress-text then starts with "Cancelled"), 'loading', 'running', 'done', 'failed'
 * (the run stopped: see #error) or 'unavailable' (no WebGPU); window.dnfResults holds the last
 * run's results, one per image, in order (after a Cancel, those finished).
 */
import { acquireBrowserGpu, DdpmUnet, DnfError, type Gpu, type RgbImage } from '../src/index.js';
import { dnfImages, loadClassifier, loadUnet, readConfig, runImage, Slot, unetFlags, type Classifier } from './engine.js';
import { cancelled, finalProgress, hideProgress, requestCancel, showProgress } from './progress.js';
import type { PageResult } from './result.js';
import { ResultsView } from './results-view.js';
import { choiceKey, type WeightsChoice } from './sources.js';
import { mountTrainView } from './train-view.js';

export type { PageResult } from './result.js';

declare global {
  interface Window {
    dnfResults: PageResult[];
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  adapter: $('adapter'),
  error: $('error'),
  tabDetect: $<HTMLButtonElement>('tab-detect'),
  tabTrain: $<HTMLButtonElement>('tab-train'),
  detectView: $('detect-view'),
  trainView: $('train-view'),
  form: $<HTMLFormElement>('setup'),
  unetFile: $<HTMLInputElement>('unet-file'),
  unetUrl: $<HTMLInputElement>('unet-url'),
  config: $<HTMLSelectElement>('config'),
  configFileLabel: $('config-file-label'),
  classifierFile: $<HTMLInputElement>('classifier-file'),
  classifierUrl: $<HTMLInputElement>('classifier-url'),
  drop: $('drop'),
  images: $<HTMLInputElement>('images'),
  queue: $('queue'),
  run: $<HTMLButtonElement>('run'),
  cancel: $<HTMLButtonElement>('cancel'),
};

let gpu: Gpu | null = null;
const unetSlot = new Slot<DdpmUnet>();
const classifierSlot = new Slot<Classifier>();
const view = new ResultsView();
let queued: File[] = [];
let busy = false;
/**
 * Which models have run an image on this GPU: the first image through a model compiles its GPU
 * kernels (pipelines are created as the first dispatches are recorded, and the browser compiles
 * them before that first image's results come back: tens of seconds on a CPU adapter).
 */
const compiled = new Set<'unet' | 'classifier'>();
window.dnfResults = [];

type State = 'starting' | 'ready' | 'loading' | 'running' | 'done' | 'failed' | 'unavailable';
function setState(s: State): void {
  document.body.dataset.state = s;
}

/** A user-facing sentence for any failure: DnfErrors are written for users already. */
function sentence(e: unknown): string {
  if (e instanceof DnfError) return e.message;
  return `Something went wrong: ${e instanceof Error ? e.message : String(e)}`;
}

function showError(text: string | null): void {
  ui.error.textContent = text ?? '';
  ui.error.hidden = text === null;
}

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
  ui.cancel.hidden = !busy;
  ui.queue.textContent = queued.length ? `${queued.length} image${queued.length > 1 ? 's' : ''}: ${queued.map((f) => f.name).join(', ')}` : 'No images yet.';
}

/** How a run ended: all `total` images tried, or stopped by Cancel. */
interface RunEnd {
  cancelled: boolean;
  total: number;
}

async function run(g: Gpu, unetChoice: WeightsChoice, classifierChoice: WeightsChoice | null): Promise<RunEnd> {
  const files = queued;
  const t0 = performance.now();
  window.dnfResults = [];
  view.clear();
  showError(null);
  setState('loading');
  const config = await readConfig();
  const unet = await unetSlot.get(`${choiceKey(unetChoice)} ${JSON.stringify(config)}`, () => loadUnet(g, unetChoice, config));
  if (!classifierChoice) classifierSlot.clear();
  const classifier = classifierChoice ? await classifierSlot.get(choiceKey(classifierChoice), () => loadClassifier(g, classifierChoice)) : null;
  setState('running');
  for (const [i, file] of files.entries()) {
    if (cancelled()) return { cancelled: true, total: files.length };
    const compiling = !compiled.has('unet') || (classifier !== null && !compiled.has('classifier'));
    const line = `Image ${i + 1} of ${files.length}: ${file.name}`;
    // The bar cannot move while the kernels compile: it shows activity, and the line says why.
    if (compiling) showProgress(`Compiling GPU kernels (first image only)… ${line}`);
    else showProgress(line, i, files.length);
    let r: PageResult;
    try {
      r = await runImage(g, unet, classifier, file);
      compiled.add('unet');
      if (classifier) compiled.add('classifier');
    } catch (e) {
      r = { name: file.name, error: sentence(e) };
    }
    window.dnfResults.push(r);
    view.add(r, performance.now() - t0);
  }
  const failed = window.dnfResults.filter((r) => r.error).length;
  finalProgress(`Done: ${files.length - failed} of ${files.length} image${files.length > 1 ? 's' : ''}${failed ? `, ${failed} could not be read` : ''}.`);
  return { cancelled: false, total: files.length };
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

/**
 * Makes the Detect view use these classifier weights: a File of the bytes is put into the
 * classifier's file input (through a DataTransfer), exactly as if the user had picked it, so the
 * next run loads it, and the Detect tab is shown. (Exported for the browser test, which calls it as
 * the Train view does.)
 */
export function useClassifier(bytes: Uint8Array, name: string): void {
  const files = new DataTransfer();
  files.items.add(new File([bytes as BlobPart], name, { type: 'application/octet-stream' }));
  ui.classifierFile.files = files.files;
  ui.classifierFile.dispatchEvent(new Event('change', { bubbles: true }));
  showTab('detect');
}

/**
 * The Train view's DNFs of source images: the UNet chosen here (weights and model config), through
 * the slot this view's runs use, so it is loaded once for both; null while none is chosen.
 */
async function getDnf(): Promise<((images: RgbImage[]) => Promise<RgbImage[]>) | null> {
  const choice = choiceOf(ui.unetFile, ui.unetUrl);
  const g = gpu;
  if (!g || !choice) return null;
  const config = await readConfig();
  return dnfImages(await unetSlot.get(`${choiceKey(choice)} ${JSON.stringify(config)}`, () => loadUnet(g, choice, config)));
}

let trainMounted = false;

function showTab(tab: 'detect' | 'train'): void {
  ui.tabDetect.setAttribute('aria-selected', String(tab === 'detect'));
  ui.tabTrain.setAttribute('aria-selected', String(tab === 'train'));
  ui.detectView.hidden = tab !== 'detect';
  ui.trainView.hidden = tab !== 'train';
  if (tab === 'train' && !trainMounted) {
    trainMounted = true;
    mountTrainView(ui.trainView, {
      getGpu: () => gpu,
      useClassifier,
      getDnf,
      unetFlags: () => {
        const choice = choiceOf(ui.unetFile, ui.unetUrl);
        return choice ? unetFlags(choice) : null;
      },
    });
  }
}

/** How the run's outcome shows: the done or cancelled line, or the error. */
function ended(outcome: Promise<RunEnd>): Promise<void> {
  return outcome
    .then((end) => {
      if (!end.cancelled) return setState('done');
      finalProgress(`Cancelled after ${window.dnfResults.length} of ${end.total} image${end.total > 1 ? 's' : ''}; the results so far are kept.`);
      setState('ready');
    })
    .catch((e) => {
      // A Cancel during a download or read ends it by throwing Cancelled from a progress report.
      if (cancelled()) {
        finalProgress('Cancelled while loading the models.');
        return setState('ready');
      }
      hideProgress();
      showError(sentence(e));
      setState('failed');
    });
}

function wire(): void {
  pairInputs(ui.unetFile, ui.unetUrl);
  pairInputs(ui.classifierFile, ui.classifierUrl);
  ui.config.addEventListener('change', refreshControls);
  ui.images.addEventListener('change', () => setImages(ui.images.files));
  ui.tabDetect.addEventListener('click', () => showTab('detect'));
  ui.tabTrain.addEventListener('click', () => showTab('train'));
  // Files dropped anywhere on the Detect view (not only on the drop zone) are taken, not opened.
  document.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    if (!ui.detectView.hidden) ui.drop.classList.add('over');
  });
  document.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    ui.drop.classList.remove('over');
    if (!ui.detectView.hidden) setImages(ev.dataTransfer?.files);
  });
  ui.cancel.addEventListener('click', () => {
    requestCancel();
    ui.cancel.disabled = true;
    ui.cancel.textContent = 'Cancelling…';
  });
  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const unetChoice = choiceOf(ui.unetFile, ui.unetUrl);
    if (!gpu || !unetChoice || busy) return;
    busy = true;
    cancelled(true);
    ui.cancel.disabled = false;
    ui.cancel.textContent = 'Cancel';
    refreshControls();
    void ended(run(gpu, unetChoice, choiceOf(ui.classifierFile, ui.classifierUrl))).finally(() => {
      cancelled(true);
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
