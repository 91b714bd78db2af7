/**
 * The training schedule and data order of `dnf train`, without a GPU: early stopping and lr drops
 * against a literal transcription of CNNDetection's EarlyStopping and train.py's loop, seeded
 * shuffles and flips, and ImageFolder's file order (the fixture's order was written by torchvision).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findTrainSet } from '../src/node/train/dataset.js';
import { Rng } from '../src/train/random.js';
import { epochFlips, epochOrder, Schedule } from '../src/train/schedule.js';

/**
 * train.py's loop around CNNDetection's EarlyStopping, transcribed: EarlyStopping(patience,
 * delta=-0.001), on early_stop adjust_learning_rate() (lr /= 10; False when lr < min_lr), then a
 * new EarlyStopping(patience, delta=-0.002).
 */
function reference(scores: number[], lr: number, patience: number, minLr: number): Array<{ lr: number; stop: boolean }> {
  let stopper = { best: null as number | null, counter: 0, delta: -0.001, early: false };
  const out: Array<{ lr: number; stop: boolean }> = [];
  for (const score of scores) {
    if (stopper.best === null) stopper.best = score;
    else if (score < stopper.best - stopper.delta) {
      stopper.counter += 1;
      if (stopper.counter >= patience) stopper.early = true;
    } else {
      stopper.best = score;
      stopper.counter = 0;
    }
    let stop = false;
    if (stopper.early) {
      lr /= 10;
      if (lr < minLr) stop = true;
      else stopper = { best: null, counter: 0, delta: -0.002, early: false };
    }
    out.push({ lr, stop });
    if (stop) break;
  }
  return out;
}

describe('Schedule', () => {
  it('drops lr and stops exactly as train.py with CNNDetection\'s EarlyStopping', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 300; trial++) {
      const patience = 1 + Math.floor(rng.uniform() * 5);
      // Scores on a grid of 0.0005 around plateaus, so that deltas of 0.001/0.002 matter.
      let level = 0.5;
      const scores = Array.from({ length: 60 }, () => {
        if (rng.uniform() < 0.2) level = Math.min(1, level + 0.0005 * Math.floor(rng.uniform() * 6));
        return Math.round((level - 0.0005 * Math.floor(rng.uniform() * 4)) * 2000) / 2000;
      });
      const want = reference(scores, 1e-4, patience, 1e-6);
      const s = Schedule.start(1e-4, patience, 1e-6);
      const got: Array<{ lr: number; stop: boolean }> = [];
      for (const score of scores) {
        const d = s.epochEnd(score);
        got.push({ lr: d === 'stop' ? s.state.lr / 10 : s.state.lr, stop: d === 'stop' });
        if (d === 'stop') break;
      }
      expect(got).toEqual(want);
    }
  });

  it('ends after the lr drops that stay at or above min_lr (1e-4 -> 1e-5 -> 1e-6, then stop)', () => {
    const s = Schedule.start(1e-4, 1, 1e-6);
    // A fresh stopper's first epoch sets its best: every drop is followed by one epoch that continues.
    const decisions = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5].map((v) => s.epochEnd(v));
    expect(decisions).toEqual(['continue', 'lr-dropped', 'continue', 'lr-dropped', 'continue', 'stop']);
    expect(s.state.drops).toBe(2);
    expect(s.state.lr).toBe(1e-4 / 10 / 10);
  });
});

describe('epoch order and flips', () => {
  it('shuffles are seeded permutations, different per epoch and seed, the identity without shuffle', () => {
    const a = epochOrder(1000, 5, 0, true);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(1000).keys()]);
    expect(epochOrder(1000, 5, 0, true)).toEqual(a);
    expect(epochOrder(1000, 5, 1, true)).not.toEqual(a);
    expect(epochOrder(1000, 6, 0, true)).not.toEqual(a);
    expect([...epochOrder(7, 5, 3, false)]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // Every position is equally likely to hold item 0 (chi-square over 2000 epochs, 10 positions).
    const counts = new Array(10).fill(0);
    for (let e = 0; e < 2000; e++) counts[epochOrder(10, 1, e, true).indexOf(0)]++;
    const chi = counts.reduce((s, c) => s + (c - 200) ** 2 / 200, 0);
    expect(chi).toBeLessThan(27.9); // p = 0.001 for 9 degrees of freedom
  });

  it('flips about half the images, seeded, none with --no-flip', () => {
    const f = epochFlips(10000, 2, 4, true);
    const ones = f.reduce((s, v) => s + v, 0);
    expect(Math.abs(ones - 5000)).toBeLessThan(200);
    expect(epochFlips(10000, 2, 4, true)).toEqual(f);
    expect(epochFlips(10000, 2, 5, true)).not.toEqual(f);
    expect(epochFlips(100, 2, 4, false).every((v) => v === 0)).toBe(true);
  });
});

describe('findTrainSet', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('lists the fixture in the order torchvision ImageFolder gave it', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/train-loop/', import.meta.url));
    const golden = JSON.parse(await readFile(join(fixture, 'golden.json'), 'utf8'));
    const set = await findTrainSet(join(fixture, 'train'), 'train');
    expect(set.items.map((it) => `train/${it.rel}`)).toEqual(golden.train_files);
    expect(set.items.map((it) => it.label)).toEqual(golden.train_labels);
  });

  it('orders nested folders as make_dataset (folder paths sorted, then names), subsets sorted, real first', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dnf-trainset-'));
    dirs.push(root);
    const files = ['zebra/1_fake/b.png', 'zebra/1_fake/a.png', 'apple/0_real/b.png', 'apple/0_real/a/x.png', 'apple/0_real/a b/y.png', 'apple/1_fake/c.png',
      'zebra/0_real/q.png', 'apple/val/0_real/v.png', 'apple/train/0_real/t.png'];
    for (const f of files) {
      await mkdir(join(root, f, '..'), { recursive: true });
      await writeFile(join(root, f), '');
    }
    const set = await findTrainSet(root, 'train');
    expect(set.items.map((it) => it.rel)).toEqual([
      'apple/0_real/b.png', 'apple/0_real/a/x.png', 'apple/0_real/a b/y.png', 'apple/train/0_real/t.png', 'apple/1_fake/c.png',
      'zebra/0_real/q.png', 'zebra/1_fake/a.png', 'zebra/1_fake/b.png',
    ]);
    expect(set.skipped).toEqual(['apple/val']);
    expect(set.subsets).toEqual(['apple', 'zebra']);
    expect(set.real).toBe(5);
    // The same tree read for validation skips the training split instead.
    const val = await findTrainSet(root, 'val');
    expect(val.items.map((it) => it.rel)).toContain('apple/val/0_real/v.png');
    expect(val.items.map((it) => it.rel)).not.toContain('apple/train/0_real/t.png');
  });

  it('refuses a root without a class, in one line', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dnf-trainset-'));
    dirs.push(root);
    await mkdir(join(root, '0_real'), { recursive: true });
    await writeFile(join(root, '0_real', 'a.png'), '');
    await expect(findTrainSet(root, 'val')).rejects.toThrow(/no generated images \(1_fake or ai folders\) in --val; training needs both classes/);
  });
});
