/**
 * The Train view's training sets (web/train-files.ts on src/train/train-set.ts) against `dnf
 * train`'s (src/node/train/dataset.ts): the same files, given as a picked real folder and a picked
 * generated folder, come in the same order with the same labels, relative paths and fingerprint as
 * the root holding them as 0_real and 1_fake, nested folders and names that sort differently by
 * code unit and by number included; hidden and non-image files are left out as Node leaves them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findTrainSet } from '../src/node/train/dataset.js';
import { setFingerprint } from '../src/train/train-set.js';
import { labelledItems, pickedFiles, type PickedFile } from '../web/train-files.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const REAL = ['b.png', 'a/x.png', 'a b/y.png', '10.png', '9.png', 'B.png', 'sub/deeper/z.webp', '.hidden.png', 'notes.txt', '.cache/q.png'];
const FAKE = ['2.png', '1.png', 'a/1.png', 'c.PNG', 'Z.jpg'];

describe("the Train view's sets", () => {
  it("order, label and fingerprint picked folders as dnf train does the root holding them", async () => {
    const root = await mkdtemp(join(tmpdir(), 'dnf-trainview-set-'));
    dirs.push(root);
    for (const [cls, names] of [['0_real', REAL], ['1_fake', FAKE]] as const) {
      for (const n of names) {
        await mkdir(join(root, cls, n, '..'), { recursive: true });
        await writeFile(join(root, cls, n), '');
      }
    }
    const node = await findTrainSet(root, 'train');
    // As a folder input gives them: webkitRelativePath starts with the picked folder's name, in no particular order.
    const picked = (folder: string, names: string[]): PickedFile[] =>
      [...names].reverse().map((n) => pickedFiles([Object.assign(new File([], n.split('/').at(-1)!), { webkitRelativePath: `${folder}/${n}` })])[0]);
    const page = labelledItems(picked('mine', REAL), picked('gen', FAKE), { real: 'mine', fake: 'gen' });
    expect(page.map((it) => [it.rel, it.label])).toEqual(node.items.map((it) => [it.rel, it.label]));
    expect(page.map((it) => it.path).slice(0, 2)).toEqual(['mine/10.png', 'mine/9.png']);
    expect(page).toHaveLength(REAL.length - 3 + FAKE.length);
    expect(await setFingerprint(page)).toBe(node.fingerprint);
  });
});
