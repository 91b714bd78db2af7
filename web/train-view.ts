/**
 * The Train view: a DNF classifier trained in this browser on this GPU, the way `dnf train` trains
 * one (the same loop, src/train/loop.ts): a folder of real and a folder of generated images,
 * picked or dropped, optionally two more for validation, either DNF images (what `dnf extract`
 * writes) or source images whose DNFs are computed here first; a ResNet
 * trained with a live curve and Cancel; then best.safetensors to download (what `dnf detect
 * --classifier` takes) or to use at once in the Detect view.
 *
 * Validation: two more folders, or none. `dnf train` takes its validation set as a separate root
 * and has no hold-out split, so a split drawn here could not be repeated in Node; with no
 * validation folders the accuracy is measured on the training images, which is what
 * `dnf train ROOT --val ROOT` does. The command line that repeats a run is shown under the
 * settings: with the same files (the real folder as ROOT/0_real, the generated one as ROOT/1_fake),
 * settings and seed, Node writes the same weights.
 *
 * Source images (`dnf train --images` in Node): before training, each image's DNF is computed once
 * for the run with the Detect view's UNet (its weights and model config, loaded once and shared with
 * that view: options.getDnf) through the pipeline `dnf extract` uses (src/pipeline/dnf-images.ts:
 * resized to the UNet's resolution, eps at t = 0, save_image's 8-bit quantisation), kept in memory
 * (the UNet's resolution squared times 3 bytes an image) and trained on as DNF images, named and
 * ordered as Node names them in its cache folder (train-files.ts: dnfItems). An image that cannot
 * be decoded is said in one line and left out, as extract leaves it out of the cache Node trains on.
 *
 * For scripts and the browser test: the root's data-state is 'idle', 'training', 'done',
 * 'cancelled' (stopped by Cancel) or 'failed' (see .train-error).
 */
import { DnfError } from '../src/errors.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { decodeImageBlob } from '../src/image/decode-browser.js';
import type { RgbImage } from '../src/image/pixels.js';
import { DEFAULT_ANTIALIAS } from '../src/pipeline/preprocess.js';
import { resnetPreset } from '../src/models/resnet-config.js';
import { pct, trainLoop, type StopReason } from '../src/train/loop.js';
import { TrainableResNet } from '../src/train/resnet.js';
import { archName, bestSafetensors, freshState, type RunConfig, type SetDescription } from '../src/train/run-state.js';
import { REFERENCE_MIN_LR, REFERENCE_PATIENCE } from '../src/train/schedule.js';
import { REFERENCE_ADAM, Trainer } from '../src/train/trainer.js';
import { setFingerprint } from '../src/train/train-set.js';
import { drawCurve, type EpochMark, type StepPoint } from './train-curve.js';
import { dnfItems, droppedFiles, folderName, isImage, labelledItems, pickedFiles, type PageItem, type PickedFile } from './train-files.js';
import './train.css';

export interface TrainViewOptions {
  /** The page's GPU, once it has one. */
  getGpu: () => Gpu | null;
  /** Hands a trained classifier (safetensors bytes) to the Detect view. */
  useClassifier: (bytes: Uint8Array, name: string) => void;
  /**
   * The Detect view's UNet as a function from decoded images to their 8-bit DNFs (what `dnf
   * extract` writes), loaded once and shared with that view; null while no UNet is chosen there.
   * Absent where the page has no Detect view: source images cannot be used there.
   */
  getDnf?: () => Promise<((images: RgbImage[]) => Promise<RgbImage[]>) | null>;
  /** The UNet flags of `dnf train --images` for the Detect view's choice ('--unet w.safetensors --model-config c.json'); null while none is chosen. */
  unetFlags?: () => string | null;
}

/** What the folders hold: DNF images, or source images whose DNFs the view computes. */
type InputKind = 'dnf' | 'source';

const ZONES = [
  ['real', 'Real images', 'train'],
  ['fake', 'Generated images', 'train'],
  ['val-real', 'Real images', 'val'],
  ['val-fake', 'Generated images', 'val'],
] as const;
type ZoneKey = (typeof ZONES)[number][0];

const zoneHtml = ([key, title]: (typeof ZONES)[number]) => `
  <label class="train-drop" id="train-${key}-zone">
    <span class="train-drop-title">${title}</span>
    <span class="train-drop-count" id="train-${key}-count">drop a folder or pick one</span>
    <input type="file" id="train-${key}" webkitdirectory multiple />
  </label>`;

