/** A training state for the tests of src/node/train/state.ts and its fuzzer. */
import type { TrainState } from '../src/node/train/checkpoint.js';

/** A state as `dnf train` saves it after two epochs and 3 batches of the third. */
export function sampleState(): TrainState {
  const set = { root: '/data/train', images: 100, real: 60, fake: 40, fingerprint: 'abc123' };
  return {
    version: 1,
    config: {
      arch: 'resnet50', imageSize: 256, antialias: true, batchSize: 32, lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, seed: 0, flip: true, shuffle: true,
      select: 'acc', patience: 5, minLr: 1e-6, init: null, train: set, val: { ...set, root: '/data/val', images: 20, real: 10, fake: 10 },
    },
    step: 11, epoch: 2, batch: 3,
    schedule: { lr: 1e-4, stopper: { best: 0.75, counter: 1, delta: 0.001 }, drops: 0 },
    epochLoss: { sum: 1.5, count: 3 },
    history: [1, 2].map((epoch) => ({ epoch, step: 4 * epoch, lr: 1e-4, trainLoss: 0.6, valAcc: 0.75, valAp: null, realAcc: 0.8, fakeAcc: 0.7 })),
    best: { acc: 0.75, ap: null, realAcc: 0.8, fakeAcc: 0.7, images: 20, score: 0.75, epoch: 1, step: 4 },
    bad: ['0_real/broken.png'], logBytes: 1234, finished: null,
  };
}
