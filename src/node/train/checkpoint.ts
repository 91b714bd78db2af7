/**
 * The files of a training run folder that hold a model:
 *
 * - `last.safetensors`: the model's state dict (torchvision names), Adam's moments as
 *   `optimizer.exp_avg.<param>` and `optimizer.exp_avg_sq.<param>`, and in the metadata
 *   (`dnf.train_state`, JSON) everything else a resumed run needs to continue exactly as if never
 *   stopped: the step, the epoch and the batches of it done, the lr and early-stopping state, the
 *   loss sums, the history of epochs, the best so far, the bad files, and the length of log.jsonl
 *   at that moment. Shuffles and flips are drawn from (seed, epoch), see src/train/schedule.ts,
 *   so no generator state is needed beyond the seed.
 * - `best.safetensors`: the state dict of the best validation score so far, with metadata that
 *   `dnf detect` and `dnf eval` read (dnf.image_size, dnf.antialias) and a summary of the training
 *   (dnf.training). Its bytes depend only on the data, the options and the seed: no times or
 *   host names, so an interrupted and resumed run writes the same file as an uninterrupted one.
 *
 * Both are written atomically (temp file, fsync, rename).
 */
import { CLASSIFIER_METADATA_KEYS as KEYS } from '../../classifier-metadata.js';
import { DnfError } from '../../errors.js';
import { resnetConfigFromKeys, resnetName, type ResnetConfig } from '../../models/resnet-config.js';
import type { Gpu } from '../../gpu/gpu.js';
import { checkState, TrainableResNet, stateSource } from '../../train/resnet.js';
import { resnetParameters } from '../../train/init.js';
import type { ScheduleState } from '../../train/schedule.js';
import type { Trainer } from '../../train/trainer.js';
import type { EpochPoint } from '../../train/curves.js';
import type { TensorToWrite } from '../../weights/safetensors.js';
import { openSafetensors, writeSafetensorsFile } from '../files.js';
import { parseTrainState } from './state.js';

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
  train: { root: string; images: number; real: number; fake: number; fingerprint: string };
  val: { root: string; images: number; real: number; fake: number; fingerprint: string };
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

const STATE_KEY = 'dnf.train_state';
const M = 'optimizer.exp_avg.';
const V = 'optimizer.exp_avg_sq.';

/** 'resnet50' for torchvision's architectures, else the description resnetName gives. */
export function archName(c: ResnetConfig): string {
  const name = resnetName(c);
  return /^ResNet\d+$/.test(name) ? name.toLowerCase() : name;
}

/** Metadata that detect and eval read from a trained classifier. */
function classifierMetadata(config: RunConfig): Record<string, string> {
  return { format: 'pt', [KEYS.arch]: config.arch, [KEYS.imageSize]: String(config.imageSize), [KEYS.antialias]: String(config.antialias) };
}

export async function saveLast(path: string, trainer: Trainer, state: TrainState): Promise<void> {
  const model = trainer.model;
  const tensors: TensorToWrite[] = await model.stateDict();
  const m = await model.arena.readAll('m');
  const v = await model.arena.readAll('v');
  for (const [name, shape] of resnetParameters(model.config)) {
    tensors.push({ name: M + name, dtype: 'F32', shape, data: m.get(name)! });
    tensors.push({ name: V + name, dtype: 'F32', shape, data: v.get(name)! });
  }
  await writeSafetensorsFile(path, tensors, { ...classifierMetadata(state.config), [STATE_KEY]: JSON.stringify(state) });
}

export async function saveBest(path: string, trainer: Trainer, config: RunConfig, best: BestRecord, summary: Record<string, unknown>): Promise<void> {
  const tensors = await trainer.model.stateDict();
  const training = { ...summary, best_epoch: best.epoch, best_step: best.step, val_acc: best.acc, val_ap: best.ap, val_real_acc: best.realAcc, val_fake_acc: best.fakeAcc, val_images: best.images };
  await writeSafetensorsFile(path, tensors, { ...classifierMetadata(config), [KEYS.training]: JSON.stringify(training) });
}

/** The model, optimizer moments and state of `last.safetensors`, on `gpu`. */
export async function loadLast(gpu: Gpu, path: string): Promise<{ model: TrainableResNet; state: TrainState }> {
  const opened = await openSafetensors(path);
  try {
    const { file } = opened;
    const raw = file.metadata?.[STATE_KEY];
    if (!raw) throw new DnfError(`${path}: no training state in it (not a last.safetensors of dnf train); start a new run in another folder`);
    const state = parseTrainState(raw, path);
    const config = resnetConfigFromKeys(file, path);
    const moments = resnetParameters(config).flatMap(([name, shape]) => [[M + name, shape], [V + name, shape]] as Array<[string, number[]]>);
    checkState(config, stateSource(file), moments); // before the model's memory is allocated
    const model = new TrainableResNet(gpu, config);
    try {
      await model.loadState(stateSource(file));
      for (const [name] of resnetParameters(config)) {
        model.arena.set(name, await file.readF32(M + name), 'm');
        model.arena.set(name, await file.readF32(V + name), 'v');
      }
    } catch (e) {
      model.dispose();
      throw e;
    }
    return { model, state };
  } finally {
    await opened.close();
  }
}
