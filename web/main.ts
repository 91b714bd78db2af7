/**
 * The page: the user picks UNet weights (a file or a URL), a model config, optionally a DNF
 * classifier, and images; the engine (the same src/ code as the CLI) computes each image's DNF on
 * this browser's WebGPU adapter and, with a classifier, P(generated). Nothing leaves the browser.
 *
 * For scripts and the browser test: body[data-state] is 'starting', 'ready', 'loading', 'running',
 * 'done', 'failed' (the run stopped: see #error) or 'unavailable' (no WebGPU); window.dnfResults
 * holds the last run's results, one per image, in order.
 */
import { acquireBrowserGpu, DdpmUnet, DnfError, labelOf, type Gpu } from '../src/index.js';
import { renderCard } from './card.js';
import { loadClassifier, loadUnet, readConfig, runImage, Slot, type Classifier } from './engine.js';
import { showProgress } from './progress.js';
import type { PageResult } from './result.js';
import { choiceKey, type WeightsChoice } from './sources.js';

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

let gpu: Gpu | null = null;
const unetSlot = new Slot<DdpmUnet>();
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
