/**
 * The one pipeline from an image to a verdict, shared by `dnf detect` / `dnf eval`, the page and
 * the library's `createDetector`: decode (the environment's), resize and scale to the UNet's
 * resolution, the UNet's noise estimate (the DNF), its 8-bit quantisation (exactly the PNG
 * `dnf extract` writes), and the classifier on that 8-bit DNF, so that classifying an image equals
 * classifying its extracted PNG.
 *
 * Settings: DNFs as in the reference (steps 0: eps at t = 0). Images are resized with torch's
 * antialiased bicubic unless `antialias` says otherwise; DNFs are resized to the classifier's
 * input size with `antialias` when given, else with the antialiasing its metadata records, else
 * the default (a given `antialias` that contradicts the record is obeyed, with a note).
 * Everything is checked before the GPU starts: the weights' headers, the UNet config against them.
 */
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { RgbImage } from '../image/pixels.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import type { UnetConfig } from '../models/unet-config.js';
import { DNF_FEATURES, type DnfFeature } from '../diffusion/dnf.js';
import { ddimTimesteps } from '../diffusion/schedule.js';
import { SafetensorsFile } from '../weights/safetensors.js';
import { buildClassifier, classifierResize, readStateDictFrom, type LoadedClassifier } from './classifier.js';
import { classifyDnfImages, CLASSIFIER_SIZE, DEFAULT_THRESHOLD, labelOf, type Label, type Verdict } from './classify.js';
import { quantizedDnfs } from './dnf-images.js';
import { imageName, isRgbImage, type DetectorEnvironment, type ImageInput } from './environment.js';
import { DEFAULT_ANTIALIAS } from './preprocess.js';
import { openModelSource, type LoadProgress, type ModelSource, type OpenedSource } from './sources.js';
import { chooseUnetConfig, givenUnetConfig, loadUnetFrom, type UnetChoice } from './unet.js';

/** Largest default batch without a UNet (the models split batches that exceed a binding on their own). */
export const DEFAULT_MAX_BATCH = 16;

export interface DetectorOptions {
  /** The diffusion UNet (safetensors); needed for DNFs of images. */
  unet?: ModelSource;
  /** The DNF classifier (safetensors or a PyTorch .pth, converted in memory); needed by detect() and classify(). */
  classifier?: ModelSource;
  /** The UNet config: a preset name or a UnetConfig (default: the weights' metadata, else their tensor shapes). */
  unetConfig?: string | UnetConfig;
  /** Runs on this GPU (left open by dispose()); default: one acquired and owned. */
  gpu?: Gpu;
  /** 0 (default): eps at t = 0, the released DNF; K > 0: a K-step DDIM inversion. */
  steps?: number;
  /** Which noise estimate of the inversion (default 'first', the released DNF). */
  feature?: DnfFeature;
  /** torch's antialiased bicubic for resizing (default true); see the header for the classifier's resize. */
  antialias?: boolean;
  /** prob > threshold is labelled 'generated' (default 0.5). */
  threshold?: number;
  /** Images per GPU batch (default: what the UNet's memory plan allows). */
  batch?: number;
  /** Download and read progress of the weights. */
  onProgress?: (p: LoadProgress) => void;
  /** Lines worth telling the user (a checkpoint converted in memory, a config partly guessed). */
  onNote?: (line: string) => void;
}

/** The classifier's verdict on one DNF. */
export interface Classification extends Verdict {
  label: Label;
}

/** detect()'s result per image. */
export interface Detection extends Classification {
  /** The 8-bit RGB DNF, exactly what `dnf extract` writes. */
  dnf: RgbImage;
}

/** Per call: images per GPU batch (default batchSize()). */
export interface CallOptions {
  batch?: number;
}

/** What Detector.open needs beyond the options (the CLI hands over a config it checked already). */
export interface OpenInternals {
  unetChoice?: UnetChoice;
  /** How notes name the antialias setting given ('--no-antialias'; default 'antialias: false'). */
  antialiasName?: (on: boolean) => string;
}

const baseName = (name: string) => name.split(/[\\/]/).pop() || name;

export class Detector {
  private disposed = false;

  private constructor(
    readonly gpu: Gpu,
    private readonly ownsGpu: boolean,
    private readonly env: DetectorEnvironment,
    readonly unet: DdpmUnet | null,
    readonly classifier: LoadedClassifier | null,
    private readonly names: { unet?: string; classifier?: string },
    private readonly settings: { steps: number; feature: DnfFeature; antialias: boolean; antialiasGiven: boolean; threshold: number; batch?: number },
  ) {}

