/**
 * The state of a training run, and the bytes of its model file `best.safetensors`, for `dnf train`
 * (src/node/train/: the run folder, resume) and the page's Train view alike.
 *
 * best.safetensors holds the state dict (torchvision names) of the best validation score so far,
 * with metadata that `dnf detect` and `dnf eval` read (dnf.arch, dnf.image_size, dnf.antialias) and a
 * summary of the training (dnf.training). Its bytes depend only on the data, the options and the
 * seed: no times, paths or host names, so an interrupted and resumed run, or the same run in a
 * browser, writes the same file.
 */
import { CLASSIFIER_METADATA_KEYS as KEYS } from '../classifier-metadata.js';
import { resnetName, type ResnetConfig } from '../models/resnet-config.js';
import { serializeSafetensors } from '../weights/safetensors.js';
import type { EpochPoint } from './curves.js';
import type { TrainableResNet } from './resnet.js';
import { Schedule, type ScheduleState } from './schedule.js';

/** A training or validation set as a run records it. */
export interface SetDescription {
  root: string;
  images: number;
  real: number;
  fake: number;
  /** sha256 over the labelled relative paths in order (src/train/train-set.ts). */
  fingerprint: string;
}

/** The options a run keeps from its start (a resume must not change them). */
export interface RunConfig {
  arch: string;
  imageSize: number;
  antialias: boolean;
  batchSize: number;
  lr: number;
  betas: [number, number];
  eps: number;
  seed: number;
  flip: boolean;
  shuffle: boolean;
  select: 'acc' | 'ap';
  patience: number;
  minLr: number;
  init: string | null;
  train: SetDescription;
  val: SetDescription;
}

export interface ValScores {
  acc: number | null;
  ap: number | null;
  realAcc: number | null;
  fakeAcc: number | null;
  images: number;
}

export interface BestRecord extends ValScores {
  score: number;
  epoch: number;
  step: number;
}

export interface TrainState {
  version: 1;
  config: RunConfig;
  /** Optimizer steps done. */
  step: number;
  /** Epochs done (the current epoch's index). */
  epoch: number;
  /** Batches of the current epoch done. */
  batch: number;
  schedule: ScheduleState;
  /** Sum and count of the current epoch's step losses. */
  epochLoss: { sum: number; count: number };
  history: EpochPoint[];
  best: BestRecord | null;
  /** Relative paths of the training images that could not be decoded. */
  bad: string[];
  /** log.jsonl's length when this state was saved (a resume truncates it there). */
  logBytes: number;
  /** Why the run ended, once it has. */
  finished: string | null;
}

/** The state of a run that has not taken a step yet. */
export function freshState(config: RunConfig): TrainState {
  return {
    version: 1, config, step: 0, epoch: 0, batch: 0, schedule: Schedule.start(config.lr, config.patience, config.minLr).state,
    epochLoss: { sum: 0, count: 0 }, history: [], best: null, bad: [], logBytes: 0, finished: null,
  };
}

/** 'resnet50' for torchvision's architectures, else the description resnetName gives. */
export function archName(c: ResnetConfig): string {
  const name = resnetName(c);
  return /^ResNet\d+$/.test(name) ? name.toLowerCase() : name;
}

/** Metadata that detect and eval read from a trained classifier. */
export function classifierMetadata(config: RunConfig): Record<string, string> {
  return { format: 'pt', [KEYS.arch]: config.arch, [KEYS.imageSize]: String(config.imageSize), [KEYS.antialias]: String(config.antialias) };
}

/** The metadata of best.safetensors: the classifier's, and the training summary (dnf.training). */
export function bestMetadata(config: RunConfig, best: BestRecord, badImages: number): Record<string, string> {
  const training = {
    arch: config.arch, image_size: config.imageSize, batch_size: config.batchSize, lr: config.lr, betas: config.betas, seed: config.seed,
    flip: config.flip, shuffle: config.shuffle, select: config.select, init: config.init,
    train_images: config.train.images, train_real: config.train.real, train_fake: config.train.fake, bad_images: badImages,
    best_epoch: best.epoch, best_step: best.step, val_acc: best.acc, val_ap: best.ap, val_real_acc: best.realAcc, val_fake_acc: best.fakeAcc, val_images: best.images,
  };
  return { ...classifierMetadata(config), [KEYS.training]: JSON.stringify(training) };
}

/** The bytes of best.safetensors for the model as it is now (what `dnf detect --classifier` takes). */
export async function bestSafetensors(model: TrainableResNet, config: RunConfig, best: BestRecord, badImages: number): Promise<Uint8Array> {
  return serializeSafetensors(await model.stateDict(), bestMetadata(config, best, badImages));
}
