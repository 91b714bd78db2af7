/**
 * A failure the user can act on: one sentence naming the file (if any) and the fix.
 * The CLI prints `message` alone (no stack trace unless --verbose) and exits with `exitCode`:
 * 2 for usage or setup errors, 1 for failed inputs.
 */
export class DnfError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 2) {
    super(message);
    this.name = 'DnfError';
  }
}

/** Throws a DnfError when `cond` is false. */
export function ensure(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new DnfError(typeof message === 'function' ? message() : message);
}
