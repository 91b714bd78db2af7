/**
 * The models of `dnf detect` and `dnf eval` on one GPU: the classifier, and the UNet when DNFs are
 * computed from images. DNFs go to the classifier as the 8-bit images `dnf extract` writes (see
 * src/diffusion/dnf-images.ts), so classifying an image equals classifying its extracted PNG. They
 * are resized to the input size the classifier's metadata names (256 without), with the
 * antialiasing of an explicit --antialias / --no-antialias, else the metadata's when it names one,
 * else the DNF setting's. A flag that contradicts the metadata is obeyed, with a one-line warning.
 */
import { basename } from 'node:path';
import { classifyDnfImages, CLASSIFIER_SIZE, type Verdict } from '../pipeline/classify.js';
import type { ClassifierInput } from '../classifier-metadata.js';
import { quantizedDnfs } from '../pipeline/dnf-images.js';
import type { Gpu } from '../gpu/gpu.js';
import type { RgbImage } from '../image/pixels.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import type { ResNet } from '../models/resnet.js';
import { acquireGpu, releaseGpu } from '../node/acquire.js';
import { loadClassifier } from '../node/classifier.js';
import { loadUnet, type UnetOptions, type UnetSetup } from './unet-options.js';

/** Largest default batch (the models split batches that exceed a binding on their own). */
export const DEFAULT_MAX_BATCH = 16;

export interface DetectorOptions {
  /** The classifier: safetensors, or a PyTorch checkpoint converted in memory. */
  classifier: string;
  /** The UNet for DNFs of images; null when the inputs are DNFs already. */
  unet: UnetSetup | null;
  /** DNF settings; `antialias` also applies to resizing DNFs for the classifier, unless its metadata names one and the flag was not given. */
  dnf: Pick<UnetOptions, 'steps' | 'feature' | 'antialias' | 'antialiasGiven'>;
  backend?: string;
  /** Runs on this GPU (kept open) instead of acquiring one. */
  gpu?: Gpu;
  /** Prints a line for the user (notes such as the in-memory conversion). */
  say(line: string): void;
}

export class Detector {
  private constructor(
    readonly gpu: Gpu,
    private readonly ownsGpu: boolean,
    readonly classifier: ResNet,
    /** The classifier's input size and antialiasing (from its metadata). */
    readonly input: ClassifierInput,
    readonly unet: DdpmUnet | null,
    private readonly opts: DetectorOptions,
  ) {}

  static async open(opts: DetectorOptions): Promise<Detector> {
    const gpu = opts.gpu ?? (await acquireGpu({ backend: opts.backend }));
    let classifier: ResNet | undefined;
    try {
      const loaded = await loadClassifier(gpu, opts.classifier);
      classifier = loaded.model;
      if (loaded.format !== 'safetensors') {
        opts.say(`${opts.classifier}: a PyTorch checkpoint (${loaded.format}), converted in memory; \`dnf convert ${opts.classifier}\` once saves this step`);
      }
      const recorded = loaded.antialias;
      if (opts.dnf.antialiasGiven && recorded !== null && recorded !== opts.dnf.antialias) {
        const flag = opts.dnf.antialias ? '--antialias' : '--no-antialias';
        opts.say(`warning: ${opts.classifier} was trained with dnf.antialias ${recorded}; ${flag} given, so its inputs are resized ${opts.dnf.antialias ? 'with' : 'without'} antialiasing`);
      }
      const unet = opts.unet ? await loadUnet(gpu, opts.unet) : null;
      return new Detector(gpu, !opts.gpu, classifier, { inputSize: loaded.inputSize, antialias: loaded.antialias }, unet, opts);
    } catch (e) {
      classifier?.dispose();
      if (!opts.gpu) gpu.destroy();
      throw e;
    }
  }

  /** Images per batch: --batch, else the UNet's default (DEFAULT_MAX_BATCH for DNF inputs). */
  batchSize(requested?: number): number {
    return requested ?? this.unet?.defaultBatch ?? DEFAULT_MAX_BATCH;
  }

  /** 'opengles, ResNet50 (cls.safetensors), DNF by lsun_bedroom.safetensors'; 'ResNet18 at 64x64 (cls.safetensors)' for other input sizes. */
  describe(): string {
    const dnf = this.opts.unet ? `DNF by ${basename(this.opts.unet.path)}${this.opts.dnf.steps ? ` (${this.opts.dnf.steps}-step inversion, ${this.opts.dnf.feature})` : ''}` : 'inputs are DNFs';
    const size = this.input.inputSize === CLASSIFIER_SIZE ? '' : ` at ${this.input.inputSize}x${this.input.inputSize}`;
    return `${this.gpu.describe().backend}, ${this.classifier.name}${size} (${basename(this.opts.classifier)}), ${dnf}`;
  }

  /** The quantised DNFs of decoded images (needs the UNet). */
  dnfs(images: RgbImage[]): Promise<RgbImage[]> {
    if (!this.unet) throw new Error('Detector: no UNet loaded');
    return quantizedDnfs(this.unet, images, this.opts.dnf);
  }

  classify(dnfs: RgbImage[]): Promise<Verdict[]> {
    const { antialias, antialiasGiven } = this.opts.dnf;
    return classifyDnfImages(this.classifier, dnfs, { size: this.input.inputSize, antialias: antialiasGiven ? antialias : (this.input.antialias ?? antialias) });
  }

  async dispose(): Promise<void> {
    this.classifier.dispose();
    this.unet?.dispose();
    if (this.ownsGpu) await releaseGpu(this.gpu);
  }
}
