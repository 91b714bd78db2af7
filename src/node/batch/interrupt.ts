/**
 * Ctrl-C for batch jobs: the first SIGINT aborts a signal, so the job stops after the batch in
 * flight, writes no half files and prints its summary; a second SIGINT quits at once (exit 130;
 * a temp file being written then is removed by the next run, see removeStaleTemps).
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
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    say(`interrupted; finishing the current batch (press Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}
