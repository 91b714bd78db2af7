/**
 * Subsets and labels of evaluation roots (src/node/eval-layout.ts): CNNDetection's
 * <subset>/0_real|1_fake, nested by object class, the root as its own subset, GenImage's
 * nature|ai with a training split beside val, images outside class folders, and the messages for
 * roots that hold no images or no class folders. Files are empty: only names matter here.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_EXTENSIONS } from '../src/node/batch/inputs.js';
import { findEvalSets, type EvalLayout } from '../src/node/eval-layout.js';

let tmp: string;

async function tree(name: string, files: string[]): Promise<string> {
  const root = join(tmp, name);
  for (const f of files) {
    await mkdir(dirname(join(root, f)), { recursive: true });
    if (!f.endsWith('/')) await writeFile(join(root, f), '');
  }
  await mkdir(root, { recursive: true });
  return root;
}

/** subset -> [rel, label] pairs. */
const summary = (l: EvalLayout) => Object.fromEntries(l.subsets.map((s) => [s.name, s.items.map((it) => [it.rel, it.label])]));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dnf-eval-layout-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('findEvalSets', () => {
  it('CNNDetection: one subset per folder, class folders direct or nested by object class', async () => {
    const root = await tree('cnn', [
      'biggan/0_real/a.png', 'biggan/1_fake/b.png', 'biggan/1_fake/deeper/c.jpg',
      'progan/airplane/0_real/d.png', 'progan/airplane/1_fake/e.png', 'progan/cat/1_fake/f.png',
      'progan/notes/g.png', 'readme.png', 'biggan/.hidden/h.png', 'biggan/1_fake/text.txt',
    ]);
    const layout = await findEvalSets(root, IMAGE_EXTENSIONS);
    expect(summary(layout)).toEqual({
      biggan: [['biggan/0_real/a.png', 0], ['biggan/1_fake/b.png', 1], ['biggan/1_fake/deeper/c.jpg', 1]],
      progan: [['progan/airplane/0_real/d.png', 0], ['progan/airplane/1_fake/e.png', 1], ['progan/cat/1_fake/f.png', 1]],
    });
    expect(layout.outside).toBe(2); // progan/notes/g.png and readme.png
    expect(layout.subsets[0].items[0]).toMatchObject({ path: join(root, 'biggan/0_real/a.png'), subset: 'biggan' });
  });

  it('a root that holds the class folders itself is its one subset', async () => {
    const root = await tree('stylegan', ['0_real/a.png', '1_fake/b.png', 'car/0_real/c.png']);
    expect(summary(await findEvalSets(root, IMAGE_EXTENSIONS))).toEqual({
      stylegan: [['0_real/a.png', 0], ['1_fake/b.png', 1], ['car/0_real/c.png', 0]],
    });
  });

  it('GenImage: nature is real, ai generated; a train split beside val is skipped', async () => {
    const root = await tree('genimage', [
      'sdv4/train/ai/a.png', 'sdv4/train/nature/b.png', 'sdv4/val/ai/c.png', 'sdv4/val/nature/d.jpg',
      'mj/val/ai/e.png', 'mj/val/nature/f.png', 'wukong/train/ai/g.png',
    ]);
    const layout = await findEvalSets(root, IMAGE_EXTENSIONS);
    expect(summary(layout)).toEqual({
      mj: [['mj/val/ai/e.png', 1], ['mj/val/nature/f.png', 0]],
      sdv4: [['sdv4/val/ai/c.png', 1], ['sdv4/val/nature/d.jpg', 0]],
      wukong: [['wukong/train/ai/g.png', 1]], // no val beside it: kept
    });
    expect(layout.skippedTrain).toEqual(['sdv4/train']);
  });

  it('leaves out the folders given in exclude (a cache inside the root)', async () => {
    const root = await tree('with-cache', ['g/0_real/a.png', 'g/1_fake/b.png', 'cache/g/0_real/a.png']);
    const layout = await findEvalSets(root, IMAGE_EXTENSIONS, [join(root, 'cache')]);
    expect(summary(layout)).toEqual({ g: [['g/0_real/a.png', 0], ['g/1_fake/b.png', 1]] });
  });

  it('says what is wrong with roots that hold no images, no class folders, or are no folder', async () => {
    const empty = await tree('empty', ['g/0_real/', 'g/1_fake/']);
    await expect(findEvalSets(empty, IMAGE_EXTENSIONS)).rejects.toThrow(/^no images found in .*empty \(looked for png, jpg/);
    const flat = await tree('flat', ['g/real/a.png', 'g/fake/b.png']);
    await expect(findEvalSets(flat, IMAGE_EXTENSIONS)).rejects.toThrow(
      /flat: no images in 0_real\/1_fake \(CNNDetection\) or nature\/ai \(GenImage\) folders \(2 images elsewhere\); expected <root>\/<subset>\/0_real/);
    await expect(findEvalSets(join(flat, 'g', 'real', 'a.png'), IMAGE_EXTENSIONS)).rejects.toThrow(/a\.png: not a folder; eval takes the root folder of a test set/);
    await expect(findEvalSets(join(tmp, 'nope'), IMAGE_EXTENSIONS)).rejects.toThrow(/nope: no such folder/);
  });
});