const numberField = (id: string, label: string, value: string, attrs: string) =>
  `<label>${label} <input id="train-${id}" type="number" value="${value}" ${attrs} /></label>`;

const TEMPLATE = `
  <p class="train-intro">Train a classifier on DNF images (what <code>dnf extract</code> writes), or on source images
    whose DNFs are computed first, with this browser's GPU. Nothing leaves this computer.</p>
  <fieldset>
    <legend>Training images</legend>
    <label class="train-kind">The folders hold <select id="train-input">
      <option value="dnf" selected>DNF images (from dnf extract)</option>
      <option value="source">source images: compute their DNFs with the Detect view's UNet</option>
    </select></label>
    <p class="train-note" id="train-input-note" hidden>Each image's DNF is computed once per run with the UNet chosen in the
      Detect view (its weights and model config), as <code>dnf train --images</code> computes it.</p>
    <div class="train-zones">${ZONES.filter((z) => z[2] === 'train').map(zoneHtml).join('')}</div>
  </fieldset>
  <fieldset>
    <legend>Validation images (optional)</legend>
    <div class="train-zones">${ZONES.filter((z) => z[2] === 'val').map(zoneHtml).join('')}</div>
    <p class="train-note">Without them, accuracy is measured on the training images (as <code>dnf train ROOT --val ROOT</code>).</p>
  </fieldset>
  <fieldset class="train-settings">
    <legend>Settings</legend>
    <label>Architecture <select id="train-arch"><option selected>resnet18</option><option>resnet34</option><option>resnet50</option></select></label>
    ${numberField('size', 'Image size', '64', 'min="8" max="1024" step="1"')}
    ${numberField('batch', 'Batch size', '16', 'min="1" max="1024" step="1"')}
    ${numberField('epochs', 'Epochs', '5', 'min="1" max="10000" step="1"')}
    ${numberField('lr', 'Learning rate', '0.0001', 'min="0" step="any"')}
    ${numberField('seed', 'Seed', '0', 'min="0" max="4294967295" step="1"')}
    <label class="train-check"><input id="train-flip" type="checkbox" checked /> Random flips</label>
    <label class="train-check"><input id="train-shuffle" type="checkbox" checked /> Shuffle</label>
  </fieldset>
  <p class="train-note">The same run in Node: <code id="train-command"></code></p>
  <div class="train-actions">
    <button id="train-start" type="button">Start training</button>
    <button id="train-cancel" type="button" disabled>Cancel</button>
  </div>
  <p class="train-error" role="alert" hidden></p>
  <p id="train-status" class="train-status">Pick the images to train on.</p>
  <svg id="train-curve" class="train-curve" role="img" aria-label="training loss and validation accuracy"></svg>
  <p class="train-legend"><span class="train-key loss">train loss (left axis)</span><span class="train-key acc">validation accuracy (right axis)</span><span class="train-key ap">validation AP (right axis)</span></p>
  <ol id="train-log" class="train-log"></ol>
  <div id="train-result" class="train-actions" hidden>
    <a id="train-download" class="train-button" download="best.safetensors">Download best.safetensors</a>
    <button id="train-use" type="button">Use in Detect</button>
  </div>`;

/** A positive integer (or number) from a field; a one-line error naming it otherwise. */
function readNumber(input: HTMLInputElement, what: string, integer: boolean, min: number): number {
  const v = Number(input.value);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)) || (!integer && v <= 0)) {
    throw new DnfError(`${what} must be ${integer ? `an integer of at least ${min}` : 'a positive number'}, not "${input.value}"`);
  }
  return v;
}

