/**
 * The order of a training set's images, shared by `dnf train` (src/node/train/dataset.ts, which
 * finds the files) and the page's Train view (which gets them picked or dropped): torchvision
 * ImageFolder's make_dataset order within a class (files grouped by folder, folders in sorted order
 * of their path, file names sorted within a folder), real images before generated ones. The same
 * files therefore train in the same order, and with the same seed the same batches, on both.
 * (Strings compare by UTF-16 code unit, which equals Python's code point order for every name
 * outside the astral planes.)
 */
import type { TrainItem } from './batches.js';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** make_dataset's order of the files of one class: by folder path, then by file name. */
export function imageFolderCompare(a: TrainItem, b: TrainItem): number {
  const cut = (rel: string) => {
    const i = rel.lastIndexOf('/');
    return [i < 0 ? '' : rel.slice(0, i), rel.slice(i + 1)];
  };
  const [da, fa] = cut(a.rel);
  const [db, fb] = cut(b.rel);
  return cmp(da, db) || cmp(fa, fb);
}

/** One subset's items in ImageFolder's order: the real ones, then the generated ones. */
export function imageFolderOrder<T extends TrainItem>(items: readonly T[]): T[] {
  return ([0, 1] as const).flatMap((label) => items.filter((it) => it.label === label).sort(imageFolderCompare));
}

/** What `dnf train` hashes into a set's fingerprint (sha256 of this, hex, first 16 digits). */
export function fingerprintText(items: readonly TrainItem[]): string {
  return items.map((it) => `${it.label}\0${it.rel}\n`).join('');
}

/** The set's fingerprint as `dnf train` records it, with the Web Crypto API (browsers and Node). */
export async function setFingerprint(items: readonly TrainItem[]): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(fingerprintText(items)));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('').slice(0, 16);
}
