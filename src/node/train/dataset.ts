/**
 * The images of a training or validation root for `dnf train`, in the layouts `dnf eval` reads
 * (src/node/eval-layout.ts: 0_real/1_fake at any depth, CNNDetection's class nesting, GenImage's
 * nature/ai), labelled 0 (real) and 1 (generated).
 *
 * Order: torchvision ImageFolder's, extended to several subsets as CNNDetection's ConcatDataset
 * of one ImageFolder per class folder: subsets sorted by name; within a subset the real images,
 * then the generated ones (ImageFolder's class order for 0_real/1_fake; for GenImage's folders it
 * would put 'ai' first and label it 0, which is why the label comes from the folder name here);
 * within a class torchvision's make_dataset order: files grouped by folder, folders in sorted
 * order of their path, file names sorted within a folder. `--no-shuffle` batches follow this order,
 * so a run can be reproduced step for step in PyTorch. (Strings compare by UTF-16 code unit, which
 * equals Python's code point order for every name outside the astral planes.)
 */
import { createHash } from 'node:crypto';
import { DnfError } from '../../errors.js';
import type { TrainItem } from '../../train/batches.js';
import { imageFolderCompare } from '../../train/train-set.js';
import { IMAGE_EXTENSIONS } from '../batch/inputs.js';
import { findEvalSets } from '../eval-layout.js';

export type { TrainItem } from '../../train/batches.js';

export interface TrainSet {
  root: string;
  items: TrainItem[];
  real: number;
  fake: number;
  subsets: string[];
  /** Images outside class folders, left out. */
  outside: number;
  /** Folders of the other split left out (val/test beside train, or train beside val/test). */
  skipped: string[];
  /** sha256 over the labelled relative paths in order: a resumed run checks its data did not change. */
  fingerprint: string;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The labelled images of `root` in ImageFolder's order; a one-line DnfError (exit 2) when a class is empty. */
export async function findTrainSet(root: string, role: 'train' | 'val', exclude: readonly string[] = []): Promise<TrainSet> {
  const purpose = role === 'train' ? 'train takes the root folder of a training set' : '--val takes the root folder of a validation set';
  const layout = await findEvalSets(root, IMAGE_EXTENSIONS, exclude, role === 'train' ? 'train' : 'eval', purpose);
  const subsets = layout.subsets.map((s) => s.name).sort(cmp);
  const items: TrainItem[] = [];
  for (const name of subsets) {
    const subset = layout.subsets.find((s) => s.name === name)!;
    for (const label of [0, 1] as const) {
      items.push(...subset.items.filter((it) => it.label === label).map((it) => ({ path: it.path, rel: it.rel, subset: name, label })).sort(imageFolderCompare));
    }
  }
  const real = items.filter((it) => it.label === 0).length;
  const fake = items.length - real;
  const flag = role === 'train' ? 'the training root' : '--val';
  if (!real) throw new DnfError(`${root}: no real images (0_real or nature folders) in ${flag}; training needs both classes`);
  if (!fake) throw new DnfError(`${root}: no generated images (1_fake or ai folders) in ${flag}; training needs both classes`);
  const hash = createHash('sha256');
  for (const it of items) hash.update(`${it.label}\0${it.rel}\n`);
  return { root, items, real, fake, subsets, outside: layout.outside, skipped: layout.skippedTrain, fingerprint: hash.digest('hex').slice(0, 16) };
}
