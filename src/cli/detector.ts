/**
 * The models of `dnf detect` and `dnf eval`: the pipeline's Detector (src/pipeline/detector.ts,
 * the same as the library's createDetector and the page) opened from the command's options, with
 * the UNet config resolveUnet checked before the GPU started. The flags' names appear in its notes.
 */
import type { Verdict } from '../pipeline/classify.js';
import type { Gpu } from '../gpu/gpu.js';
import type { RgbImage } from '../image/pixels.js';
import { createDetector } from '../node/detector.js';
import type { Detector as PipelineDetector } from '../pipeline/detector.js';
import type { UnetOptions, UnetSetup } from './unet-options.js';

export { DEFAULT_MAX_BATCH } from '../pipeline/detector.js';

export interface DetectorOptions {
  /** The classifier: safetensors, or a PyTorch checkpoint converted in memory. */
  classifier: string;
  /** The UNet for DNFs of images; null when the inputs are DNFs already. */
  unet: UnetSetup | null;
  /** DNF settings; `antialias` also applies to resizing DNFs for the classifier, unless its metadata names one and the flag was not given. */
  dnf: Pick<UnetOptions, 'steps' | 'feature' | 'antialias' | 'antialiasGiven'>;
  backend?: string;
  /** Images per GPU batch (--batch; default: the UNet's, DEFAULT_MAX_BATCH for DNF inputs). */
  batch?: number;
  /** Runs on this GPU (kept open) instead of acquiring one. */
  gpu?: Gpu;
  /** Prints a line for the user (notes such as the in-memory conversion). */
  say(line: string): void;
}

export class Detector {
  private constructor(private readonly d: PipelineDetector) {}

  static async open(opts: DetectorOptions): Promise<Detector> {
    const { steps, feature, antialias, antialiasGiven } = opts.dnf;
    const d = await createDetector(
      {
        unet: opts.unet?.path, classifier: opts.classifier, gpu: opts.gpu, backend: opts.backend, batch: opts.batch,
        steps, feature, antialias, onNote: opts.say,
      },
      { unetChoice: opts.unet ?? undefined, antialiasGiven: !!antialiasGiven, antialiasName: (on) => (on ? '--antialias' : '--no-antialias') },
    );
    return new Detector(d);
  }

  get gpu(): Gpu {
    return this.d.gpu;
  }

  /** Images per batch: --batch, else the UNet's default (DEFAULT_MAX_BATCH for DNF inputs); dnfs() and classify() run theirs in batches of this. */
  batchSize(): number {
    return this.d.batchSize();
  }

  describe(): string {
    return this.d.describe();
  }

  /** The quantised DNFs of decoded images (needs the UNet). */
  dnfs(images: RgbImage[]): Promise<RgbImage[]> {
    return this.d.dnf(images);
  }

  classify(dnfs: RgbImage[]): Promise<Verdict[]> {
    return this.d.classify(dnfs);
  }

  dispose(): Promise<void> {
    return this.d.dispose();
  }
}
