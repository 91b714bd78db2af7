/**
 * What the page saves: the results as CSV or JSON lines, in the fields and formatting of
 * `dnf detect --csv` / `--json` ({file, prob, logit, label} per classified image, {file, error}
 * per failure; an image computed without a classifier has its file only), and the 8-bit DNFs
 * as a zip of lossless PNGs named `<image name without extension>.dnf.png`.
 */
import { zipSync } from 'fflate';
import { labelOf } from '../src/index.js';
import { csvLine } from '../src/cli/text-output.js';
import { encodePng } from './png.js';
import type { PageResult } from './result.js';

/** One result as `dnf detect --json` writes it. */
export function detectRow(r: PageResult, threshold: number): Record<string, string | number> {
  if (r.error !== undefined) return { file: r.name, error: r.error };
  if (r.prob === undefined) return { file: r.name };
  return { file: r.name, prob: r.prob, logit: r.logit!, label: labelOf(r.prob, threshold) };
}

export const CSV_FIELDS = ['file', 'prob', 'logit', 'label', 'error'] as const;

export function resultsCsv(results: readonly PageResult[], threshold: number): string {
  const rows = results.map((r) => {
    const row = detectRow(r, threshold);
    return csvLine(CSV_FIELDS.map((f) => row[f] ?? null));
  });
  return [csvLine([...CSV_FIELDS]), ...rows].join('\n') + '\n';
}

export function resultsJsonLines(results: readonly PageResult[], threshold: number): string {
  return results.map((r) => JSON.stringify(detectRow(r, threshold)) + '\n').join('');
}

/** The PNG name of each DNF; a second image with the same stem keeps its extension ('a.bmp.dnf.png'). */
export function dnfFileNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const stem = `${name.replace(/\.[^.]*$/, '')}.dnf.png`;
    let pick = taken.has(stem) ? `${name}.dnf.png` : stem;
    for (let k = 2; taken.has(pick); k++) pick = `${name}-${k}.dnf.png`;
    taken.add(pick);
    return pick;
  });
}

/** A zip (stored: PNGs are compressed already) of every result's 8-bit DNF. */
export async function dnfZip(results: readonly PageResult[]): Promise<Uint8Array> {
  const done = results.filter((r) => r.dnfImage);
  const names = dnfFileNames(done.map((r) => r.name));
  const entries: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const [i, r] of done.entries()) entries[names[i]] = [await encodePng(r.dnfImage!), { level: 0 }];
  return zipSync(entries);
}

/** Saves `data` as a download named `name`. */
export function saveFile(name: string, data: BlobPart, type: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([data], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