  /** See createDetector (src/index.ts, src/node/index.ts): this is it with the environment explicit. */
  static async open(env: DetectorEnvironment, opts: DetectorOptions, internals: OpenInternals = {}): Promise<Detector> {
    const steps = opts.steps ?? 0;
    const feature = opts.feature ?? 'first';
    if (!DNF_FEATURES.includes(feature)) throw new DnfError(`unknown DNF feature '${feature}'; use ${DNF_FEATURES.join(', ')}`);
    if (!Number.isSafeInteger(steps) || steps < 0) throw new DnfError(`steps must be 0 or a positive integer, got ${steps}`);
    if (steps === 0 && feature !== 'first') throw new DnfError(`the DNF feature '${feature}' needs an inversion: give steps > 0 (e.g. 20)`);
    if (steps > 0) ddimTimesteps(steps);
    const threshold = opts.threshold ?? DEFAULT_THRESHOLD;
    if (!(threshold >= 0 && threshold <= 1)) throw new DnfError(`threshold must be a probability from 0 to 1, got ${threshold}`);
    if (opts.batch !== undefined && !(Number.isSafeInteger(opts.batch) && opts.batch >= 1)) throw new DnfError(`batch must be a positive integer, got ${opts.batch}`);
    if (!opts.unet && !opts.classifier) throw new DnfError('createDetector needs a unet (for DNFs of images) or a classifier (for verdicts on DNFs), usually both');
    const note = opts.onNote ?? (() => {});

    const opened: OpenedSource[] = [];
    const closeAll = () => Promise.all(opened.map((o) => o.close().catch(() => {})));
    let gpu: Gpu | undefined;
    let unet: DdpmUnet | null = null;
    let classifier: LoadedClassifier | null = null;
    try {
      // Headers first, before a GPU is touched: a wrong file fails at once.
      let unetPart: { file: SafetensorsFile; choice: UnetChoice } | null = null;
      if (opts.unet) {
        const src = await openModelSource(opts.unet, 'unet', env, opts.onProgress);
        opened.push(src);
        const file = await SafetensorsFile.open(src.source);
        const choice = internals.unetChoice ?? chooseUnetConfig(file, opts.unetConfig === undefined ? undefined : givenUnetConfig(opts.unetConfig));
        if (choice.note) note(choice.note);
        unetPart = { file, choice };
      }
      let classifierPart = null;
      if (opts.classifier) {
        const src = await openModelSource(opts.classifier, 'classifier', env, opts.onProgress);
        opened.push(src);
        const name = src.source.name;
        classifierPart = { name, dict: await readStateDictFrom(src.source) };
        if (classifierPart.dict.format !== 'safetensors') {
          note(`${name}: a PyTorch checkpoint (${classifierPart.dict.format}), converted in memory; \`dnf convert ${name}\` once saves this step`);
        }
      }

      gpu = opts.gpu ?? (await env.acquireGpu());
      if (unetPart) unet = await loadUnetFrom(gpu, unetPart.file, unetPart.choice);
      if (classifierPart) {
        classifier = await buildClassifier(gpu, classifierPart.dict, classifierPart.name);
        const recorded = classifier.antialias;
        if (opts.antialias !== undefined && recorded !== null && recorded !== opts.antialias) {
          note(`warning: ${classifierPart.name} was trained with dnf.antialias ${recorded}; ${(internals.antialiasName ?? ((on: boolean) => `antialias: ${on}`))(opts.antialias)} given, so its inputs are resized ${opts.antialias ? 'with' : 'without'} antialiasing`);
        }
      }
      await closeAll();
      return new Detector(gpu, !opts.gpu, env, unet, classifier, { unet: unetPart?.file.source.name, classifier: classifierPart?.name }, {
        steps, feature, antialias: opts.antialias ?? DEFAULT_ANTIALIAS, antialiasGiven: opts.antialias !== undefined, threshold, batch: opts.batch,
      });
    } catch (e) {
      unet?.dispose();
      classifier?.model.dispose();
      await closeAll();
      if (gpu && !opts.gpu) await env.releaseGpu(gpu);
      throw e;
    }
  }

  /** Images per batch: `requested`, else the `batch` option, else the UNet's default (DEFAULT_MAX_BATCH for DNF inputs). */
  batchSize(requested?: number): number {
    return requested ?? this.settings.batch ?? this.unet?.defaultBatch ?? DEFAULT_MAX_BATCH;
  }

