/**
 * The Train view's source-image sets (web/train-files.ts: dnfItems) against `dnf train --images`:
 * Node trains on the DNFs that extract writes into its cache folder (src/node/batch/plan.ts names
 * them), so the page must give each source image the name of its cached DNF and order the set by
 * those names. The same source files, picked as a real and a generated folder, come out with the
 * relative paths, order, labels and fingerprint of findTrainSet on the cache extract would write,
 * clashing names (a.bmp and a.tiff; c.PNG and c.png), a name whose order changes with its new
 * extension (k.webp after k.png.png as a source, k.png before it as a DNF) and a file whose DNF
 * failed (left out) included.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectInputs, IMAGE_EXTENSIONS } from '../src/node/batch/inputs.js';
import { planOutputs } from '../src/node/batch/plan.js';
import { findTrainSet } from '../src/node/train/dataset.js';
import { setFingerprint } from '../src/train/train-set.js';
import { dnfItems, labelledItems, pickedFiles, type PickedFile } from '../web/train-files.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const REAL = ['a.bmp', 'a.tiff', 'b.jpg', 'b0.png', 'k.webp', 'k.png.png', 'sub/d.webp', 'broken.png'];
const FAKE = ['c.PNG', 'c.png', 'e.jpeg', 'f.gif', 'g.avif', 'x/y.tif'];
/** The source whose DNF could not be computed: extract writes nothing for it. */
const FAILED = '0_real/broken.png';

describe("the Train view's source-image sets", () => {
  it('name and order the DNFs as dnf train --images finds them in its cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dnf-trainview-dnfs-'));
    dirs.push(dir);
    const root = join(dir, 'root');
    const cache = join(dir, 'cache');
    for (const [cls, names] of [['0_real', REAL], ['1_fake', FAKE]] as const) {
      for (const n of names) {
        await mkdir(dirname(join(root, cls, n)), { recursive: true });
        await writeFile(join(root, cls, n), '');
      }
    }
    // What extract writes into the cache: one PNG per source, at the output its plan names.
    const plan = await planOutputs(await collectInputs([root], IMAGE_EXTENSIONS), cache, 'png');
    expect(plan.renamed.map((it) => it.rel).sort()).toEqual(['0_real/a.bmp', '0_real/a.tiff', '1_fake/c.PNG', '1_fake/c.png']);
    for (const it of plan.todo.filter((it) => it.rel !== FAILED)) {
      await mkdir(dirname(it.output), { recursive: true });
      await writeFile(it.output, '');
    }
    const node = await findTrainSet(cache, 'train');

    const picked = (folder: string, names: string[]): PickedFile[] =>
      [...names].reverse().map((n) => pickedFiles([Object.assign(new File([], n.split('/').at(-1)!), { webkitRelativePath: `${folder}/${n}` })])[0]);
    const sources = labelledItems(picked('mine', REAL), picked('gen', FAKE), { real: 'mine', fake: 'gen' });
    const page = dnfItems(sources, (it) => it.rel !== FAILED);
    expect(page.map((it) => [it.rel, it.label])).toEqual(node.items.map((it) => [it.rel, it.label]));
    expect(page.map((it) => it.rel).filter((r) => r.startsWith('0_real/k'))).toEqual(['0_real/k.png', '0_real/k.png.png']);
    // The items keep their source file and path (for messages and for their cached DNF).
    expect(page.find((it) => it.rel === '0_real/a.bmp.png')?.path).toBe('mine/a.bmp');
    expect(await setFingerprint(page)).toBe(node.fingerprint);
  });
});
