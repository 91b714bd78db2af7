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

/** The longest message line printed: file contents (tensor names, numbers) can make messages huge. */
export const MAX_LINE_LENGTH = 500;

/**
 * `message` as one line of at most `max` characters: line breaks become spaces, and a longer line
 * keeps its start (the file's name) and its end (the fix) around " ... ".
 */
export function oneLine(message: string, max = MAX_LINE_LENGTH): string {
  const line = message.replace(/\s*\n\s*/g, ' ');
  if (line.length <= max) return line;
  const tail = Math.floor(max / 3);
  return `${line.slice(0, max - tail - 5)} ... ${line.slice(line.length - tail)}`;
}