export function mountTrainView(root: HTMLElement, opts: TrainViewOptions): void {
  root.innerHTML = TEMPLATE;
  root.dataset.state = 'idle';
  const q = <T extends Element>(sel: string) => root.querySelector(sel) as T;
  const field = (id: string) => q<HTMLInputElement>(`#train-${id}`);
  const ui = {
    input: q<HTMLSelectElement>('#train-input'),
    inputNote: q<HTMLElement>('#train-input-note'),
    arch: q<HTMLSelectElement>('#train-arch'),
    command: q<HTMLElement>('#train-command'),
    start: q<HTMLButtonElement>('#train-start'),
    cancel: q<HTMLButtonElement>('#train-cancel'),
    error: q<HTMLElement>('.train-error'),
    status: q<HTMLElement>('#train-status'),
    curve: q<SVGSVGElement>('#train-curve'),
    log: q<HTMLOListElement>('#train-log'),
    result: q<HTMLElement>('#train-result'),
    download: q<HTMLAnchorElement>('#train-download'),
    use: q<HTMLButtonElement>('#train-use'),
  };
  const picked = new Map<ZoneKey, { files: PickedFile[]; folder: string }>();
  let controller: AbortController | null = null;
  /** Whether the run in progress is computing DNFs (a Cancel then stops after the image in flight). */
  let computing = false;
  let best: Uint8Array | null = null;
  let downloadUrl: string | null = null;

  const settings = () => ({
    arch: ui.arch.value,
    imageSize: readNumber(field('size'), 'Image size', true, 1),
    batchSize: readNumber(field('batch'), 'Batch size', true, 1),
    epochs: readNumber(field('epochs'), 'Epochs', true, 1),
    lr: readNumber(field('lr'), 'Learning rate', false, 0),
    seed: readNumber(field('seed'), 'Seed', true, 0),
    flip: field('flip').checked,
    shuffle: field('shuffle').checked,
  });

  const inputKind = () => ui.input.value as InputKind;

  const showCommand = () => {
    try {
      const s = settings();
      const val = picked.has('val-real') || picked.has('val-fake') ? 'VAL_ROOT' : 'ROOT';
      const source = inputKind() === 'source';
      const unet = source ? opts.unetFlags?.() ?? null : null;
      ui.command.textContent = `dnf train ROOT --val ${val} -o RUN${source ? ` --images ${unet ?? '--unet UNET'}` : ''} --arch ${s.arch} ` +
        `--image-size ${s.imageSize} --batch-size ${s.batchSize} --epochs ${s.epochs} --lr ${s.lr} --seed ${s.seed}${s.flip ? '' : ' --no-flip'}${s.shuffle ? '' : ' --no-shuffle'}` +
        ` (ROOT/0_real: the real images, ROOT/1_fake: the generated ones${val === 'ROOT' ? '' : '; VAL_ROOT likewise'}` +
        `${source && !unet ? '; UNET: the UNet weights, to be picked in the Detect view' : ''})`;
    } catch (e) {
      ui.command.textContent = e instanceof Error ? e.message : String(e);
    }
  };

  const showError = (message: string | null) => {
    ui.error.hidden = message === null;
    ui.error.textContent = message ?? '';
  };

  const others = (n: number) => `${n} other file${n === 1 ? '' : 's'}`;
  const setZone = (key: ZoneKey, files: PickedFile[], folder: string) => {
    const count = root.querySelector(`#train-${key}-count`)!;
    if (!files.length) {
      picked.delete(key);
      count.textContent = 'drop a folder or pick one';
    } else {
      picked.set(key, { files, folder });
      const images = files.filter((f) => isImage(f.inner)).length;
      count.textContent = `${folder}: ${images} image${images === 1 ? '' : 's'}${images < files.length ? ` (${others(files.length - images)} left out)` : ''}`;
    }
    showCommand();
  };

  for (const [key] of ZONES) {
    const input = field(key);
    const zone = q<HTMLElement>(`#train-${key}-zone`);
    input.addEventListener('change', () => {
      const files = pickedFiles(input.files ?? []);
      setZone(key, files, folderName(files, 'picked files'));
    });
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      zone.classList.add('train-over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('train-over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('train-over');
      if (!e.dataTransfer) return;
      droppedFiles(e.dataTransfer).then(
        ({ files, folder }) => setZone(key, files, folder ?? 'dropped files'),
        (err: unknown) => showError(`cannot read the dropped folder: ${err instanceof Error ? err.message : String(err)}`),
      );
    });
  }
  root.querySelector('.train-settings')!.addEventListener('input', showCommand);
  ui.input.addEventListener('change', () => {
    ui.inputNote.hidden = inputKind() !== 'source';
    showCommand();
  });
  // The UNet flags follow the Detect view's choice, which changes while this view is hidden.
  new MutationObserver(() => {
    if (!root.hidden) showCommand();
  }).observe(root, { attributes: true, attributeFilter: ['hidden'] });
  showCommand();
  let curve: { steps: StepPoint[]; marks: EpochMark[] } = { steps: [], marks: [] };
  const redraw = () => drawCurve(ui.curve, curve.steps, curve.marks);
  redraw();
  new ResizeObserver(redraw).observe(ui.curve);

  const say = (line: string) => {
    const li = document.createElement('li');
    li.textContent = line;
    ui.log.append(li);
  };

  /** `items`, which must hold both classes; `fix` ends the line saying what to do. */
  const bothClasses = (items: PageItem[], role: string, fix: string): PageItem[] => {
    if (!items.some((it) => it.label === 0)) throw new DnfError(`no real ${role} images: ${fix} (training needs both classes)`);
    if (!items.some((it) => it.label === 1)) throw new DnfError(`no generated ${role} images: ${fix} (training needs both classes)`);
    return items;
  };

  const itemsOf = (realKey: ZoneKey, fakeKey: ZoneKey, role: string): PageItem[] => {
    const real = picked.get(realKey);
    const fake = picked.get(fakeKey);
    const items = labelledItems(real?.files ?? [], fake?.files ?? [], { real: real?.folder ?? 'real', fake: fake?.folder ?? 'generated' });
    return bothClasses(items, role, 'pick or drop a folder of them');
  };

  /**
   * The 8-bit DNF of each source image, computed once for the run with the Detect view's UNet:
   * an image that cannot be decoded is said in one line and left out; null when Cancel stopped it.
   */
  async function computeDnfs(gpu: Gpu, items: readonly PageItem[], signal: AbortSignal): Promise<Map<File, RgbImage> | null> {
    if (!opts.getDnf) throw new DnfError("source images need the Detect view's UNet: train in the Train tab of the main page, or pick DNF images");
    ui.status.textContent = "Loading the Detect view's UNet…";
    const dnfOf = await opts.getDnf();
    if (!dnfOf) throw new DnfError('source images: pick UNet weights in the Detect view first (its UNet computes their DNFs)');
    const sources = [...new Map(items.map((it) => [it.file, it])).values()];
    const dnfs = new Map<File, RgbImage>();
    computing = true;
    try {
      for (const [k, item] of sources.entries()) {
        if (signal.aborted) {
          finishEarly(`Cancelled while computing DNFs, after ${k} of ${sources.length}.`);
          return null;
        }
        ui.status.textContent = `Computing DNFs: ${k + 1} of ${sources.length}${k ? '' : " (the first compiles the UNet's kernels)"}`;
        let image: RgbImage;
        try {
          image = await decodeImageBlob(gpu, item.file, item.path);
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          say(`${msg.includes(item.path) ? msg : `${item.path}: ${msg}`} (left out)`.replace(/\s*\n\s*/g, ' '));
          continue;
        }
        dnfs.set(item.file, (await dnfOf([image]))[0]);
      }
    } finally {
      computing = false;
    }
    const left = sources.length - dnfs.size;
    say(`DNFs of ${dnfs.size} source image${dnfs.size === 1 ? '' : 's'} computed with the Detect view's UNet${left ? `; ${left} left out` : ''}`);
    return dnfs;
  }

  const describeSet = async (items: PageItem[], name: string): Promise<SetDescription> => {
    const real = items.filter((it) => it.label === 0).length;
    return { root: name, images: items.length, real, fake: items.length - real, fingerprint: await setFingerprint(items) };
  };

  async function run(gpu: Gpu, signal: AbortSignal): Promise<void> {
    const s = settings();
    let train = itemsOf('real', 'fake', 'training');
    const hasVal = picked.has('val-real') || picked.has('val-fake');
    let val = hasVal ? itemsOf('val-real', 'val-fake', 'validation') : train;
    let decode = (item: PageItem) => decodeImageBlob(gpu, item.file, item.path);
    if (inputKind() === 'source') {
      const dnfs = await computeDnfs(gpu, hasVal ? [...train, ...val] : train, signal);
      if (!dnfs) return;
      const fix = 'none of their DNFs could be computed (see the lines above)';
      train = bothClasses(dnfItems(train, (it) => dnfs.has(it.file)), 'training', fix);
      val = hasVal ? bothClasses(dnfItems(val, (it) => dnfs.has(it.file)), 'validation', fix) : train;
      decode = async (item) => dnfs.get(item.file)!;
      ui.status.textContent = 'Starting: compiling the shaders (the first step takes longest)…';
    }
    const model = TrainableResNet.create(gpu, resnetPreset(s.arch), s.seed);
    try {
      const config: RunConfig = {
        arch: archName(model.config), imageSize: s.imageSize, antialias: DEFAULT_ANTIALIAS, batchSize: s.batchSize, lr: s.lr,
        betas: [REFERENCE_ADAM.beta1, REFERENCE_ADAM.beta2], eps: REFERENCE_ADAM.eps, seed: s.seed, flip: s.flip, shuffle: s.shuffle,
        select: 'acc', patience: REFERENCE_PATIENCE, minLr: REFERENCE_MIN_LR, init: null,
        train: await describeSet(train, 'train'), val: await describeSet(val, hasVal ? 'val' : 'train'),
      };
      const trainer = new Trainer(model, { ...REFERENCE_ADAM, lr: config.lr });
      trainer.chunkImages(config.imageSize, config.imageSize); // fails early when one image cannot fit a binding
      const state = freshState(config);
      const { steps, marks } = (curve = { steps: [] as StepPoint[], marks: [] as EpochMark[] });
      say(`${config.arch} at ${config.imageSize}x${config.imageSize}, batch ${config.batchSize}, ${train.length} training images ` +
        `(${config.train.real} real, ${config.train.fake} generated), ${val.length} validation images${hasVal ? '' : ' (the training images)'}; seed ${config.seed}`);
      const report = await trainLoop({
        trainer, state, epochs: s.epochs, signal,
        data: { train, val, decode },
        hooks: {
          say,
          log: (r) => {
            if (r.type === 'step') {
              steps.push({ step: r.step as number, loss: r.loss as number });
              if (!signal.aborted) ui.status.textContent = `Epoch ${r.epoch} of ${s.epochs}, batch ${r.batch} of ${r.of}: loss ${(r.loss as number).toFixed(4)}`;
            } else {
              marks.push({ epoch: r.epoch as number, step: r.step as number, acc: r.val_acc as number | null, ap: r.val_ap as number | null });
            }
            redraw();
          },
          onBest: async (b, bad) => {
            best = await bestSafetensors(model, config, b, bad);
          },
        },
      });
      finish(report.reason, state.step, state.best ? `best val acc ${pct(state.best.acc)}, AP ${pct(state.best.ap)} at epoch ${state.best.epoch}` : 'no epoch finished');
    } finally {
      model.dispose();
    }
  }

  const WHY: Record<StopReason, string> = {
    epochs: 'all epochs done',
    'early-stop': `no improvement left (the lr would fall below ${REFERENCE_MIN_LR})`,
    'max-steps': 'the step bound',
    interrupted: 'cancelled',
  };

  /** A run stopped by Cancel before training began. */
  function finishEarly(status: string): void {
    root.dataset.state = 'cancelled';
    ui.status.textContent = status;
  }

  function finish(reason: StopReason, steps: number, summary: string): void {
    root.dataset.state = reason === 'interrupted' ? 'cancelled' : 'done';
    ui.status.textContent = `${reason === 'interrupted' ? 'Cancelled' : 'Done'} after ${steps} steps (${WHY[reason]}): ${summary}.`;
    if (best) {
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(new Blob([best as BlobPart], { type: 'application/octet-stream' }));
      ui.download.href = downloadUrl;
      ui.result.hidden = false;
    }
  }

  ui.start.addEventListener('click', () => {
    const gpu = opts.getGpu();
    showError(null);
    if (!gpu) {
      showError('No WebGPU adapter: training needs one (see the message at the top of the page).');
      return;
    }
    best = null;
    ui.result.hidden = true;
    ui.log.replaceChildren();
    curve = { steps: [], marks: [] };
    redraw();
    controller = new AbortController();
    root.dataset.state = 'training';
    ui.start.disabled = true;
    ui.cancel.disabled = false;
    for (const input of root.querySelectorAll<HTMLInputElement | HTMLSelectElement>('fieldset input, fieldset select')) input.disabled = true;
    ui.status.textContent = 'Starting: compiling the shaders (the first step takes longest)…';
    run(gpu, controller.signal)
      .catch((e: unknown) => {
        root.dataset.state = 'failed';
        ui.status.textContent = 'Training stopped.';
        showError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        controller = null;
        ui.start.disabled = false;
        ui.cancel.disabled = true;
        for (const input of root.querySelectorAll<HTMLInputElement | HTMLSelectElement>('fieldset input, fieldset select')) input.disabled = false;
      });
  });

  ui.cancel.addEventListener('click', () => {
    if (!controller) return;
    controller.abort();
    ui.cancel.disabled = true;
    ui.status.textContent = computing ? 'Cancelling after the current image…' : 'Cancelling after the current step…';
  });

  ui.use.addEventListener('click', () => {
    if (best) opts.useClassifier(best, 'best.safetensors');
  });
}
