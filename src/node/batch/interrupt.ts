/**
 * Ctrl-C for batch jobs: the first SIGINT aborts a signal, so the job stops after the batch in
 * flight, writes no half files and prints its summary; a second SIGINT quits at once.
 *
 * "At once" must not depend on the JavaScript thread: a GPU call (a submit on a CPU adapter, a
 * shader compile) can hold it for seconds, and a JavaScript handler would only run after. So the
 * first SIGINT also removes the handler, and the second meets the default action: the kernel ends
 * the process on the spot (status 130 in a shell). A temp file being written then is removed by
 * the next run (see removeStaleTemps).
 */

export interface Interrupt {
  /** Aborted by the first SIGINT. */
  signal: AbortSignal;
  /** Removes the SIGINT handler (Ctrl-C then kills the process again). */
  dispose(): void;
}

/** Installs the handler; `say` prints the one-line notice (e.g. Progress.message). */
export function interruptOnSigint(say: (line: string) => void): Interrupt {
  const controller = new AbortController();
  const onSigint = () => {
    process.off('SIGINT', onSigint); // the next SIGINT takes the default action
    if (controller.signal.aborted) return;
    controller.abort();
    say(`interrupted; finishing the current batch (press Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}
