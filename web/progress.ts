/**
 * The progress line under the form: a bar (determinate with a total, else indeterminate) and a
 * sentence. Byte counts read as "<what>: 12.3 MB of 455.2 MB".
 *
 * It is also where a Cancel request stops a model download or read: the engine's loaders report
 * every chunk here, so while a request stands each report throws Cancelled, which ends the load
 * at its next chunk. (Between images the run itself checks the request.)
 */
import type { OnProgress } from './sources.js';

const box = document.getElementById('progress')!;
const bar = document.getElementById('bar') as HTMLProgressElement;
const text = document.getElementById('progress-text')!;

export const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Thrown by a progress report while a Cancel request stands. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

let cancelRequested = false;

/** Asks the run in flight to stop at its next progress report or image. */
export function requestCancel(): void {
  cancelRequested = true;
}

/** Whether Cancel was asked for since the run began; `reset` starts a new run. */
export function cancelled(reset = false): boolean {
  const was = cancelRequested;
  if (reset) cancelRequested = false;
  return was;
}

/** Shows a progress line; without a total the bar is indeterminate. Throws Cancelled when asked to stop. */
export function showProgress(line: string, done = 0, total = 0): void {
  if (cancelRequested) throw new Cancelled();
  box.hidden = false;
  text.textContent = line;
  if (total > 0) {
    bar.max = total;
    bar.value = done;
  } else {
    bar.removeAttribute('value');
  }
}

/** A last line with a full bar, shown whatever was asked (the run is over). */
export function finalProgress(line: string): void {
  box.hidden = false;
  text.textContent = line;
  bar.max = 1;
  bar.value = 1;
}

/** Hides the line and forgets its text (no stale "Loading…" after a failure). */
export function hideProgress(): void {
  box.hidden = true;
  text.textContent = '';
  bar.removeAttribute('value');
}

/** Reports bytes as "<what>: 12.3 MB of 455.2 MB". */
export const byteProgress = (what: string): OnProgress => (done, total) => showProgress(`${what}: ${mb(done)}${total ? ` of ${mb(total)}` : ''}`, done, total);
