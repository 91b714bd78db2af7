/**
 * The training schedule of the reference's train.py (CNNDetection's trainer), browser-safe:
 *
 * - Early stopping on the validation score (accuracy by default) after every epoch, as
 *   CNNDetection's EarlyStopping with patience P: an epoch whose score does not beat the best by
 *   more than `delta` counts against the patience; after P such epochs in a row, lr /= 10 and a
 *   fresh stopper continues (delta 0.001 for the first stopper, 0.002 after each drop, as
 *   train.py passes them); training ends when the new lr falls below min_lr (1e-6), as
 *   `adjust_learning_rate` returns False. A score that is not worse than best + delta resets the
 *   counter and becomes the best, even if it is lower than an earlier best: the reference's rule.
 * - The order of an epoch's images: a seeded shuffle (Fisher-Yates on our Rng, so the order is the
 *   same in every JavaScript engine and after a resume), or the data set's own order
 *   (`shuffle: false`, which with ImageFolder's order reproduces PyTorch's serial batches).
 * - Random horizontal flips (p = 0.5, RandomHorizontalFlip), one draw per image per epoch.
 *
 * Shuffles and flips are counter-based: each epoch's draws come from a generator seeded by
 * (seed, epoch, stream), so a run resumed at any step draws exactly what it would have drawn
 * without the interruption, with no generator state to carry.
 */
import { Rng } from './random.js';

/** The reference's patience (train.py's earlystop_epoch). */
export const REFERENCE_PATIENCE = 5;
/** The improvement an epoch must exceed: first stopper, then after each lr drop. */
export const REFERENCE_DELTAS = [0.001, 0.002] as const;
/** Training ends when lr drops below this (adjust_learning_rate's min_lr). */
export const REFERENCE_MIN_LR = 1e-6;

export interface StopperState {
  /** The best score of this stopper (null before its first epoch). */
  best: number | null;
  /** Epochs in a row without an improvement of more than `delta`. */
  counter: number;
  delta: number;
}

/** What the schedule says after an epoch. */
export type EpochDecision = 'continue' | 'lr-dropped' | 'stop';

export interface ScheduleState {
  lr: number;
  stopper: StopperState;
  /** Times the lr was divided by 10. */
  drops: number;
}

export class Schedule {
  constructor(
    public state: ScheduleState,
    readonly patience = REFERENCE_PATIENCE,
    readonly minLr = REFERENCE_MIN_LR,
  ) {}

  static start(lr: number, patience = REFERENCE_PATIENCE, minLr = REFERENCE_MIN_LR): Schedule {
    return new Schedule({ lr, stopper: { best: null, counter: 0, delta: REFERENCE_DELTAS[0] }, drops: 0 }, patience, minLr);
  }

  /** Feeds one epoch's validation score; on the patience's end, divides lr by 10 or stops. */
  epochEnd(score: number): EpochDecision {
    const s = this.state.stopper;
    if (s.best === null || score >= s.best + s.delta) {
      s.best = score;
      s.counter = 0;
      return 'continue';
    }
    s.counter++;
    if (s.counter < this.patience) return 'continue';
    const lr = this.state.lr / 10;
    if (lr < this.minLr) return 'stop';
    this.state = { lr, stopper: { best: null, counter: 0, delta: REFERENCE_DELTAS[1] }, drops: this.state.drops + 1 };
    return 'lr-dropped';
  }
}

/** A 32-bit seed for the draws of (seed, epoch, stream): murmur3's finaliser over the three. */
function streamSeed(seed: number, epoch: number, stream: number): number {
  let h = seed >>> 0;
  for (const v of [epoch, stream]) {
    h = Math.imul(h ^ (v >>> 0), 0xcc9e2d51);
    h = (h << 15) | (h >>> 17);
    h = Math.imul(h, 0x1b873593) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const SHUFFLE = 1;
const FLIP = 2;

/** A uniform integer in [0, n) without modulo bias. */
function below(rng: Rng, n: number): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  for (;;) {
    const u = rng.nextU32();
    if (u < limit) return u % n;
  }
}

/** The indices 0..n-1 in epoch `epoch`'s order: seeded Fisher-Yates, or identity without shuffling. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  const rng = new Rng(streamSeed(seed, epoch, SHUFFLE));
  for (let i = n - 1; i > 0; i--) {
    const j = below(rng, i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Per position of the epoch's order, whether that image is flipped (p = 0.5); none when `flip` is off. */
export function epochFlips(n: number, seed: number, epoch: number, flip: boolean): Uint8Array {
  const out = new Uint8Array(n);
  if (!flip) return out;
  const rng = new Rng(streamSeed(seed, epoch, FLIP));
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() >>> 31;
  return out;
}

/** Batches of an epoch: consecutive slices of the order, the last one partial (drop_last=False). */
export function batchesPerEpoch(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}
