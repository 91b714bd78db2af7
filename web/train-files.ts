/**
 * The images of the Train view, from folders picked (`<input type=file webkitdirectory>`) or
 * dropped (DataTransferItem.webkitGetAsEntry, read recursively), as the labelled items of a
 * training set in `dnf train`'s order.
 *
 * A folder of real images and a folder of generated images stand for a root's `0_real` and
 * `1_fake`: each file's path inside its folder becomes `0_real/<path>` or `1_fake/<path>`, and the
 * items are sorted as src/node/train/dataset.ts sorts a root (src/train/train-set.ts), so the same
 * files train in the same order as `dnf train ROOT` on a folder holding the two as 0_real and
 * 1_fake. Hidden files are skipped and only the extensions of the shared format list (src/image/formats.ts) kept, as `dnf train` does.
 *
 * Source images (`dnf train --images`): Node trains on the DNFs that extract writes into its cache
 * folder, named as extract names them (src/node/batch/plan.ts: the extension replaced by .png, kept
 * before it where two inputs of a folder differ only in their extension), and orders the set by
 * those names; dnfItems gives the page's items the same names and order. (Names are compared as
 * Linux compares them, case and all.)
 */
import type { TrainItem } from '../src/train/batches.js';
import { IMAGE_EXTENSIONS } from '../src/image/formats.js';
import { imageFolderOrder } from '../src/train/train-set.js';

/** A picked file and its path inside the picked folder ('a.png', 'sub/b.png'). */
export interface PickedFile {
  file: File;
  inner: string;
}

export interface PageItem extends TrainItem {
  file: File;
}

const extOf = (name: string) => name.slice(name.lastIndexOf('.') + 1).toLowerCase();
/** Whether `dnf train` would collect this path: no hidden part, an image extension. */
export const isImage = (inner: string) => {
  const parts = inner.split('/');
  return !parts.some((p) => p.startsWith('.')) && IMAGE_EXTENSIONS.includes(extOf(parts.at(-1)!));
};

/** The files of a folder input: webkitRelativePath without the folder's own name. */
export function pickedFiles(files: FileList | readonly File[]): PickedFile[] {
  return Array.from(files, (file) => {
    const rel = file.webkitRelativePath || file.name;
    const i = rel.indexOf('/');
    return { file, inner: file.webkitRelativePath && i >= 0 ? rel.slice(i + 1) : rel };
  });
}

const readEntries = (reader: FileSystemDirectoryReader) => new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
const fileOf = (entry: FileSystemFileEntry) => new Promise<File>((resolve, reject) => entry.file(resolve, reject));

/** The files below a dropped folder, with paths inside it. */
async function folderFiles(dir: FileSystemDirectoryEntry, prefix: string, out: PickedFile[]): Promise<void> {
  const reader = dir.createReader();
  // readEntries hands out a folder's entries in chunks (100 in Chromium) until it returns none.
  for (let chunk = await readEntries(reader); chunk.length; chunk = await readEntries(reader)) {
    for (const e of chunk) {
      if (e.isFile) out.push({ file: await fileOf(e as FileSystemFileEntry), inner: prefix + e.name });
      else await folderFiles(e as FileSystemDirectoryEntry, `${prefix}${e.name}/`, out);
    }
  }
}

/** The files of a drop (folders read recursively, loose files at the top) and the first folder's name. */
export async function droppedFiles(data: DataTransfer): Promise<{ files: PickedFile[]; folder: string | null }> {
  const entries = Array.from(data.items, (it) => it.webkitGetAsEntry()).filter((e): e is FileSystemEntry => !!e);
  if (!entries.length) return { files: pickedFiles(Array.from(data.files)), folder: null };
  const files: PickedFile[] = [];
  for (const e of entries) {
    if (e.isFile) files.push({ file: await fileOf(e as FileSystemFileEntry), inner: e.name });
    else await folderFiles(e as FileSystemDirectoryEntry, '', files);
  }
  return { files, folder: entries.find((e) => e.isDirectory)?.name ?? null };
}

/** The training items of a real and a generated folder, in `dnf train`'s order; `folder` names them in messages. */
export function labelledItems(real: readonly PickedFile[], fake: readonly PickedFile[], folders: { real: string; fake: string }): PageItem[] {
  const items = ([[real, 0, '0_real', folders.real], [fake, 1, '1_fake', folders.fake]] as const).flatMap(([files, label, cls, folder]) =>
    files.filter((f) => isImage(f.inner)).map((f) => ({ file: f.file, path: `${folder}/${f.inner}`, rel: `${cls}/${f.inner}`, subset: '', label })));
  return imageFolderOrder(items);
}

/** The picked folder's name (the first part of webkitRelativePath), or a fallback. */
export function folderName(files: readonly PickedFile[], fallback: string): string {
  const rel = files[0]?.file.webkitRelativePath;
  return rel && rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : fallback;
}

/** `rel` with its extension replaced by `.png`, or kept before it (`a.bmp` -> `a.bmp.png`). */
const pngName = (rel: string, keepExt: boolean) => {
  const dot = rel.lastIndexOf('.');
  return `${keepExt || dot <= rel.lastIndexOf('/') ? rel : rel.slice(0, dot)}.png`;
};

/**
 * The DNF items of source items: each named as extract names its DNF in `dnf train --images`'s
 * cache (plain `.png`, the source extension kept where plain names clash), and in `dnf train`'s
 * order of those names. `keep` says which items have a DNF (the others are left out; a clash is
 * decided over all of them, as extract plans its outputs before computing any).
 */
export function dnfItems<T extends PageItem>(items: readonly T[], keep: (item: T) => boolean): T[] {
  const uses = new Map<string, number>();
  for (const it of items) uses.set(pngName(it.rel, false), (uses.get(pngName(it.rel, false)) ?? 0) + 1);
  const renamed = items.filter(keep).map((it) => ({ ...it, rel: pngName(it.rel, uses.get(pngName(it.rel, false))! > 1) }));
  return imageFolderOrder(renamed);
}
