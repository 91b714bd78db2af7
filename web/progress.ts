/**
 * The progress line under the form: a bar (determinate with a total, else indeterminate) and a
 * sentence. Byte counts read as "<what>: 12.3 MB of 455.2 MB".
 */
import type { OnProgress } from './sources.js';

const box = document.getElementById('progress')!;
const bar = document.getElementById('bar') as HTMLProgressElement;
const text = document.getElementById('progress-text')!;

export const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Shows a progress line; without a total the bar is indeterminate. */
export function showProgress(line: string, done = 0, total = 0): void {
  box.hidden = false;
  text.textContent = line;
  if (total > 0) {
    bar.max = total;
    bar.value = done;
  } else {
    bar.removeAttribute('value');
  }
}

/** Reports bytes as "<what>: 12.3 MB of 455.2 MB". */
export const byteProgress = (what: string): OnProgress => (done, total) => showProgress(`${what}: ${mb(done)}${total ? ` of ${mb(total)}` : ''}`, done, total);
