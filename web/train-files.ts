/**
 * The images of the Train view, from folders picked (`<input type=file webkitdirectory>`) or
 * dropped (DataTransferItem.webkitGetAsEntry, read recursively), as the labelled items of a
 * training set in `dnf train`'s order.
 *
 * A folder of real images and a folder of generated images stand for a root's `0_real` and
 * `1_fake`: each file's path inside its folder becomes `0_real/<path>` or `1_fake/<path>`, and the
 * items are sorted as src/node/train/dataset.ts sorts a root (src/train/train-set.ts), so the same
 * files train in the same order as `dnf train ROOT` on a folder holding the two as 0_real and
 * 1_fake. Hidden files are skipped and only image extensions kept, as `dnf train` does.
 */
import type { TrainItem } from '../src/train/batches.js';
import { imageFolderOrder } from '../src/train/train-set.js';

/** The extensions `dnf train` collects (src/node/batch/inputs.ts's IMAGE_EXTENSIONS). */
export const TRAIN_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'tif', 'tiff', 'bmp', 'avif'] as const;

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
  return !parts.some((p) => p.startsWith('.')) && (TRAIN_EXTENSIONS as readonly string[]).includes(extOf(parts.at(-1)!));
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
