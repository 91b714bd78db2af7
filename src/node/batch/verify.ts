/**
 * The check at the end of a distributed run (`dnf extract --verify`): every output that the inputs
 * and options call for exists and is complete (plan.ts isCompleteOutput). It reads the output
 * folder only: no file is written or removed, and no model or GPU is needed, so it runs anywhere
 * the shared folder is mounted.
 */
import { lstat } from 'node:fs/promises';
import type { InputItem } from './inputs.js';
import { isCompleteOutput, nameOutputs, type PlannedItem } from './plan.js';

export interface VerifyReport {
  /** Outputs checked. */
  expected: number;
  /** Outputs that do not exist. */
  missing: PlannedItem[];
  /** Outputs that exist but are not complete (empty, cut short, a bad header). */
  incomplete: PlannedItem[];
}

/** Outputs looked at once: enough to hide a network file system's latency, few enough for its server. */
const CONCURRENCY = 32;

/**
 * Checks the outputs of `items` (named as a run over all of them names them; `select` narrows the
 * check to a shard's). Throws a DnfError (exit 2) when the inputs' names clash beyond repair.
 */
export async function verifyOutputs(
  items: readonly InputItem[],
  outDir: string,
  ext: string,
  options: { keepExt?: boolean; select?: (item: InputItem) => boolean } = {},
): Promise<VerifyReport> {
  const all = nameOutputs(items, outDir, ext, options.keepExt).planned;
  const planned = options.select ? all.filter(options.select) : all;
  const state: Array<'ok' | 'missing' | 'incomplete'> = new Array(planned.length);
  let next = 0;
  const worker = async () => {
    while (next < planned.length) {
      const i = next++;
      state[i] = (await isCompleteOutput(planned[i].output)) ? 'ok' : (await exists(planned[i].output)) ? 'incomplete' : 'missing';
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, planned.length) }, worker));
  return {
    expected: planned.length,
    missing: planned.filter((_, i) => state[i] === 'missing'),
    incomplete: planned.filter((_, i) => state[i] === 'incomplete'),
  };
}

const exists = (path: string): Promise<boolean> => lstat(path).then(() => true, () => false);

/**
 * The report as lines: one per missing or incomplete output (naming its input), at most `show`,
 * then a count of the rest, and a last line with the totals.
 */
export function verifyLines(label: string, r: VerifyReport, show = 20): string[] {
  const bad = [
    ...r.missing.map((p) => `${label}: missing ${p.output} (from ${p.path})`),
    ...r.incomplete.map((p) => `${label}: incomplete ${p.output} (from ${p.path})`),
  ];
  const lines = bad.slice(0, show);
  if (bad.length > show) lines.push(`${label}: ... and ${bad.length - show} more missing or incomplete`);
  const ok = r.expected - bad.length;
  lines.push(
    bad.length === 0
      ? `${label}: verified: all ${r.expected} outputs complete`
      : `${label}: verified: ${ok} of ${r.expected} outputs complete, ${r.missing.length} missing, ${r.incomplete.length} incomplete; run the same extract again to finish them`,
  );
  return lines;
}