  /** The label threshold in use. */
  get threshold(): number {
    return this.settings.threshold;
  }

  /** 'opengles, ResNet50 (cls.safetensors), DNF by lsun_bedroom.safetensors'; 'ResNet18 at 64x64 (cls.safetensors)' for other input sizes. */
  describe(): string {
    const { steps, feature } = this.settings;
    const dnf = this.names.unet ? `DNF by ${baseName(this.names.unet)}${steps ? ` (${steps}-step inversion, ${feature})` : ''}` : 'inputs are DNFs';
    const parts = [this.gpu.describe().backend];
    if (this.classifier) {
      const size = this.classifier.inputSize === CLASSIFIER_SIZE ? '' : ` at ${this.classifier.inputSize}x${this.classifier.inputSize}`;
      parts.push(`${this.classifier.model.name}${size} (${baseName(this.names.classifier!)})`);
    } else {
      parts.push('no classifier');
    }
    parts.push(dnf);
    return parts.join(', ');
  }

  /** Decoded pixels of each input, in order (RgbImages pass as they are). */
  async decode(images: readonly ImageInput[], offset = 0): Promise<RgbImage[]> {
    this.live();
    const out: RgbImage[] = [];
    for (const [i, input] of images.entries()) out.push(isRgbImage(input) ? input : await this.env.decodeImage(this.gpu, input, imageName(input, offset + i)));
    return out;
  }

  /** The 8-bit DNF of each image (what `dnf extract` writes), in batches of batchSize(). */
  async dnf(images: readonly ImageInput[], opts: CallOptions = {}): Promise<RgbImage[]> {
    const unet = this.requireUnet('dnf()');
    const out: RgbImage[] = [];
    const per = this.batchSize(opts.batch);
    for (let s = 0; s < images.length; s += per) {
      const decoded = await this.decode(images.slice(s, s + per), s);
      out.push(...(await quantizedDnfs(unet, decoded, this.settings)));
    }
    return out;
  }

  /** The classifier's verdict on DNFs given as 8-bit images (from dnf(), or `dnf extract`'s PNGs decoded). */
  async classify(dnfs: readonly ImageInput[], opts: CallOptions = {}): Promise<Classification[]> {
    const classifier = this.requireClassifier('classify()');
    const { antialias, antialiasGiven, threshold } = this.settings;
    const resize = classifierResize(classifier, antialiasGiven ? antialias : undefined);
    const out: Classification[] = [];
    const per = this.batchSize(opts.batch);
    for (let s = 0; s < dnfs.length; s += per) {
      const decoded = await this.decode(dnfs.slice(s, s + per), s);
      for (const v of await classifyDnfImages(classifier.model, decoded, resize)) out.push({ ...v, label: labelOf(v.prob, threshold) });
    }
    return out;
  }

  /** Each image's DNF and the classifier's verdict on it: { prob, logit, label, dnf }, in order. */
  async detect(images: readonly ImageInput[], opts: CallOptions = {}): Promise<Detection[]> {
    this.requireClassifier('detect()');
    this.requireUnet('detect()');
    const out: Detection[] = [];
    const per = this.batchSize(opts.batch);
    for (let s = 0; s < images.length; s += per) {
      const dnfs = await this.dnf(images.slice(s, s + per), { batch: per });
      const verdicts = await this.classify(dnfs, { batch: per });
      verdicts.forEach((v, i) => out.push({ ...v, dnf: dnfs[i] }));
    }
    return out;
  }

  /** Frees the models' GPU memory, and the GPU when the detector acquired it. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.classifier?.model.dispose();
    this.unet?.dispose();
    if (this.ownsGpu) await this.env.releaseGpu(this.gpu);
  }

  private live(): void {
    if (this.disposed) throw new DnfError('this detector was disposed; create another with createDetector');
  }

  private requireUnet(what: string): DdpmUnet {
    this.live();
    if (!this.unet) throw new DnfError(`${what} needs the UNet: give createDetector a unet (e.g. lsun_bedroom.safetensors from \`dnf weights fetch\`)`);
    return this.unet;
  }

  private requireClassifier(what: string): LoadedClassifier {
    this.live();
    if (!this.classifier) {
      throw new DnfError(`${what} needs a classifier: give createDetector a classifier (a safetensors or .pth DNF classifier, e.g. the best.safetensors \`dnf train\` writes); dnf() computes DNFs without one`);
    }
    return this.classifier;
  }
}
