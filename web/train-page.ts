/**
 * web/train.html: the Train view on a page of its own (the main page mounts the same view behind
 * its "Detect | Train" tab). The trained classifier handed to "Use in Detect" is kept in
 * window.dnfUsedClassifier, for scripts and the browser test.
 *
 * body[data-state] is 'starting', then 'ready' (a GPU was found) or 'unavailable'.
 */
import { acquireBrowserGpu } from '../src/gpu/acquire-browser.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { mountTrainView } from './train-view.js';

declare global {
  interface Window {
    dnfUsedClassifier?: { bytes: Uint8Array; name: string };
  }
}

let gpu: Gpu | null = null;
const adapter = document.getElementById('adapter')!;
mountTrainView(document.getElementById('train-view')!, {
  getGpu: () => gpu,
  useClassifier: (bytes, name) => {
    window.dnfUsedClassifier = { bytes, name };
  },
});
acquireBrowserGpu().then(
  (g) => {
    gpu = g;
    const d = g.describe().adapter;
    adapter.textContent = `GPU: ${d.vendor} ${d.architecture || d.device || ''}`.trim();
    document.body.dataset.state = 'ready';
  },
  (e: unknown) => {
    adapter.textContent = e instanceof Error ? e.message : String(e);
    document.body.dataset.state = 'unavailable';
  },
);
