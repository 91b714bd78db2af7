/**
 * Ctrl-C for batch jobs: the first SIGINT aborts a signal, so the job stops after the batch in
 * flight, writes no half files and prints its summary; a second SIGINT quits at once.
 *
 * "At once" must not depend on the JavaScript thread: a GPU call (a submit on a CPU adapter, a
 * shader compile) can hold it for seconds, and a JavaScript handler would only run after. So the
 * first SIGINT also removes the handler, and the second meets the default action: the kernel ends
 * the process on the spot (status 130 in a shell). A temp file being written then is removed by
 * the next run (see removeStaleTemps).
 *
 * The acknowledgement of the first SIGINT has the same problem: printed from here it would wait
 * for the GPU call to return (measured ~2 s with the LSUN UNet on llvmpipe). Under the `dnf`
 * supervisor (src/node/supervisor.ts), whose thread is always free, the line is handed over when
 * the handler is installed and the supervisor prints it the moment the signal arrives; this
 * process then stays silent. Unsupervised (a library caller, DNF_STDERR_FILTER=0) it prints the
 * line itself, as soon as it can.
 */
import { announceSigintNotice } from '../supervisor.js';

export interface Interrupt {
  /** Aborted by the first SIGINT. */
  signal: AbortSignal;
  /** Removes the SIGINT handler (Ctrl-C then kills the process again). */
  dispose(): void;
}

/** The acknowledgement of the first Ctrl-C. */
export const SIGINT_NOTICE = 'stopping after the current batch; Ctrl-C again to quit now';

/**
 * Installs the handler; `say` prints the one-line notice (e.g. Progress.message, which starts it
 * with `label`: the supervisor prints `<label>: <notice>` likewise).
 */
export function interruptOnSigint(say: (line: string) => void, label = 'dnf'): Interrupt {
  const controller = new AbortController();
  const supervised = announceSigintNotice(`${label}: ${SIGINT_NOTICE}`);
  const onSigint = () => {
    process.off('SIGINT', onSigint); // the next SIGINT takes the default action
    if (controller.signal.aborted) return;
    controller.abort();
    if (!supervised) say(SIGINT_NOTICE);
  };
  process.on('SIGINT', onSigint);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSigint);
      if (supervised) announceSigintNotice(null);
    },
  };
}
