/**
 * The layout of an evaluation root (reference section 5): one folder per subset (a generator),
 * each holding real and generated images in class folders:
 *   CNNDetection:  <root>/<subset>/0_real, <root>/<subset>/1_fake, or nested by object class,
 *                  <root>/<subset>/<class>/0_real ... (class folders at any depth are found);
 *   GenImage:      <root>/<subset>/.../nature (real) and .../ai (generated).
 * When the root itself holds class folders, it is the one subset. Images below a class folder
 * count at any depth; images outside class folders are left out (and counted). A `train` folder
 * beside a `val` or `test` folder is a training split (GenImage ships both): evaluation skips it,
 * and training (split 'train') skips the `val` and `test` folders beside a `train` folder instead.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { DnfError } from '../errors.js';
import type { BinaryLabel } from '../metrics.js';
import { collectInputs, type InputItem } from './batch/inputs.js';

/** Class folder names and their labels (0 real, 1 generated). */
export const CLASS_FOLDERS: Readonly<Record<string, BinaryLabel>> = { '0_real': 0, '1_fake': 1, nature: 0, ai: 1 };

/** An image of the test set; `rel` is relative to the root (the path extract mirrors). */
export interface EvalItem extends InputItem {
  subset: string;
  label: BinaryLabel;
}

export interface EvalSubset {
  name: string;
  items: EvalItem[];
}

export interface EvalLayout {
  subsets: EvalSubset[];
  /** Images outside any class folder, left out. */
  outside: number;
  /** Folders of the other split skipped (relative to the root): `train` for eval, `val`/`test` for training. */
  skippedTrain: string[];
}

/** Which split a root is read for: evaluation skips training folders, training skips val/test. */
export type Split = 'eval' | 'train';

const OTHER_SPLIT: Record<Split, { skip: readonly string[]; beside: readonly string[] }> = {
  eval: { skip: ['train'], beside: ['val', 'test'] },
  train: { skip: ['val', 'test'], beside: ['train'] },
};

const isClass = (name: string) => Object.hasOwn(CLASS_FOLDERS, name);

const EXPECTED = 'expected <root>/<subset>/0_real and <root>/<subset>/1_fake (class folders may be nested, e.g. <subset>/<class>/0_real), or GenImage\'s <subset>/.../nature and .../ai';

/** Finds the subsets and labelled images under `root` (image files with `exts`; folders in `exclude` skipped). */
export async function findEvalSets(root: string, exts: readonly string[], exclude: readonly string[] = [], split: Split = 'eval', purpose = split === 'eval' ? 'eval takes the root folder of a test set' : 'train takes the root folder of a training set'): Promise<EvalLayout> {
  const st = await stat(root).catch(() => null);
  const what = purpose;
  if (!st?.isDirectory()) throw new DnfError(`${root}: ${st ? 'not a folder' : 'no such folder'}; ${what} (${EXPECTED})`);
  const other = OTHER_SPLIT[split];
  const rootIsSubset = (await readdir(root, { withFileTypes: true })).some((e) => isClass(e.name) && (e.isDirectory() || e.isSymbolicLink()));
  const all = await collectInputs([root], exts, { exclude });
  // Every folder that holds images, to tell a training split from its val/test sibling.
  const dirs = new Set(all.flatMap((it) => it.rel.split('/').slice(0, -1).map((_, i, segs) => segs.slice(0, i + 1).join('/'))));

  const layout: EvalLayout = { subsets: [], outside: 0, skippedTrain: [] };
  const bySubset = new Map<string, EvalSubset>();
  const skipped = new Set<string>();
  for (const item of all) {
    const folders = item.rel.split('/').slice(0, -1);
    const first = rootIsSubset ? 0 : 1;
    const subset = rootIsSubset ? basename(resolve(root)) : folders[0];
    let label: BinaryLabel | undefined;
    let train = false;
    for (let i = first; i < folders.length && label === undefined; i++) {
      const parent = folders.slice(0, i).join('/');
      const sibling = (name: string) => dirs.has(parent ? `${parent}/${name}` : name);
      if (other.skip.includes(folders[i]) && other.beside.some(sibling)) {
        train = true;
        skipped.add(folders.slice(0, i + 1).join('/'));
        break;
      }
      if (isClass(folders[i])) label = CLASS_FOLDERS[folders[i]];
    }
    if (train) continue;
    if (label === undefined || subset === undefined) {
      layout.outside++;
      continue;
    }
    if (!bySubset.has(subset)) {
      const s: EvalSubset = { name: subset, items: [] };
      bySubset.set(subset, s);
      layout.subsets.push(s);
    }
    bySubset.get(subset)!.items.push({ ...item, subset, label });
  }
  layout.skippedTrain = [...skipped];
  if (!layout.subsets.length) {
    throw new DnfError(`${root}: no images in 0_real/1_fake (CNNDetection) or nature/ai (GenImage) folders (${all.length} images elsewhere); ${EXPECTED}`);
  }
  return layout;
}
