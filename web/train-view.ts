/**
 * The Train view: mounted into its tab's section the first time the tab is shown. This one only
 * says that training in the page is coming; `opts.useClassifier` hands a trained classifier to
 * the Detect view.
 */
import type { Gpu } from '../src/index.js';

export interface TrainViewOptions {
  /** The page's GPU, once acquired (null before, or without WebGPU). */
  getGpu: () => Gpu | null;
  /** Makes the Detect view use these classifier weights (safetensors or .pth bytes) as if picked from disk. */
  useClassifier: (bytes: Uint8Array, name: string) => void;
}

export function mountTrainView(root: HTMLElement, _opts: TrainViewOptions): void {
  const p = document.createElement('p');
  p.textContent = 'Training: coming.';
  root.replaceChildren(p);
}
